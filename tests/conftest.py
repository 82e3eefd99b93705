"""Shared fixtures: a database (SQLite or a throw-away PostgreSQL, per HUB_TEST_DATABASE),
hub settings, an in-process app and client, a live hub server, the tests' own CPTS (``cpts``,
built by ``tests.support.factories``) and the demo's (``demo``, for the demo's own tests)."""

from __future__ import annotations

import asyncio
import html
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text as sql

from hub import db, migrate
from hub.app import create_app
from hub.config import Environment, Settings
from hub.demo import DemoSeed, seed_demo
from hub.models import identity_models  # noqa: F401  - complete metadata
from tests.support.factories import PASSWORDS, TEST_PASSWORD, Cpts, build_cpts, session_for
from tests.support.janus import ThrowawayJanus
from tests.support.live import LiveHub
from tests.support.postgres import ThrowawayPostgres, free_port
from tests.support.redis import ThrowawayRedis

BACKEND = os.environ.get("HUB_TEST_DATABASE", "sqlite")
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
DB_FIXTURES = {"postgres", "database_url", "settings", "app", "client", "live_hub", "demo", "cpts"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that touches the database, so the PostgreSQL run selects them."""
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "db: the test uses the hub's database")


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres | None]:
    if BACKEND != "postgresql":
        yield None
        return
    cluster = ThrowawayPostgres()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ThrowawayRedis]:
    """One Redis for the session (started on first use); tests flush it with `redis_url`."""
    server = ThrowawayRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: ThrowawayRedis) -> str:
    """An empty Redis for this test: what HUB_REDIS_URL takes."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def janus_server() -> Iterator[ThrowawayJanus]:
    """One Janus (VideoRoom, HTTP) for the session, started on first use; each test takes
    rooms of its own. Skipped only where Debian's janus is not installed."""
    try:
        server = ThrowawayJanus()
    except RuntimeError as missing:
        pytest.skip(str(missing))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def janus_settings(janus_server: ThrowawayJanus) -> Settings:
    """Hub settings that drive the session's Janus (no database)."""
    return Settings(
        environment=Environment.TEST,
        secret_key=TEST_SECRET,
        janus_url=janus_server.url,
        janus_admin_url=janus_server.admin_url,
        janus_admin_secret=janus_server.admin_secret,
    )


@pytest.fixture(scope="session")
def _migrated_url(
    postgres: ThrowawayPostgres | None, tmp_path_factory: pytest.TempPathFactory
) -> str:
    if postgres is not None:
        url = postgres.create_database("cpts_test")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'hub.sqlite3'}"
    migrate.upgrade(url)
    return url


async def _empty_tables(url: str) -> None:
    engine = db.make_engine(url)
    try:
        async with engine.begin() as conn:
            tables = [t.name for t in db.Base.metadata.sorted_tables]
            if engine.dialect.name == "postgresql":
                await conn.execute(sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for name in reversed(tables):
                    await conn.execute(sql(f"DELETE FROM {name}"))
    finally:
        await engine.dispose()


@pytest.fixture
def database_url(_migrated_url: str) -> str:
    """The test database, migrated to head and emptied before each test."""
    asyncio.run(_empty_tables(_migrated_url))
    return _migrated_url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        secret_key=TEST_SECRET,
        port=free_port(),
        agent_heartbeat_seconds=0.2,
        agent_offline_after_seconds=1.0,
        login_max_failures=5,
        jobs_enabled=False,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def cpts(settings: Settings) -> Cpts:
    """The tests' CPTS: four sites and their weekly openings, one account per role, three
    cabins (``tests.support.factories.build_cpts``)."""
    async with session_for(settings) as session:
        return await build_cpts(session)


@pytest.fixture
async def demo(settings: Settings) -> DemoSeed:
    """The demo's CPTS as ``make demo`` seeds it: for the tests of the demo (hub tests use
    ``cpts``, which the demo's changes do not touch)."""
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            return await seed_demo(session=session)
    finally:
        await engine.dispose()


@pytest.fixture
async def live_hub(settings: Settings) -> AsyncIterator[LiveHub]:
    hub = LiveHub(settings)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def login(
    client: httpx.AsyncClient, username: str, password: str | None = None
) -> httpx.Response:
    """Log in through the login form, as a browser would (an account of ``ACCOUNTS`` or one
    made by the ``user`` factory with its default password)."""
    page = await client.get("/connexion")
    return await client.post(
        "/connexion",
        data={
            "username": username,
            "password": password
            if password is not None
            else PASSWORDS.get(username, TEST_PASSWORD),
            "csrf_token": csrf_from(page.text),
        },
    )


ROOT = Path(__file__).resolve().parent.parent


def text(response: httpx.Response) -> str:
    """The page's text with HTML entities decoded (apostrophes, accents)."""
    return html.unescape(response.text)
