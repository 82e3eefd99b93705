"""Real transports for the notify tests: an SMTP server (aiosmtpd), an SMS webhook (uvicorn),
and a database holding only the outbox table."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import db
from hub.notify.models import OutboundMessage
from tests.support.live import serving
from tests.support.postgres import ThrowawayPostgres, free_port
from tests.support.smtp import smtp_server
from tests.support.waiting import eventually

__all__ = ["smtp_server"]

SMS_TOKEN = "test-sms-token"
_database_numbers = itertools.count()


@dataclass
class SmsWebhook:
    """A fake SMS provider: records the requests, answers from a queue (default: an id)."""

    url: str
    received: list[tuple[str | None, object]] = field(default_factory=list)
    answers: list[tuple[int, str]] = field(default_factory=list)


def _sms_app(webhook: SmsWebhook) -> FastAPI:
    app = FastAPI()

    @app.post("/sms")
    async def send(request: Request) -> Response:
        webhook.received.append((request.headers.get("authorization"), await request.json()))
        if request.headers.get("authorization") != f"Bearer {SMS_TOKEN}":
            return Response('{"error": "bad token"}', status_code=401)
        if webhook.answers:
            status, body = webhook.answers.pop(0)
            return Response(body, status_code=status, media_type="application/json")
        return Response(f'{{"id": "sms-{len(webhook.received)}"}}', media_type="application/json")

    return app


@pytest.fixture
async def sms_webhook() -> AsyncIterator[SmsWebhook]:
    """A real HTTP server (uvicorn on a loopback port) in the test's event loop."""
    port = free_port()
    webhook = SmsWebhook(url=f"http://127.0.0.1:{port}/sms")
    config = uvicorn.Config(
        _sms_app(webhook), host="127.0.0.1", port=port, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    await eventually(lambda: serving(server, task), "the SMS webhook to start")
    try:
        yield webhook
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def session(
    postgres: ThrowawayPostgres | None, tmp_path: Path
) -> AsyncIterator[AsyncSession]:
    """A session on a fresh database holding only the outbox table."""
    if postgres is not None:
        url = postgres.create_database(f"outbox_{next(_database_numbers)}_{tmp_path.name}"[:60])
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.sqlite3'}"
    engine = db.make_engine(url)
    table = db.Base.metadata.tables[OutboundMessage.__tablename__]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: db.Base.metadata.create_all(c, tables=[table]))
        async with db.make_session_factory(engine)() as s:
            yield s
    finally:
        await engine.dispose()
