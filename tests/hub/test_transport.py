"""Around every route: no response that may hold health data or a secret is cached, the client
address is read from trusted proxies only, and outside development HSTS and Secure cookies."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from hub import db
from hub.app import create_app
from hub.config import Environment, Settings
from hub.scheduling import links
from hub.scheduling.models import Booking
from hub.transport import client_address
from tests.conftest import TEST_SECRET, csrf_from, login
from tests.support.factories import Cpts
from tests.support.scenario import booking_now

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]
# Server-sent events never end; their own header is checked by the consoles' tests.
ENDLESS = {"/api/v1/evenements"}


def test_the_peer_is_the_client_unless_it_is_a_trusted_proxy() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", []) == "203.0.113.9"
    assert client_address("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"


def test_behind_trusted_proxies_the_rightmost_untrusted_address_is_the_client() -> None:
    # The client may write anything on the left; each trusted proxy appends its peer.
    forged = "192.0.2.66, 198.51.100.1, 10.0.0.2"
    assert client_address("10.0.0.1", forged, PROXIES) == "198.51.100.1"
    assert client_address("::1", "2001:db8::5", PROXIES) == "2001:db8::5"
    assert client_address("10.0.0.1", "", PROXIES) == "10.0.0.1"
    assert client_address("10.0.0.1", "not-an-address", PROXIES) == "not-an-address"


def _get_paths(app: FastAPI) -> list[str]:
    """Every page and API read the hub serves, its path parameters set to 1."""
    served = {
        context.path
        for context in iter_route_contexts(app.routes)
        if context.path is not None
        and context.methods
        and "GET" in context.methods
        and not context.path.startswith("/static")
    }
    paths = ({"/", "/healthz"} | served) - ENDLESS
    return sorted(re.sub(r"\{[^}]+\}", "1", path) for path in paths)


@pytest.mark.parametrize("username", [None, "coordination", "secretariat", "medecin"])
async def test_no_page_but_static_assets_may_be_stored(
    app: FastAPI, cpts: Cpts, username: str | None
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        if username is not None:
            assert (await login(client, username)).status_code == 303
        paths = _get_paths(app)
        assert len(paths) > 30
        for path in paths:
            response = await client.get(path)
            assert response.headers.get("cache-control") == "no-store", (path, response)
        asset = await client.get("/static/css/hub.css")
        assert asset.status_code == 200
        assert "no-store" not in asset.headers.get("cache-control", "")


async def test_health_pages_and_one_time_links_are_not_stored(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        manage = f"/rdv/suivi/{links.booking_token(TEST_SECRET, booking)}"
    await engine.dispose()
    page = await client.get(manage)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert (await login(client, "secretariat")).status_code == 303
    for path in ("/secretariat", f"/secretariat/rdv/{booking_id}"):
        page = await client.get(path)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store", path


async def test_an_agent_token_shown_once_is_not_stored(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    assert (await login(client, "coordination")).status_code == 303
    home = await client.get("/coordination")
    shown = await client.post(
        f"/coordination/cabines/{cpts.cabin_id}/jeton", data={"csrf_token": csrf_from(home.text)}
    )
    assert shown.status_code == 200 and "cab_" in shown.text
    assert shown.headers["cache-control"] == "no-store"


@pytest.fixture
async def production_app(settings: Settings) -> AsyncIterator[FastAPI]:
    production = settings.model_copy(
        update={"environment": Environment.PRODUCTION, "behind_tls": True}
    )
    application = create_app(Settings.model_validate(production.model_dump()))
    async with application.router.lifespan_context(application):
        yield application


async def test_outside_development_cookies_are_secure_and_https_is_enforced(
    production_app: FastAPI, cpts: Cpts
) -> None:
    transport = httpx.ASGITransport(app=production_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://hub.example") as client:
        page = await client.get("/connexion")
        assert "Secure" in page.headers["set-cookie"]  # the anonymous CSRF cookie
        logged_in = await login(client, "secretariat")
        assert logged_in.status_code == 303
        session_cookie = logged_in.headers["set-cookie"]
        assert "cpts_session=" in session_cookie and "Secure" in session_cookie
        for path in ("/connexion", "/secretariat", "/static/css/hub.css", "/healthz", "/absente"):
            response = await client.get(path)
            hsts = response.headers.get("strict-transport-security", "")
            assert hsts.startswith("max-age=") and int(hsts.split("=")[1]) >= 180 * 86400, path
