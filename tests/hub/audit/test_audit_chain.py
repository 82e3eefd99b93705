"""The audit trail is a hash chain: an edited, deleted or reordered event is detected."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys

import httpx
from sqlalchemy import delete, select, update

from hub import db
from hub.audit.models import AuditEvent
from hub.audit.service import seal_pending, verify_chain
from hub.config import Settings
from tests.conftest import ROOT, TEST_SECRET, login
from tests.support.factories import Cpts


def later() -> dt.datetime:
    """A moment past the settling delay of the events just written."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)


async def _seal_and_verify(settings: Settings) -> tuple[int, list[str]]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        await seal_pending(session=session, now=later())
        report = await verify_chain(session=session)
    await engine.dispose()
    return report.sealed, report.problems


async def _tamper(settings: Settings, statement: object) -> None:
    engine = db.make_engine(settings.database_url)
    async with engine.begin() as conn:
        await conn.execute(statement)  # type: ignore[arg-type]
    await engine.dispose()


async def _events(settings: Settings, client: httpx.AsyncClient) -> list[int]:
    for username in ("medecin", "infirmiere", "secretariat"):
        client.cookies.clear()
        await login(client, username)
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        ids = list(await session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
    await engine.dispose()
    return ids


async def test_an_intact_trail_verifies(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    ids = await _events(settings, client)
    sealed, problems = await _seal_and_verify(settings)
    assert sealed == len(ids) >= 3 and problems == []


async def test_an_edited_event_is_detected(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    ids = await _events(settings, client)
    await _seal_and_verify(settings)
    await _tamper(settings, update(AuditEvent).where(AuditEvent.id == ids[1]).values(ip="10.9.9.9"))
    _, problems = await _seal_and_verify(settings)
    assert problems == [
        f"événement {ids[1]} : le sceau ne correspond pas (modifié, ou un événement "
        "antérieur supprimé ou déplacé)"
    ]


async def test_a_deleted_event_is_detected(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    ids = await _events(settings, client)
    await _seal_and_verify(settings)
    await _tamper(settings, delete(AuditEvent).where(AuditEvent.id == ids[1]))
    _, problems = await _seal_and_verify(settings)
    assert len(problems) == 1 and problems[0].startswith(
        f"événement {ids[2]} : le sceau ne correspond"
    )


async def test_reordered_events_are_detected(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    ids = await _events(settings, client)
    await _seal_and_verify(settings)
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        first, second = (
            await session.get(AuditEvent, ids[0]),
            await session.get(AuditEvent, ids[1]),
        )
        assert first is not None and second is not None
        first.actor_id, second.actor_id = second.actor_id, first.actor_id
        first.seal, second.seal = second.seal, first.seal
        await session.commit()
    await engine.dispose()
    _, problems = await _seal_and_verify(settings)
    assert problems and problems[0].startswith(f"événement {ids[0]} : le sceau ne correspond")


def _verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "verify-audit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


async def test_the_cli_says_whether_the_trail_is_intact(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    ids = await _events(settings, client)
    await _seal_and_verify(settings)
    env = {
        "HUB_DATABASE_URL": settings.database_url,
        "HUB_SECRET_KEY": TEST_SECRET,
        "HUB_ENVIRONMENT": "test",
        "PATH": "/usr/bin:/bin",
    }
    ok = await asyncio.to_thread(_verify, env)
    assert ok.returncode == 0 and "Journal d'audit intact" in ok.stdout
    await _tamper(settings, update(AuditEvent).where(AuditEvent.id == ids[0]).values(detail="x"))
    bad = await asyncio.to_thread(_verify, env)
    assert bad.returncode == 1 and f"ALTÉRÉ : événement {ids[0]} : le sceau" in bad.stdout
