#!/usr/bin/env python
"""Booking benchmark: the slot search against the size of the history, the public booking
page's query, simultaneous bookings of one seat, and bookings per second.

On a fresh database (a SQLite file; with ``--postgres`` also a throw-away PostgreSQL cluster,
skipped with a message when the server binaries are absent), creates a CPTS of 50 rooms with
the same opening rules and derives their slots with the project's own generator
(``hub.scheduling.calendar.derive_slots``), inserted in bulk: a week ahead of "now" and, behind
it, history, 70 % of past slots booked (a tenth of those cancelled) and most of the first
morning taken (on PostgreSQL, tables analysed after each insert, as autovacuum would). Then:

- the secretary's "earliest free slots across all sites" (``free_slots``, 8 slots, 50 sites)
  at 10^4, 10^5 and 10^6 slots, p50/p95, against a primary-key select of one slot (baseline),
  and the ratio largest/smallest;
- the public page ``/rdv`` once a year ahead is open, p50/p95: its slot queries, and the whole
  page as the hub serves it (the application in process, through its routing, queries and
  template; no network);
- 200 bookings of one seat at once, each in its own session: exactly one must succeed, the
  others get the French refusal;
- sequential bookings (``book_slot``, one session each) and, alternated with them, bookings
  through the booking service every path uses (``book``: the booking with its confirmation
  and reminders, one commit), against a raw INSERT of a booking row and commit on the same
  database (ratio of rates).

    .venv/bin/python bench/booking.py [--postgres] [--sizes 10000,100000,1000000] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub import collector, db, migrate  # noqa: E402
from hub.app import create_app  # noqa: E402
from hub.config import Settings  # noqa: E402
from hub.context import HubContext  # noqa: E402
from hub.errors import Conflict  # noqa: E402
from hub.identity.models import Organisation, Site, SiteKind  # noqa: E402
from hub.records.patients import Patient, Sex  # noqa: E402
from hub.records.vigilance import Actor  # noqa: E402
from hub.rendering import make_templates  # noqa: E402
from hub.scheduling import booking as bk  # noqa: E402
from hub.scheduling import calendar as cal  # noqa: E402
from hub.scheduling.book import book  # noqa: E402
from hub.scheduling.models import BookingStatus, Channel, OpeningRule, Slot, SlotState  # noqa: E402
from hub.scheduling.slots import day_of_slots, free_slots  # noqa: E402

SLOTS = db.Base.metadata.tables["slots"]
BOOKINGS = db.Base.metadata.tables["bookings"]
SITES = 50
PATIENTS = 50
TZ = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2027, 1, 4, 7, 0, tzinfo=dt.UTC)  # a Monday, 8:00 in Paris
AHEAD_DAYS = 7
YEAR_DAYS = 365
CHUNK = 2000
CONCURRENT = 200
SEQUENTIAL = 200
# Weekdays 8:00–12:00 and 14:00–18:00, Saturday morning; 20-minute slots, one seat.
RULES = [
    *((day, "08:00", "12:00") for day in range(6)),
    *((day, "14:00", "18:00") for day in range(5)),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def summary(label: str, values: list[float]) -> str:
    return (
        f"{label:<50} p50 {ms(percentile(values, 0.5)):>10}, p95 {ms(percentile(values, 0.95)):>10}"
    )


class World:
    """The CPTS's ids and the days already holding slots."""

    def __init__(self, org_id: int, site_ids: list[int], patient_ids: list[int]) -> None:
        self.org_id, self.site_ids, self.patient_ids = org_id, site_ids, patient_ids
        self.first_day = NOW.date()
        self.last_day = NOW.date() - dt.timedelta(days=1)
        self.slots = 0
        self.bookings = 0
        self.next_booking = 1


async def setup(sessions: async_sessionmaker[AsyncSession]) -> World:
    async with sessions() as s:
        org = Organisation(name="CPTS du banc d'essai", slug="cpts-banc")
        s.add(org)
        await s.flush()
        sites = [
            Site(
                organisation_id=org.id,
                name=f"Cabinet {i:02d}",
                kind=SiteKind.TELECONSULTATION_ROOM,
                city="Ville",
            )
            for i in range(SITES)
        ]
        s.add_all(sites)
        await s.flush()
        for site in sites:
            for day, start, end in RULES:
                s.add(
                    OpeningRule(
                        site_id=site.id,
                        weekday=day,
                        start_time=dt.time.fromisoformat(start),
                        end_time=dt.time.fromisoformat(end),
                        slot_minutes=20,
                        seats=1,
                    )
                )
        patients = [
            Patient(
                organisation_id=org.id,
                birth_name=f"PATIENT{i}",
                birth_name_key=f"PATIENT{i}",
                first_names="Anne",
                birth_date=dt.date(1960, 1, 1) + dt.timedelta(days=97 * i),
                sex=Sex.FEMALE,
                phone="06 12 34 56 78",
            )
            for i in range(PATIENTS)
        ]
        s.add_all(patients)
        await s.commit()
        return World(org.id, [site.id for site in sites], [p.id for p in patients])


def day_specs(day: dt.date) -> list[cal.SlotSpec]:
    rules = [
        cal.OpeningRule(
            weekday=d,
            start=dt.time.fromisoformat(a),
            end=dt.time.fromisoformat(b),
            slot_minutes=20,
            seats=1,
        )
        for d, a, b in RULES
    ]
    return list(cal.derive_slots(rules, first_day=day, last_day=day, tz=TZ))


def booking_row(
    world: World, slot_id: int, site_id: int, starts: dt.datetime, k: int
) -> dict[str, Any]:
    n = world.next_booking
    world.next_booking += 1
    cancelled = k % 10 == 0
    return {
        "reference": f"H-{n:09d}",
        "slot_id": slot_id,
        "seat": None if cancelled else 1,
        "site_id": site_id,
        "patient_id": world.patient_ids[k % len(world.patient_ids)],
        "starts_at": starts,
        "channel": Channel.PHONE,
        "status": BookingStatus.CANCELLED if cancelled else BookingStatus.BOOKED,
        "reason": "Toux",
        "care_requested_at": starts - dt.timedelta(days=1),
        "link_nonce": secrets.token_hex(8),
        "created_at": starts - dt.timedelta(days=1),
    }


async def add_days(engine: AsyncEngine, world: World, days: list[dt.date]) -> None:
    """Insert the slots of these days for every site; past slots and the first morning get
    their bookings (history)."""
    rows = []
    for day in days:
        for spec in day_specs(day):
            for site_id in world.site_ids:
                rows.append(
                    {
                        "site_id": site_id,
                        "starts_at": spec.start,
                        "ends_at": spec.end,
                        "seats": spec.seats,
                        "reserved_for": None,
                        "rule_id": None,
                        "state": SlotState.OPEN,
                    }
                )
    async with engine.begin() as conn:
        for i in range(0, len(rows), CHUNK):
            await conn.execute(SLOTS.insert(), rows[i : i + CHUNK])
        world.slots += len(rows)
        low = dt.datetime.combine(min(days), dt.time(0), TZ)
        high = dt.datetime.combine(max(days) + dt.timedelta(days=1), dt.time(0), TZ)
        first_morning_end = NOW + dt.timedelta(hours=4)
        found = await conn.execute(
            select(SLOTS.c.id, SLOTS.c.site_id, SLOTS.c.starts_at).where(
                SLOTS.c.starts_at >= low, SLOTS.c.starts_at < high
            )
        )
        booked = []
        for k, (slot_id, site_id, starts) in enumerate(found.all()):
            past = starts < NOW
            if (past and k % 10 < 7) or (not past and starts < first_morning_end and k % 5):
                booked.append(booking_row(world, slot_id, site_id, starts, k))
        for i in range(0, len(booked), CHUNK):
            await conn.execute(BOOKINGS.insert(), booked[i : i + CHUNK])
        world.bookings += len(booked)
    if engine.dialect.name == "postgresql":  # as autovacuum does after bulk changes
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE slots, bookings"))


async def grow_history(engine: AsyncEngine, world: World, size: int) -> None:
    if world.last_day < NOW.date():
        ahead = [NOW.date() + dt.timedelta(days=d) for d in range(AHEAD_DAYS)]
        await add_days(engine, world, ahead)
        world.last_day = ahead[-1]
    per_week = sum(len(day_specs(NOW.date() + dt.timedelta(days=d))) for d in range(7)) * SITES
    while world.slots < size:
        missing = size - world.slots
        weeks = max(1, -(-missing // per_week))
        days = [world.first_day - dt.timedelta(days=d) for d in range(1, 7 * weeks + 1)]
        for i in range(0, len(days), 28):
            await add_days(engine, world, days[i : i + 28])
        world.first_day = days[-1]


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def earliest_search(
    sessions: async_sessionmaker[AsyncSession], world: World, runs: int
) -> tuple[list[float], list[float], dt.datetime]:
    search: list[float] = []
    baseline: list[float] = []
    first = NOW
    async with sessions() as s:
        some_slot = int(await s.scalar(select(func.min(Slot.id))) or 0)
        for _ in range(runs):
            baseline.append(
                await timed(lambda: s.scalar(select(Slot.id).where(Slot.id == some_slot)))
            )
            started = time.perf_counter()
            found = await free_slots(session=s, site_ids=world.site_ids, after=NOW, limit=8)
            search.append(time.perf_counter() - started)
            first = found[0].slot.starts_at
            s.expunge_all()
    return search, baseline, first


async def public_page_slots(session: AsyncSession, site_ids: list[int], now: dt.datetime) -> int:
    """What the public page ``/rdv/{cpts}`` asks the database for its slots: each room's next
    free slot and the free slots of the day shown (today)."""
    start = dt.datetime.combine(now.astimezone(TZ).date(), dt.time(0), TZ).astimezone(dt.UTC)
    found = await day_of_slots(
        session=session,
        site_ids=site_ids,
        after=now,
        day_start=start,
        day_end=start + dt.timedelta(days=1),
    )
    return len(found.next_by_site) + sum(len(day) for day in found.day_by_site.values())


async def public_page(
    sessions: async_sessionmaker[AsyncSession], world: World, runs: int
) -> list[float]:
    out = []
    async with sessions() as s:
        for _ in range(runs):
            out.append(await timed(lambda: public_page_slots(s, world.site_ids, NOW)))
            s.expunge_all()
    return out


async def public_page_served(url: str, runs: int) -> list[float]:
    """The whole public page ``/rdv/cpts-banc`` as the hub serves it, at ``NOW``."""
    app = create_app(Settings(database_url=url, jobs_enabled=False), clock=lambda: NOW)
    out = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client,
    ):
        for _ in range(runs + 1):  # the first loads the templates
            started = time.perf_counter()
            response = await client.get("/rdv/cpts-banc")
            out.append(time.perf_counter() - started)
            if response.status_code != 200 or "créneau" not in response.text.lower():
                raise SystemExit(f"/rdv/cpts-banc answered {response.status_code}")
    return out[1:]


def request(world: World, slot_id: int, k: int) -> bk.BookingRequest:
    return bk.BookingRequest(
        slot_id=slot_id,
        patient_id=world.patient_ids[k % len(world.patient_ids)],
        channel=Channel.PHONE,
        reason="Mal de gorge",
        care_requested_at=NOW,
    )


async def free_slot_ids(sessions: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    """Free one-seat slots late in the year ahead, far from the searched ones."""
    async with sessions() as s:
        rows = await s.scalars(
            select(Slot.id)
            .where(Slot.starts_at >= NOW + dt.timedelta(days=200))
            .order_by(Slot.id)
            .limit(count)
        )
        return list(rows)


async def concurrent_bookings(
    sessions: async_sessionmaker[AsyncSession], world: World, slot_id: int
) -> tuple[float, Counter[str]]:
    outcomes: Counter[str] = Counter()

    async def attempt(k: int) -> None:
        async with sessions() as own:
            try:
                await bk.book_slot(session=own, request=request(world, slot_id, k), now=NOW)
            except Conflict as exc:
                outcomes[f"refused: « {exc.message} »"] += 1
            except Exception as exc:  # anything else is a failure to report
                outcomes[f"ERROR {type(exc).__name__}: {exc}"[:160]] += 1
            else:
                outcomes["booked"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(attempt(k) for k in range(CONCURRENT)))
    return time.perf_counter() - started, outcomes


async def sequential_bookings(
    sessions: async_sessionmaker[AsyncSession], world: World, slot_ids: list[int], ctx: HubContext
) -> tuple[list[float], list[float], list[float]]:
    """Alternate a booking through ``book_slot``, one through the booking service ``book``
    (the patient's record, the booking, its confirmation and reminders, one commit) and a raw
    INSERT + commit of a booking row."""
    booked: list[float] = []
    served: list[float] = []
    raw: list[float] = []
    third = len(slot_ids) // 3
    async with sessions() as s:
        rows = (
            await s.execute(
                select(Slot.id, Slot.site_id, Slot.starts_at).where(
                    Slot.id.in_(slot_ids[2 * third :])
                )
            )
        ).all()
    for k, (slot_id, service_slot_id, (raw_id, raw_site, raw_start)) in enumerate(
        zip(slot_ids[:third], slot_ids[third : 2 * third], rows, strict=False)
    ):
        async with sessions() as own:
            started = time.perf_counter()
            await bk.book_slot(session=own, request=request(world, slot_id, k), now=NOW)
            booked.append(time.perf_counter() - started)
        async with sessions() as own:
            started = time.perf_counter()
            await book(
                session=own,
                ctx=ctx,
                organisation_id=world.org_id,
                slot_id=service_slot_id,
                patient=world.patient_ids[k % len(world.patient_ids)],
                channel=Channel.PHONE,
                reason="Mal de gorge",
                now=NOW,
                actor=Actor("user"),
            )
            served.append(time.perf_counter() - started)
        async with sessions() as own:
            row = booking_row(world, raw_id, raw_site, raw_start, 1)
            started = time.perf_counter()
            await own.execute(BOOKINGS.insert(), [row])
            await own.commit()
            raw.append(time.perf_counter() - started)
    return booked, served, raw


async def run(label: str, url: str, sizes: list[int], runs: int) -> int:
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)
    failed = False
    try:
        world = await setup(sessions)
        print(f"--- {label}: {SITES} rooms, 20-minute slots, now = {NOW:%Y-%m-%d %H:%M} UTC")
        p95s = []
        for size in sizes:
            started = time.perf_counter()
            await grow_history(engine, world, size)
            seeded = time.perf_counter() - started
            search, baseline, first = await earliest_search(sessions, world, runs)
            p95s.append(percentile(search, 0.95))
            print(
                f"{world.slots} slots ({world.bookings} bookings, from {world.first_day}), "
                f"seeded in {seeded:.1f} s; earliest free: {first:%Y-%m-%d %H:%M} UTC"
            )
            print(summary("  earliest 8 free slots, 50 sites (free_slots)", search))
            print(summary("  baseline: primary-key select of one slot", baseline))
            ratio = percentile(search, 0.5) / percentile(baseline, 0.5)
            print(f"  ratio search/baseline: p50 ×{ratio:.1f}")
        print(f"earliest search p95, largest/smallest: ×{p95s[-1] / p95s[0]:.2f}")

        started = time.perf_counter()
        future = [
            world.last_day + dt.timedelta(days=d) for d in range(1, YEAR_DAYS - AHEAD_DAYS + 1)
        ]
        for i in range(0, len(future), 28):
            await add_days(engine, world, future[i : i + 28])
        world.last_day = future[-1]
        seeded = time.perf_counter() - started
        page = await public_page(sessions, world, runs)
        print(f"a year ahead open: {world.slots} slots, seeded in {seeded:.1f} s")
        print(summary("  public page /rdv: its slot queries", page))
        print(
            summary(
                "  public page /rdv: the whole page served", await public_page_served(url, runs)
            )
        )

        slot_ids = await free_slot_ids(sessions, 1 + 3 * SEQUENTIAL)
        took, outcomes = await concurrent_bookings(sessions, world, slot_ids[0])
        print(f"{CONCURRENT} simultaneous bookings of one seat: {took * 1000:.0f} ms")
        for outcome, count in outcomes.most_common():
            print(f"  {count:>4} × {outcome}")
        failed = (
            outcomes["booked"] != 1
            or sum(outcomes.values()) != CONCURRENT
            or any(k.startswith("ERROR") for k in outcomes)
        )

        ctx = HubContext(
            settings=Settings(database_url=url),
            engine=engine,
            sessions=sessions,
            templates=make_templates(),
            clock=lambda: NOW,
        )
        # The hub serves with its collector tuned (`python -m hub serve`, hub/collector.py):
        # the bookings and their baseline are timed under the same settings.
        collector.tune_for_serving()
        booked, served, raw = await sequential_bookings(sessions, world, slot_ids[1:], ctx)
        print(summary(f"sequential bookings (book_slot), n={len(booked)}", booked))
        print(summary(f"sequential bookings with messages (book), n={len(served)}", served))
        print(summary("baseline: raw INSERT of a booking + commit", raw))
        print("  (timed with the serving hub's collector settings, hub/collector.py)")
        raw_rate = 1 / percentile(raw, 0.5)
        for label, timings in (("bookings", booked), ("bookings with messages", served)):
            rate = 1 / percentile(timings, 0.5)
            print(
                f"{label}/s {rate:.0f} vs raw inserts/s {raw_rate:.0f}: "
                f"ratio ×{rate / raw_rate:.2f}"
            )
    finally:
        await engine.dispose()
    if failed:
        print("FAILED: the seat was not taken exactly once")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    status = 0
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="bench-booking-") as work:
            url = f"sqlite+aiosqlite:///{Path(work) / 'hub.sqlite3'}"
            migrate.upgrade(url)
            status |= asyncio.run(run("SQLite", url, sizes, args.runs))
    if args.postgres:
        from tests.support.postgres import ThrowawayPostgres

        try:
            cluster = ThrowawayPostgres()
        except RuntimeError as exc:
            print(f"--- PostgreSQL skipped: {exc}")
            return status
        cluster.start()
        try:
            url = cluster.create_database("bench_booking")
            migrate.upgrade(url)
            status |= asyncio.run(run("PostgreSQL", url, sizes, args.runs))
        finally:
            cluster.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
