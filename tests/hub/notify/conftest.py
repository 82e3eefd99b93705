"""Real transports for the notify tests: an SMTP server (aiosmtpd), an SMS webhook (uvicorn),
and a database holding only the outbox table."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import db
from hub.notify.mailer import SmtpSettings
from hub.notify.models import OutboundMessage
from tests.support.postgres import ThrowawayPostgres, free_port

SMS_TOKEN = "test-sms-token"
_database_numbers = itertools.count()


@dataclass
class Delivered:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpCollector:
    """An aiosmtpd handler that keeps what it accepts, or answers ``reply`` to DATA."""

    reply: str = "250 Message accepted for delivery"
    delivered: list[Delivered] = field(default_factory=list)
    refused: int = 0

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        if not self.reply.startswith("250"):
            self.refused += 1
            return self.reply
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.delivered.append(Delivered(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return self.reply


@dataclass
class SmtpServerFixture:
    collector: SmtpCollector
    settings: SmtpSettings
    logins: list[tuple[str, str]]


def _start_smtp(collector: SmtpCollector, logins: list[tuple[str, str]]) -> tuple[Controller, int]:
    def authenticate(
        server: SmtpServer, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = (data.login.decode(), data.password.decode())
        logins.append(login)
        return AuthResult(success=login == ("cpts", "s3cret"), handled=False)

    port = free_port()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    return controller, port


@pytest.fixture
def smtp_server() -> Iterator[SmtpServerFixture]:
    """A real SMTP server on a loopback port; plain text, login optional."""
    collector = SmtpCollector()
    logins: list[tuple[str, str]] = []
    controller, port = _start_smtp(collector, logins)
    settings = SmtpSettings(
        host="127.0.0.1",
        port=port,
        username=None,
        password=None,
        starttls=False,
        sender="CPTS du Pays de Rennes <noreply@cpts.example>",
        timeout=5.0,
    )
    try:
        yield SmtpServerFixture(collector, settings, logins)
    finally:
        controller.stop()


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
    for _ in range(400):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("SMS webhook did not start")
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
