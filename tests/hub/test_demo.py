"""The demo a newcomer runs: today's agenda has patients waiting, past consultations have signed
reports, the trolley has every kind of device, and the banner lists every entry point."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from cabin_agent.config import load_config
from devices.catalogue import DeviceKind
from hub import db
from hub.config import Settings
from hub.consultation.models import Consultation, State
from hub.context import HubContext
from hub.demo import CLOS_MORTIER, DEMO_ACCOUNTS, DemoSeed
from hub.demo_agenda import WAITING, seed_demo_agenda
from hub.demo_history import PAST_CASES, seed_demo_history
from hub.demo_runner import _write_agent_config, banner_lines
from hub.identity.models import Site
from hub.records.documents import DocumentStatus, SharedDocument
from hub.records.observations import last_seq
from hub.relay.models import Referral
from hub.scheduling.models import Booking
from tests.conftest import login, text

SUNDAY_MORNING = dt.datetime(2030, 6, 2, 8, 5, tzinfo=dt.UTC)  # the room is closed on Sundays


async def _seed_agenda(settings: Settings, now: dt.datetime) -> int:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            room = await session.scalar(select(Site).where(Site.name == CLOS_MORTIER))
            assert room is not None
            return await seed_demo_agenda(session=session, site=room, now=now)
    finally:
        await engine.dispose()


async def test_the_nurse_finds_patients_waiting_today(
    client: httpx.AsyncClient, demo: DemoSeed, settings: Settings
) -> None:
    assert await _seed_agenda(settings, db.utcnow()) == len(WAITING)
    await login(client, "infirmiere")
    page = text(await client.get("/infirmier"))
    agenda = page.split(CLOS_MORTIER, 1)[1]
    for waiting in WAITING:
        assert f"{waiting.draft.birth_name.upper()} {waiting.draft.first_names}" in agenda
    assert agenda.count("Accueillir") >= len(WAITING)
    assert agenda.count(">confirmé<") == sum(w.confirmed for w in WAITING)


async def test_a_closed_day_gets_demonstration_slots_and_a_second_run_books_nothing(
    demo: DemoSeed, settings: Settings
) -> None:
    assert await _seed_agenda(settings, SUNDAY_MORNING) == len(WAITING)
    assert await _seed_agenda(settings, SUNDAY_MORNING + dt.timedelta(hours=1)) == 0
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            starts = list(
                await session.scalars(
                    select(Booking.starts_at).where(Booking.starts_at > SUNDAY_MORNING)
                )
            )
            confirmed = await session.scalar(
                select(func.count()).where(Booking.confirmed_at.is_not(None))
            )
    finally:
        await engine.dispose()
    assert sorted(s.astimezone(dt.UTC).strftime("%H:%M") for s in starts) == [
        "08:20",
        "08:40",
        "09:00",
    ]
    assert confirmed == 2


async def test_late_in_the_evening_the_waiting_patients_are_still_today(
    demo: DemoSeed, settings: Settings
) -> None:
    """At 23:50 in Paris the demo's agenda is today's: a slot past midnight would put a
    patient on tomorrow's agenda, where the nurse does not look."""
    late = dt.datetime(2030, 6, 2, 21, 50, tzinfo=dt.UTC)  # a Sunday, 23:50 in Paris
    assert await _seed_agenda(settings, late) == len(WAITING)
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            starts = list(
                await session.scalars(
                    select(Booking.starts_at).where(
                        Booking.starts_at > late - dt.timedelta(hours=12)
                    )
                )
            )
    finally:
        await engine.dispose()
    paris = ZoneInfo("Europe/Paris")
    assert len(starts) == len(WAITING)
    assert {s.astimezone(paris).date() for s in starts} == {dt.date(2030, 6, 2)}


async def _seed_history(settings: Settings, ctx: HubContext) -> list[int]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        ids = await seed_demo_history(session=session, ctx=ctx)
        again = await seed_demo_history(session=session, ctx=ctx)
    await engine.dispose()
    assert again == ids  # idempotent: seeding twice creates nothing more
    return ids


async def test_the_demo_has_past_consultations_with_signed_reports(
    app: FastAPI, settings: Settings, demo: DemoSeed
) -> None:
    ids = await _seed_history(settings, app.state.hub)
    assert len(ids) == len(PAST_CASES)
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        states = list(
            await session.scalars(select(Consultation.state).where(Consultation.id.in_(ids)))
        )
        documents = list(await session.scalars(select(SharedDocument).order_by(SharedDocument.id)))
        referrals = list(await session.scalars(select(Referral.consultation_id)))
        # The demo cabin's agent still numbers its measurements from 1 (it connects).
        agent_seq = await last_seq(session=session, cabin_id=demo.cabin_id)
    await engine.dispose()
    assert agent_seq == 0
    assert states == [State.CLOSED] * len(ids)
    # The patient who opposed has nothing in the shared record; the amended report is a chain.
    by_consultation = [d.title for d in documents]
    assert len(by_consultation) == 3  # case 1, case 3 v1 and v2
    assert [d.status for d in documents][-2:] == [
        DocumentStatus.DEPRECATED,
        DocumentStatus.APPROVED,
    ]
    assert referrals == [ids[1]]  # the patient without médecin traitant was referred


def test_the_demo_trolley_has_every_kind_of_device(tmp_path: Path) -> None:
    path = tmp_path / "cabin.toml"
    _write_agent_config(
        path, hub_url="http://127.0.0.1:8000", cabin_id=1, token="cab_x", data_dir=tmp_path
    )
    config = load_config(path)
    assert {d.kind for d in config.devices} == {k.value for k in DeviceKind}


def test_the_banner_lists_every_entry_point() -> None:
    settings = Settings(database_url="sqlite+aiosqlite:////srv/demo/hub.sqlite3", port=8010)
    seed = DemoSeed(
        cabin_id=1, cabin_token="cab_x", patient_url="http://127.0.0.1:8010/mon-dossier/abc"
    )
    banner = "\n".join(banner_lines(settings, seed))
    for account in DEMO_ACCOUNTS:
        assert f"{account.username} / {account.password}" in banner
    for path in (
        "/coordination",
        "/secretariat",
        "/infirmier",
        "/medecin",
        "/etablissement",
        "/rdv",
        "/api/docs",
        "/fhir/Slot",
        "/mon-dossier/abc",
    ):
        assert f"http://127.0.0.1:8010{path}" in banner
    assert "HUB_DATABASE_URL=sqlite+aiosqlite:////srv/demo/hub.sqlite3 \\" in banner
    assert "-m hub create-api-client --organisation cpts-demo" in banner
