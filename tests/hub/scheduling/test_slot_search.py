"""Finding free slots: only future open slots with a seat left, soonest first across sites,
each room's next one, a day's list; read through indexes, whatever the history."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import db
from hub.config import Settings
from hub.scheduling import booking as bk
from hub.scheduling.changes import cancel_booking
from hub.scheduling.models import Reservation, Slot, SlotState
from hub.scheduling.slots import day_of_slots, free_slots
from tests.hub.scheduling.test_booking import NOW, _patient, _request, _setup, _slot


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.make_engine(settings.database_url)
    yield db.make_session_factory(engine)
    await engine.dispose()


async def test_the_earliest_free_slots_skip_taken_past_withdrawn_and_reserved_ones(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        org, site, other = await _setup(s)
        past = await _slot(s, site, -1)
        taken = await _slot(s, site, 1)
        withdrawn = await _slot(s, other, 1.5)
        reserved = await _slot(s, site, 2, reserved=Reservation.SAS)
        at_other = await _slot(s, other, 2.5)
        freed = await _slot(s, site, 3)
        shared = await _slot(s, other, 4, seats=2)
        (await s.get(Slot, withdrawn)).state = SlotState.WITHDRAWN  # type: ignore[union-attr]
        await s.commit()
        a, b = await _patient(s, org, "Durand"), await _patient(s, org, "Martin")
        await bk.book_slot(session=s, request=_request(taken, a), now=NOW)
        gone = await bk.book_slot(session=s, request=_request(freed, a), now=NOW)
        await cancel_booking(session=s, booking=gone, reason="test", now=NOW)
        await s.commit()
        await bk.book_slot(session=s, request=_request(shared, b), now=NOW)

        found = await free_slots(session=s, site_ids=[site, other], after=NOW)
        assert [(f.slot.id, f.free_seats) for f in found] == [
            (at_other, 1),
            (freed, 1),
            (shared, 1),
        ]
        assert past not in [f.slot.id for f in found]
        assert [f.slot.id for f in await free_slots(session=s, site_ids=[site], after=NOW)] == [
            freed
        ]
        sas = await free_slots(
            session=s, site_ids=[site], after=NOW, reservations=frozenset({Reservation.SAS})
        )
        assert [f.slot.id for f in sas] == [reserved]
        assert len(await free_slots(session=s, site_ids=[site, other], after=NOW, limit=2)) == 2


async def test_a_day_of_slots_gives_each_rooms_next_free_slot_and_that_days_list(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        org, site, other = await _setup(s)
        soon = await _slot(s, site, 2)
        taken = await _slot(s, other, 3)
        later_other = await _slot(s, other, 50)
        day_site = [await _slot(s, site, h) for h in (48, 49, 49.5)]
        a = await _patient(s, org, "Durand")
        await bk.book_slot(session=s, request=_request(taken, a), now=NOW)
        day_start = NOW + dt.timedelta(hours=40)
        found = await day_of_slots(
            session=s,
            site_ids=[site, other],
            after=NOW,
            day_start=day_start,
            day_end=day_start + dt.timedelta(hours=24),
            per_site=2,
        )
        assert {i: f.id for i, f in found.next_by_site.items()} == {
            site: soon,
            other: later_other,
        }
        assert {i: [f.id for f in fs] for i, fs in found.day_by_site.items()} == {
            site: day_site[:2],  # at most per_site
            other: [later_other],
        }


async def test_the_search_reads_neither_history_nor_a_sort_of_the_future(
    settings: Settings,
) -> None:
    """SQLite's plan walks the slots' (state, start, site) index in order and probes each
    candidate's seats in the bookings' unique index: no scan of the bookings, no sort."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the plan checked here is SQLite's")
    engine = db.make_engine(settings.database_url)
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM slots" in statement:
            statements.append((statement, params))

    try:
        async with db.make_session_factory(engine)() as s:
            _, site, other = await _setup(s)
            event.listen(engine.sync_engine, "before_cursor_execute", capture)
            await free_slots(session=s, site_ids=[site, other], after=NOW, limit=8)
            event.remove(engine.sync_engine, "before_cursor_execute", capture)
            statement, params = statements[0]
            raw = await (await s.connection()).get_raw_connection()
            cursor = await raw.driver_connection.execute(  # type: ignore[union-attr]
                "EXPLAIN QUERY PLAN " + statement, params
            )
            plan = " | ".join(str(row[3]) for row in await cursor.fetchall())
    finally:
        await engine.dispose()
    assert "USING INDEX ix_slots_state_starts_at_site_id (state=? AND starts_at>?)" in plan, plan
    assert "SCAN bookings" not in plan and "TEMP B-TREE" not in plan, plan
