"""The hub's start: what a restarted hub loads before it listens again (its cabins wait)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text

from hub import db
from hub.__main__ import main as hub_main
from hub.config import Settings
from tests.conftest import ROOT, TEST_SECRET
from tests.support.processes import process_env
from tests.support.waiting import eventually_blocking


def test_the_hub_starts_without_loading_what_only_some_requests_need() -> None:
    """reportlab (a signed report), zeep (an INSi query) and Alembic (a migration) load when
    first needed: importing them at start delayed every cabin's reconnection after a restart."""
    probe = (
        "import sys, hub.app; "
        "print(','.join(m for m in ('reportlab', 'zeep', 'alembic', 'pikepdf') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert loaded == ""


async def _hold_the_cabins_table(url: str, held: threading.Event, release: threading.Event) -> None:
    """Keep the cabins' table locked against writers until ``release``: the starting hub's
    lifespan (which marks every cabin disconnected) waits meanwhile."""
    engine = db.make_engine(url)
    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(text("LOCK TABLE cabins IN SHARE MODE"))
            else:  # SQLite: the database's one write lock, taken by a write
                await conn.execute(text("UPDATE cabins SET name = name"))
            held.set()
            await asyncio.to_thread(release.wait, 60)
            await conn.rollback()
    finally:
        await engine.dispose()


def test_a_starting_hub_takes_the_connections_at_once_and_answers_them_once_started(
    settings: Settings,
) -> None:
    """A restarting hub's port takes connections before its application is loaded and started:
    the cabins reconnecting meanwhile wait to be answered instead of being refused, each until
    its next try."""
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(
        target=asyncio.run, args=(_hold_the_cabins_table(settings.database_url, held, release),)
    )
    holder.start()
    hub = None
    try:
        assert held.wait(30)
        env = process_env(
            HUB_DATABASE_URL=settings.database_url,
            HUB_SECRET_KEY=TEST_SECRET,
            HUB_PORT=str(settings.port),
            HUB_JOBS_ENABLED="false",
        )
        hub = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

        connections: list[socket.socket] = []

        def taken() -> bool:
            assert hub is not None and hub.poll() is None, "the hub stopped before listening"
            try:
                connections.append(socket.create_connection(("127.0.0.1", settings.port), 1))
            except ConnectionRefusedError:
                return False
            return True

        eventually_blocking(taken, "the starting hub to take connections", timeout=30)
        (early,) = connections
        with early:
            early.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
            release.set()  # the hub's start may now finish
            early.settimeout(60)
            answer = early.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200 ")
    finally:
        release.set()
        holder.join(60)
        if hub is not None:
            hub.terminate()
            hub.communicate(timeout=30)


def test_serve_says_in_french_when_its_port_is_taken(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as other:
        port = other.getsockname()[1]
        monkeypatch.setenv("HUB_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("HUB_SECRET_KEY", TEST_SECRET)
        monkeypatch.setenv("HUB_HOST", "127.0.0.1")
        monkeypatch.setenv("HUB_PORT", str(port))
        with pytest.raises(SystemExit) as stopped:
            hub_main(["serve"])
    assert str(stopped.value.code) == (
        f"Impossible de lancer le hub : écoute impossible sur 127.0.0.1:{port} (HUB_HOST, "
        "HUB_PORT) : un autre programme l'utilise déjà (un hub déjà lancé ?)."
    )
