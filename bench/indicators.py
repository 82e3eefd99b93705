#!/usr/bin/env python
"""Indicators benchmark: the coordinator's dashboard cost against the size of the data.

Migrates a fresh SQLite file, seeds the demo CPTS (four sites), then inserts a year of activity
in bulk (SQLAlchemy core): bookings spread over the sites and the year, some cancelled, some
no-shows, the others done with signed reports (a few amended), referrals to relay doctors,
the reports' MSSanté relays and a booking confirmation per booking in the outbox. The
database's triggers keep the indicators' facts (``hub.reporting.facts``) as the rows go in;
the bench checks they agree with a recomputation from the tables before timing. Times
``compute_indicators`` for the whole CPTS and for one site, and the CSV export of the whole
CPTS's indicators (p50 over a few runs). The baseline, measured in the same runs, is a single
``SELECT count(*)`` of the consultations joined to their bookings over the period.

Each size given to ``--consultations`` runs on a database of its own (SQLite by default; a
throw-away PostgreSQL cluster with ``--postgresql``), and the last lines sum up the ratios:

    .venv/bin/python bench/indicators.py [--consultations 5000 50000] [--runs 5] [--postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub import db, migrate  # noqa: E402
from hub.consultation.models import Consultation, State  # noqa: E402
from hub.demo import CLOS_MORTIER, DEMO_ORG_SLUG, seed_demo  # noqa: E402
from hub.identity.models import Organisation, Site  # noqa: E402
from hub.notify.models import Channel as MessageChannel  # noqa: E402
from hub.notify.models import MessageStatus  # noqa: E402
from hub.records.patients import IdentityStatus, Sex  # noqa: E402
from hub.relay.models import RelayDoctor  # noqa: E402
from hub.reporting import facts  # noqa: E402
from hub.reporting.exports import indicators_csv  # noqa: E402
from hub.reporting.indicators import Period, compute_indicators  # noqa: E402
from hub.reports.models import Orientation, ReportStatus  # noqa: E402
from hub.scheduling.models import Booking, BookingStatus, Channel  # noqa: E402

PATIENTS = db.Base.metadata.tables["patients"]
SLOTS = db.Base.metadata.tables["slots"]
BOOKINGS = db.Base.metadata.tables["bookings"]
CONSULTATIONS = db.Base.metadata.tables["consultations"]
REPORTS = db.Base.metadata.tables["reports"]
REFERRALS = db.Base.metadata.tables["referrals"]
OUTBOX = db.Base.metadata.tables["outbound_messages"]
TABLES = (PATIENTS, SLOTS, BOOKINGS, CONSULTATIONS, REPORTS, REFERRALS, OUTBOX)
CHUNK = 2000  # rows per executemany
SITE_WEIGHTS = (0.4, 0.3, 0.15, 0.15)  # by site id order: the two rooms, facility, mobile kit
ORIENTATIONS = (
    (Orientation.MEDECIN_TRAITANT, 0.6),
    (Orientation.PHYSICAL, 0.15),
    (Orientation.RELAY, 0.15),
    (Orientation.EMERGENCY, 0.1),
)
RELAY_STATUSES = (
    (MessageStatus.SENT, 0.9),
    (MessageStatus.PENDING, 0.05),
    (MessageStatus.FAILED, 0.04),
    (MessageStatus.CANCELLED, 0.01),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pick(rng: random.Random, weighted: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


class Rows:
    """Rows to insert, table by table, with the next primary key of each table."""

    def __init__(self, next_ids: dict[str, int]) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.next_ids = next_ids

    def add(self, table: Table, **values: Any) -> int:
        row_id = self.next_ids[table.name]
        self.next_ids[table.name] = row_id + 1
        self.tables.setdefault(table.name, []).append({"id": row_id, **values})
        return row_id

    def count(self, table: Table) -> int:
        return len(self.tables.get(table.name, []))


async def next_ids(engine: AsyncEngine, tables: Sequence[Table]) -> dict[str, int]:
    out = {}
    async with engine.connect() as conn:
        for table in tables:
            out[table.name] = int(await conn.scalar(select(func.max(table.c.id))) or 0) + 1
    return out


def spread(period: Period, count: int) -> list[dt.datetime]:
    """``count`` distinct daytime moments (06:00–18:00 UTC) evenly over the period's days."""
    days = (period.end - period.start).days + 1
    span = days * 86_400
    out = []
    for k in range(count):
        offset = k * span // count
        day, second = divmod(offset, 86_400)
        out.append(
            dt.datetime.combine(period.start + dt.timedelta(days=day), dt.time(6), dt.UTC)
            + dt.timedelta(seconds=second / 2)
        )
    return out


def build_rows(
    *,
    rng: random.Random,
    ids: dict[str, int],
    consultations: int,
    period: Period,
    organisation_id: int,
    site_ids: list[int],
    relay_doctor_id: int,
) -> Rows:
    """A year of activity: bookings, consultations done, reports, referrals, outbox."""
    rows = Rows(ids)
    patients = []
    for i in range(max(1, consultations * 2 // 3)):
        has_mt = pick(rng, ((True, 0.7), (False, 0.2), (None, 0.1)))
        patients.append(
            (
                rows.add(
                    PATIENTS,
                    organisation_id=organisation_id,
                    birth_name=f"BANC{i:06d}",
                    birth_name_key=f"BANC{i:06d}",
                    first_names="Camille",
                    birth_date=dt.date(1940 + i % 70, 1 + i % 12, 1 + i % 28),
                    sex=Sex.FEMALE if i % 2 else Sex.MALE,
                    identity_status=IdentityStatus.VALIDATED,
                    has_medecin_traitant=has_mt,
                ),
                has_mt,
            )
        )
    cancelled = consultations * 9 // 100
    no_shows = consultations * 8 // 100
    outcomes = ["done"] * consultations + ["cancelled"] * cancelled + ["no_show"] * no_shows
    rng.shuffle(outcomes)
    sites = rng.choices(site_ids, weights=SITE_WEIGHTS[: len(site_ids)], k=len(outcomes))
    moments = {s: iter(spread(period, sites.count(s))) for s in site_ids}
    for outcome, site_id in zip(outcomes, sites, strict=True):
        starts_at = next(moments[site_id])
        patient_id, has_mt = rng.choice(patients)
        slot_id = rows.add(
            SLOTS,
            site_id=site_id,
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(minutes=20),
            seats=1,
        )
        requested = starts_at - dt.timedelta(hours=rng.expovariate(1 / 30))
        booking_id = rows.add(
            BOOKINGS,
            reference=f"B{slot_id:011d}",
            slot_id=slot_id,
            seat=None if outcome == "cancelled" else 1,
            site_id=site_id,
            patient_id=patient_id,
            starts_at=starts_at,
            channel=pick(rng, ((Channel.PHONE, 0.5), (Channel.ONLINE, 0.4), (Channel.SAS, 0.1))),
            status={
                "done": BookingStatus.BOOKED,
                "cancelled": BookingStatus.CANCELLED,
                "no_show": BookingStatus.NO_SHOW,
            }[outcome],
            care_requested_at=requested,
            link_nonce=f"n{slot_id:012d}",
            created_at=requested,
        )
        message(rows, "booking_confirmation", "booking", booking_id, MessageStatus.SENT, requested)
        if outcome == "done":
            add_done(rows, rng, booking_id, site_id, patient_id, has_mt, starts_at, relay_doctor_id)
    return rows


def message(
    rows: Rows, purpose: str, kind: str, related_id: int, status: MessageStatus, at: dt.datetime
) -> None:
    rows.add(
        OUTBOX,
        channel=MessageChannel.EMAIL,
        recipient="someone@example.invalid",
        subject="",
        body_text="",
        purpose=purpose,
        related_kind=kind,
        related_id=related_id,
        status=status,
        next_attempt_at=at,
        sent_at=at if status is MessageStatus.SENT else None,
        created_at=at,
    )


def add_done(
    rows: Rows,
    rng: random.Random,
    booking_id: int,
    site_id: int,
    patient_id: int,
    has_mt: bool | None,
    starts_at: dt.datetime,
    relay_doctor_id: int,
) -> None:
    """A consultation done, its signed report(s), referral and relays."""
    started = None if rng.random() < 0.02 else starts_at + dt.timedelta(minutes=rng.randint(0, 15))
    consultation_id = rows.add(
        CONSULTATIONS,
        booking_id=booking_id,
        site_id=site_id,
        patient_id=patient_id,
        state=State.CLOSED if rng.random() < 0.92 else State.REPORTING,
        started_at=started,
        created_at=starts_at,
    )
    if rng.random() < 0.04:
        return  # no signed report yet
    orientation = pick(rng, ORIENTATIONS)
    if orientation is Orientation.MEDECIN_TRAITANT and has_mt is False:
        orientation = Orientation.RELAY
    psychiatric = rng.random() < 0.08
    set_oid = f"2.25.{rows.next_ids['reports']}"
    signed = starts_at + dt.timedelta(minutes=30)
    if orientation is Orientation.RELAY:
        rows.add(
            REFERRALS,
            consultation_id=consultation_id,
            relay_doctor_id=relay_doctor_id,
            created_at=signed,
        )
    for version in (1, 2) if rng.random() < 0.04 else (1,):
        report_id = rows.add(
            REPORTS,
            consultation_id=consultation_id,
            version=version,
            document_oid=f"2.25.{rows.next_ids['reports']}.{version}",
            set_oid=set_oid,
            status=ReportStatus.SIGNED,
            orientation=orientation,
            psychiatric=psychiatric,
            signed_at=signed,
            created_at=signed,
            updated_at=signed,
        )
        if orientation is Orientation.MEDECIN_TRAITANT and has_mt:
            message(rows, "report_relay", "report", report_id, pick(rng, RELAY_STATUSES), signed)
        if orientation is Orientation.RELAY:
            message(rows, "referral_report", "report", report_id, pick(rng, RELAY_STATUSES), signed)


async def seed(engine: AsyncEngine, consultations: int, period: Period) -> tuple[int, int, Rows]:
    """The demo CPTS and a year of activity; returns the organisation, a site and the rows."""
    async with db.make_session_factory(engine)() as session:
        await seed_demo(session=session)
        org_id = int(
            (
                await session.scalars(
                    select(Organisation.id).where(Organisation.slug == DEMO_ORG_SLUG)
                )
            ).one()
        )
        site_ids = list(
            await session.scalars(
                select(Site.id).where(Site.organisation_id == org_id).order_by(Site.id)
            )
        )
        site_id = int(
            (await session.scalars(select(Site.id).where(Site.name == CLOS_MORTIER))).one()
        )
        relay_doctor_id = int(
            (await session.scalars(select(RelayDoctor.id).order_by(RelayDoctor.id))).first() or 0
        )
    rows = build_rows(
        rng=random.Random(7),
        ids=await next_ids(engine, TABLES),
        consultations=consultations,
        period=period,
        organisation_id=org_id,
        site_ids=site_ids,
        relay_doctor_id=relay_doctor_id,
    )
    async with engine.begin() as conn:
        for table in TABLES:
            batch = rows.tables.get(table.name, [])
            for i in range(0, len(batch), CHUNK):
                await conn.execute(table.insert(), batch[i : i + CHUNK])
    return org_id, site_id, rows


async def facts_differences(engine: AsyncEngine) -> int:
    """How many facts the triggers left different from a recomputation from the tables."""
    async with engine.connect() as conn:
        return int(await conn.run_sync(facts.differences))


async def baseline_count(session: AsyncSession, period: Period) -> int:
    low, high = period.utc_bounds()
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Consultation)
            .join(Booking, Booking.id == Consultation.booking_id)
            .where(Booking.starts_at >= low, Booking.starts_at < high)
        )
        or 0
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def run(url: str, consultations: int, runs: int) -> tuple[int, dict[str, float]]:
    """Seed, time and print one size; returns the exit status and the ratios."""
    engine = db.make_engine(url)
    backend = "PostgreSQL" if engine.dialect.name == "postgresql" else "SQLite"
    end = dt.date.today() - dt.timedelta(days=1)
    period = Period(end - dt.timedelta(days=364), end)
    started = time.perf_counter()
    org_id, site_id, rows = await seed(engine, consultations, period)
    seeding = time.perf_counter() - started
    differing = await facts_differences(engine)
    now = dt.datetime.now(dt.UTC)
    timings: dict[str, list[float]] = {"baseline": [], "cpts": [], "site": [], "csv": []}
    sessions = db.make_session_factory(engine)
    try:
        for _ in range(runs):
            async with sessions() as session:
                t0 = time.perf_counter()
                counted = await baseline_count(session, period)
                t1 = time.perf_counter()
                whole = await compute_indicators(
                    session=session, organisation_id=org_id, period=period, now=now
                )
                t2 = time.perf_counter()
                one = await compute_indicators(
                    session=session, organisation_id=org_id, period=period, now=now, site_id=site_id
                )
                t3 = time.perf_counter()
                csv_text = indicators_csv(whole)
                t4 = time.perf_counter()
            for key, seconds in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                timings[key].append(seconds)
    finally:
        await engine.dispose()

    seeded = {t.name: rows.count(t) for t in TABLES}
    statuses = Counter(r["status"] for r in rows.tables["bookings"])
    print(
        f"indicators: {period.start} → {period.end}, {len(whole.sites)} sites, {backend}, "
        f"seeded in {seeding:.1f} s"
    )
    print(
        f"rows seeded: {seeded['bookings']} bookings ({statuses[BookingStatus.CANCELLED]} "
        f"cancelled, {statuses[BookingStatus.NO_SHOW]} no-shows), "
        f"{seeded['consultations']} consultations, {seeded['reports']} reports, "
        f"{seeded['referrals']} referrals, {seeded['outbound_messages']} outbox messages, "
        f"{seeded['patients']} patients, {seeded['slots']} slots"
    )
    base = percentile(timings["baseline"], 0.5)
    ratios = {key: percentile(timings[key], 0.5) / base for key in ("cpts", "site", "csv")}
    for key, label in (
        ("cpts", "compute_indicators, whole CPTS"),
        ("site", f"compute_indicators, one site ({one.cpts.scope})"),
        ("csv", "indicators_csv (whole CPTS)"),
        ("baseline", "baseline: SELECT count(*) join"),
    ):
        p50 = percentile(timings[key], 0.5)
        ratio = "" if key == "baseline" else f"  ×{p50 / base:.1f} baseline"
        print(f"{label:<58} p50 {ms(p50):>9}{ratio}")
    print(
        f"whole CPTS: {whole.cpts.consultations_done} consultations done, "
        f"{whole.cpts.patients_seen} patients, {whole.cpts.bookings_due} bookings due, "
        f"{whole.cpts.relays} relays; CSV {len(csv_text.splitlines())} lines, "
        f"{len(csv_text.encode())} bytes; count(*) = {counted} (n={runs} runs)"
    )
    matches = whole.cpts.consultations_done == seeded["consultations"] == counted
    print("indicators count every seeded consultation" if matches else "MISMATCH in counts")
    print(
        "facts kept by the triggers agree with the tables"
        if differing == 0
        else f"MISMATCH: {differing} facts differ from the tables"
    )
    matches = matches and differing == 0
    return (0 if matches else 1), ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--consultations", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--postgresql", action="store_true", help="a throw-away PostgreSQL cluster, not SQLite"
    )
    args = parser.parse_args()
    cluster = None
    if args.postgresql:
        from tests.support.postgres import ThrowawayPostgres

        cluster = ThrowawayPostgres()
        cluster.start()
    status, summary = 0, []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-indicators-") as work:
            for size in args.consultations:
                if cluster is not None:
                    url = cluster.create_database(f"bench_{size}")
                else:
                    url = f"sqlite+aiosqlite:///{Path(work) / f'hub-{size}.sqlite3'}"
                migrate.upgrade(url)
                code, ratios = asyncio.run(run(url, size, args.runs))
                status = max(status, code)
                summary.append((size, ratios))
                print()
    finally:
        if cluster is not None:
            cluster.stop()
    for size, ratios in summary:
        print(
            f"{size:>7} consultations: whole CPTS ×{ratios['cpts']:.1f}, one site "
            f"×{ratios['site']:.1f}, CSV ×{ratios['csv']:.1f} count(*)"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
