"""A fake SAS platform (a real HTTP server) and a booking made from a slot's link in the SAS
search, for the tests of the reports the hub sends to the platform."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from hub.config import Settings
from hub.context import HubContext
from hub.scheduling.models import Booking
from tests.conftest import csrf_from, text
from tests.hub.interop.conftest import SasAccess
from tests.hub.interop.support import next_weekday, resources, rows, search, search_url
from tests.hub.interop.test_sas_practitioners import IDNPS, ROUX, with_doctors
from tests.support.live import serving
from tests.support.postgres import free_port
from tests.support.waiting import eventually

PLATFORM_TOKEN = "jeton-plateforme-sas"
REGULATOR = "3456780581/11242343"  # a regulator's national identifier, as in the guide


@dataclass
class SasPlatform:
    """A fake SAS platform: records every request, answers from a queue (default: 201)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)


def _platform_app(platform: SasPlatform) -> FastAPI:
    app = FastAPI()

    @app.api_route("/fhir/Appointment", methods=["POST", "PUT"])
    async def appointment(request: Request) -> Response:
        platform.received.append(
            {
                "method": request.method,
                "query": dict(request.query_params),
                "authorization": request.headers.get("authorization"),
                "content_type": request.headers.get("content-type"),
                "body": json.loads(await request.body()),
            }
        )
        status = platform.answers.pop(0) if platform.answers else 201
        if status >= 400:
            return Response('{"resourceType": "OperationOutcome"}', status_code=status)
        return Response("{}", status_code=status, headers={"Location": "/fhir/Appointment/sas-1"})

    return app


@pytest.fixture
async def platform() -> AsyncIterator[SasPlatform]:
    """A real HTTP server (uvicorn on a loopback port) in the test's event loop."""
    port = free_port()
    fake = SasPlatform(url=f"http://127.0.0.1:{port}/fhir")
    config = uvicorn.Config(
        _platform_app(fake), host="127.0.0.1", port=port, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    await eventually(lambda: serving(server, task), "the SAS platform to start")
    try:
        yield fake
    finally:
        server.should_exit = True
        await task


def hub_context(app: FastAPI) -> HubContext:
    ctx: HubContext = app.state.hub
    return ctx


async def book_from_sas_link(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> tuple[Booking, str]:
    """Follow a free slot's link from the SAS search (the platform appends the regulator) and
    book it; return the booking and its follow-up page."""
    friday = next_weekday(4)
    url = with_doctors(search_url(friday, friday), f"{IDNPS}|8{ROUX}")
    bundle = await search(client, sas.headers, url)
    link = next(s["comment"] for s in resources(bundle, "Slot") if "comment" in s)
    assert link.startswith(f"{settings.base_url}/rdv/cpts-tests/sas/creneau/")
    path = link.removeprefix(settings.base_url) + f"&regulateur={REGULATOR}"
    form = await client.get(path)
    assert form.status_code == 200, text(form)
    response = await client.post(
        urlsplit(path).path + "?" + urlsplit(path).query,
        data={
            "birth_name": "Lefèvre",
            "first_names": "Marie",
            "birth_date": "1985-04-12",
            "sex": "F",
            "phone": "06 12 34 56 78",
            "has_mt": "non",
            "reason": "Fièvre depuis deux jours",
            "consent": "oui",
            "csrf_token": csrf_from(form.text),
        },
    )
    assert response.status_code == 303, text(response)
    [booking] = await rows(settings, Booking)
    return booking, response.headers["location"]
