"""Logging in and out, throttling, CSRF, sessions."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from hub import db, migrate
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.config import Settings
from tests.conftest import csrf_from, login, text
from tests.support.factories import PASSWORDS, Cpts


async def test_nurse_logs_in_and_lands_on_her_page(client: httpx.AsyncClient, cpts: Cpts) -> None:
    response = await login(client, "infirmiere")
    assert response.status_code == 303
    assert response.headers["location"] == "/infirmier"
    cookie = response.headers["set-cookie"]
    assert "cpts_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = await client.get("/infirmier")
    assert page.status_code == 200
    assert "Julie Petit" in text(page)
    assert "Cabinet du Clos Mortier" in text(page)
    assert "Chariot du Clos Mortier" in text(page)
    assert "Cabinet de La Noue" not in text(page)  # not her site


async def test_wrong_password_is_refused_with_the_same_message_as_an_unknown_user(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    wrong = await login(client, "infirmiere", "not-the-password-1")
    unknown = await login(client, "personne", "not-the-password-1")
    assert wrong.status_code == unknown.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in text(wrong)
    assert "Identifiant ou mot de passe incorrect." in text(unknown)
    assert "cpts_session" not in wrong.headers.get("set-cookie", "")
    assert (await client.get("/infirmier")).status_code == 303


async def test_empty_form_says_what_is_missing(client: httpx.AsyncClient, cpts: Cpts) -> None:
    response = await login(client, "infirmiere", "")
    assert response.status_code == 422
    assert "Saisissez votre identifiant et votre mot de passe." in text(response)


@asynccontextmanager
async def _browser(
    app: FastAPI, address: str, forwarded_for: str = ""
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own connecting from ``address`` (through a proxy if forwarded_for)."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as browser:
        yield browser


class Clock:
    """The hub's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = db.utcnow()

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def clocked_app(settings: Settings, clock: Clock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


async def test_login_is_throttled_after_repeated_failures_and_says_when_to_retry(
    clocked_app: FastAPI, cpts: Cpts, settings: Settings, clock: Clock
) -> None:
    async with _browser(clocked_app, "198.51.100.7") as browser:
        for _ in range(settings.login_max_failures):
            assert (await login(browser, "medecin", "wrong-password-42")).status_code == 401
        refused = await login(browser, "medecin")  # even the right password, for now
        assert refused.status_code == 429
        assert "Trop de tentatives de connexion" in text(refused)
        assert f"réessayez dans {settings.login_window_minutes} minutes" in text(refused)
        clock.now += dt.timedelta(minutes=settings.login_window_minutes - 1)
        assert "réessayez dans 1 minute " in text(await login(browser, "medecin"))
        clock.now += dt.timedelta(minutes=1, seconds=1)
        assert (await login(browser, "medecin")).status_code == 303


async def test_failures_from_one_address_do_not_lock_the_account_out_elsewhere(
    clocked_app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    async with _browser(clocked_app, "198.51.100.7") as attacker:
        for _ in range(settings.login_max_failures * 3):
            await login(attacker, "medecin", "wrong-password-42")
        assert (await login(attacker, "medecin")).status_code == 429
    async with _browser(clocked_app, "203.0.113.20") as doctor:
        assert (await login(doctor, "medecin")).status_code == 303


async def test_one_address_guessing_many_accounts_is_locked_out(
    clocked_app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    async with _browser(clocked_app, "198.51.100.7") as guesser:
        for i in range(settings.login_address_max_failures):
            await login(guesser, f"inconnu{i}", "wrong-password-42")
        refused = await login(guesser, "secretariat")
        assert refused.status_code == 429 and "réessayez dans" in text(refused)
    async with _browser(clocked_app, "203.0.113.20") as secretary:
        assert (await login(secretary, "secretariat")).status_code == 303


async def test_behind_a_trusted_proxy_each_user_has_their_own_address(
    settings: Settings, cpts: Cpts
) -> None:
    proxied = Settings.model_validate(settings.model_dump() | {"trusted_proxies": "10.0.0.1"})
    application = create_app(proxied)
    async with application.router.lifespan_context(application):
        async with _browser(application, "10.0.0.1", "198.51.100.7") as attacker:
            for _ in range(settings.login_max_failures):
                await login(attacker, "medecin", "wrong-password-42")
            assert (await login(attacker, "medecin")).status_code == 429
        async with _browser(application, "10.0.0.1", "192.0.2.1, 203.0.113.20") as doctor:
            assert (await login(doctor, "medecin")).status_code == 303
        # A client talking to the hub directly cannot choose its address.
        async with _browser(application, "198.51.100.7", "203.0.113.99") as forger:
            assert (await login(forger, "medecin")).status_code == 429
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "login")))
    await engine.dispose()
    assert {e.ip for e in events} == {"198.51.100.7", "203.0.113.20"}


async def test_login_without_csrf_token_is_refused(client: httpx.AsyncClient, cpts: Cpts) -> None:
    await client.get("/connexion")
    response = await client.post(
        "/connexion", data={"username": "infirmiere", "password": PASSWORDS["infirmiere"]}
    )
    assert response.status_code == 403
    assert "Rechargez la page" in text(response)


async def test_csrf_token_of_another_browser_is_refused(
    app: object, client: httpx.AsyncClient, cpts: Cpts
) -> None:
    other_page = await client.get("/connexion")
    token = csrf_from(other_page.text)
    client.cookies.clear()
    response = await client.post(
        "/connexion",
        data={"username": "infirmiere", "password": PASSWORDS["infirmiere"], "csrf_token": token},
    )
    assert response.status_code == 403


async def test_logout_ends_the_session_for_good(client: httpx.AsyncClient, cpts: Cpts) -> None:
    await login(client, "medecin")
    home = await client.get("/medecin")
    stolen_cookie = client.cookies.get("cpts_session")
    response = await client.post("/deconnexion", data={"csrf_token": csrf_from(home.text)})
    assert response.status_code == 303
    assert (await client.get("/medecin")).status_code == 303
    client.cookies.set("cpts_session", stolen_cookie or "")
    assert (await client.get("/medecin")).headers["location"].startswith("/connexion")


async def test_logins_are_traced(client: httpx.AsyncClient, cpts: Cpts, settings: Settings) -> None:
    await login(client, "medecin", "wrong-password-42")
    await login(client, "medecin")
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "login")))
    await engine.dispose()
    assert [e.outcome for e in events] == ["refused", "success"]


async def test_next_parameter_only_follows_local_paths(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    page = await client.get("/connexion?suivant=//evil.example/")
    response = await client.post(
        "/connexion",
        data={
            "username": "medecin",
            "password": PASSWORDS["medecin"],
            "suivant": "//evil.example/",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.headers["location"] == "/medecin"


async def test_protected_page_redirects_to_login_then_back(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    response = await client.get("/secretariat")
    assert response.status_code == 303
    assert response.headers["location"] == "/connexion?suivant=/secretariat"
    page = await client.get(response.headers["location"])
    done = await client.post(
        "/connexion",
        data={
            "username": "secretariat",
            "password": PASSWORDS["secretariat"],
            "suivant": "/secretariat",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert done.headers["location"] == "/secretariat"


async def test_healthz_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_failures_on_one_worker_lock_the_account_on_another_sharing_redis(
    settings: Settings, cpts: Cpts, redis_url: str, tmp_path: Path
) -> None:
    """Two hub workers, each with a database of its own here, so only Redis is shared."""
    other_db = f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite3'}"
    await asyncio.to_thread(migrate.upgrade, other_db)
    first = create_app(settings.model_copy(update={"redis_url": redis_url}))
    second = create_app(
        settings.model_copy(update={"redis_url": redis_url, "database_url": other_db})
    )
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        async with _browser(first, "198.51.100.7") as browser:
            for _ in range(settings.login_max_failures):
                assert (await login(browser, "medecin", "wrong-password-42")).status_code == 401
        async with _browser(second, "198.51.100.7") as browser:
            refused = await login(browser, "medecin")
            assert refused.status_code == 429
            assert "Trop de tentatives de connexion" in text(refused)
        async with _browser(second, "203.0.113.20") as elsewhere:  # another address: not locked
            assert "Trop de tentatives" not in text(await login(elsewhere, "medecin"))
