"""Every indicator, for every scope and several periods, against a second, independent
computation written here from the definitions (the module docstring of
``hub.reporting.indicators``) over a seeded random year kept in memory as it is written.

The data set is built to hit the edges: moments near local midnight and on the days clocks
change, a site in another time zone, delays of exactly 24 h and 48 h and a microsecond more,
starts recorded on the next day, before the request, or not at all, consultations in every
state, reports signed, amended, left as drafts, relays of every purpose and status (and
messages about other things), patients seen at several sites, bookings still to come, and the
bookings of another CPTS."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import statistics
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub import db
from hub.config import Settings
from hub.consultation.models import Consultation, State
from hub.identity.models import Organisation, Site, SiteKind
from hub.notify.models import MessageStatus
from hub.reporting import exports
from hub.reporting.indicators import (
    IndicatorReport,
    Indicators,
    MonthRate,
    Period,
    compute_indicators,
)
from hub.reports.models import Orientation, ReportStatus
from hub.scheduling.models import BookingStatus
from tests.hub.reporting.dataset import Seeder
from tests.support.factories import MOBILE_KIT, Cpts

NEIGHBOUR = "Cabinet de la CPTS voisine"  # another CPTS's site: never counted
REUNION = "Indian/Reunion"  # the mobile kit is moved there: a site in another time zone
PURPOSES = ("report_relay", "referral_report", "referral", "booking_confirmation")
HOURS = (0, 0, 0, 9, 14, 23, 23)  # local hours: near midnight often
DST_DAYS = (dt.date(2025, 3, 30), dt.date(2025, 10, 26))
DELAYS = (
    dt.timedelta(hours=1),
    dt.timedelta(hours=24),
    dt.timedelta(hours=24, microseconds=1),
    dt.timedelta(hours=48),
    dt.timedelta(hours=48, microseconds=1),
    dt.timedelta(hours=47, minutes=59, seconds=59, microseconds=999_999),
)


@dataclass
class Seen:
    """A consultation as written, with what hangs on it."""

    state: State
    started_at: dt.datetime | None
    reports: list[tuple[int, ReportStatus, Orientation, bool]] = field(default_factory=list)
    messages: list[tuple[str, MessageStatus]] = field(default_factory=list)  # about its reports
    referrals: int = 0


@dataclass
class Written:
    """A booking as written."""

    site: str
    patient: int
    starts_at: dt.datetime
    requested_at: dt.datetime
    status: BookingStatus
    consultation: Seen | None


@dataclass
class World:
    organisation: str
    sites: dict[str, tuple[int, str, SiteKind]]  # name → id, time zone, kind
    has_mt: dict[int, bool | None]
    bookings: list[Written]


def _moment(rng: random.Random, timezone: str) -> dt.datetime:
    day = (
        rng.choice(DST_DAYS)
        if rng.random() < 0.1
        else dt.date(2024, 12, 20) + dt.timedelta(days=rng.randrange(390))
    )
    local = dt.datetime.combine(day, dt.time(rng.choice(HOURS), rng.randrange(60)))
    # In UTC: arithmetic on a Paris-aware datetime would be wall-clock time across DST.
    return local.replace(tzinfo=ZoneInfo(timezone)).astimezone(dt.UTC)


async def _seed(session: AsyncSession, rng: random.Random) -> World:
    s = await Seeder.on_demo(session)
    sites = {site.name: site for site in await session.scalars(select(Site))}
    sites[MOBILE_KIT].timezone = REUNION
    elsewhere = Organisation(name="CPTS voisine", slug="voisine")
    session.add(elsewhere)
    await session.flush()
    neighbour = Site(organisation_id=elsewhere.id, name=NEIGHBOUR, kind=SiteKind.MOBILE_KIT)
    session.add(neighbour)
    await session.flush()
    s.sites[NEIGHBOUR] = neighbour.id
    has_mt = {}
    for _ in range(25):
        value = rng.choice((True, False, None))
        has_mt[await s.patient(value)] = value
    timezones = {name: site.timezone for name, site in sites.items()} | {NEIGHBOUR: "Europe/Paris"}
    bookings = []
    for _ in range(230):
        site = rng.choice(sorted(s.sites))
        patient = rng.choice(sorted(has_mt))
        starts_at = _moment(rng, timezones[site])
        delay = rng.choice(DELAYS) if rng.random() < 0.5 else dt.timedelta(hours=rng.uniform(0, 80))
        status = rng.choices(list(BookingStatus), weights=(8, 1, 1))[0]
        booking = await s.booking(site, starts_at, patient, status=status, requested_hours_before=0)
        booking.care_requested_at = starts_at - delay
        seen = None
        if status is BookingStatus.BOOKED and rng.random() < 0.85:
            seen = await _consultation(
                s, rng, booking.id, booking.site_id, patient, starts_at, delay
            )
        bookings.append(Written(site, patient, starts_at, starts_at - delay, status, seen))
    await session.flush()
    organisation = await session.get(Organisation, s.organisation_id)
    assert organisation is not None
    ours = {name: (site.id, site.timezone, site.kind) for name, site in sites.items()}
    world = World(organisation.name, ours, has_mt, bookings)
    await session.commit()
    return world


async def _consultation(
    s: Seeder,
    rng: random.Random,
    booking_id: int,
    site_id: int,
    patient: int,
    starts_at: dt.datetime,
    delay: dt.timedelta,
) -> Seen:
    started: dt.datetime | None = rng.choice(
        (
            starts_at,
            starts_at,
            starts_at + dt.timedelta(minutes=rng.randrange(30)),
            starts_at + dt.timedelta(hours=rng.choice((2, 20))),  # the next local day, at times
            starts_at - delay - dt.timedelta(hours=1),  # before the request: a slip
            None,
        )
    )
    state = rng.choices(list(State), weights=(1, 1, 1, 1, 2, 6, 14, 1, 1, 1, 1))[0]
    c = Consultation(
        booking_id=booking_id, site_id=site_id, patient_id=patient, state=state, started_at=started
    )
    s.session.add(c)
    await s.session.flush()
    seen = Seen(state, started)
    pattern = rng.choice(("", "d", "s", "ss", "sd", "ssd", "ds"))
    for version, letter in enumerate(pattern, start=1):
        status = ReportStatus.SIGNED if letter == "s" else ReportStatus.DRAFT
        orientation = rng.choice(list(Orientation))
        psychiatric = rng.random() < 0.3
        report_id = await s.report(
            c.id, orientation=orientation, psychiatric=psychiatric, version=version, status=status
        )
        seen.reports.append((version, status, orientation, psychiatric))
        for _ in range(rng.choice((0, 1, 1, 2))):
            purpose = rng.choice(PURPOSES)
            status_m = rng.choice(list(MessageStatus))
            kind = "report" if rng.random() < 0.9 else "booking"
            await s.relay(report_id, purpose, status_m, kind)
            if kind == "report":
                seen.messages.append((purpose, status_m))
    seen.referrals = rng.choice((0, 0, 0, 1, 2))
    for _ in range(seen.referrals):
        await s.referral(c.id)
    return seen


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


def _months(period: Period) -> list[str]:
    out, day = [], period.start
    while day <= period.end:
        if f"{day:%Y-%m}" not in out:
            out.append(f"{day:%Y-%m}")
        day += dt.timedelta(days=1)
    return out


def _expected(
    world: World,
    names: Iterable[str],
    period: Period,
    now: dt.datetime,
    scope: str,
    site_id: int | None,
) -> Indicators:
    """The indicators worked out again, from the definitions, over what was written."""
    names = set(names)

    def local(moment: dt.datetime, site: str) -> dt.date:
        return moment.astimezone(ZoneInfo(world.sites[site][1])).date()

    ours = [b for b in world.bookings if b.site in names]
    in_period = [b for b in ours if period.start <= local(b.starts_at, b.site) <= period.end]
    done = [
        b
        for b in ours
        if b.consultation is not None
        and b.consultation.state in (State.REPORTING, State.CLOSED)
        and period.start <= local(b.consultation.started_at or b.starts_at, b.site) <= period.end
    ]
    patients = {b.patient for b in done}
    delays = [
        max(b.consultation.started_at - b.requested_at, dt.timedelta(0))
        for b in done
        if b.consultation is not None and b.consultation.started_at is not None
    ]
    trend = []
    for month in _months(period):
        due = [
            b
            for b in in_period
            if b.status is not BookingStatus.CANCELLED
            and b.starts_at <= now
            and f"{local(b.starts_at, b.site):%Y-%m}" == month
        ]
        trend.append(
            MonthRate(month, sum(b.status is BookingStatus.NO_SHOW for b in due), len(due))
        )
    latest = []
    for b in done:
        assert b.consultation is not None
        signed = [r for r in b.consultation.reports if r[1] is ReportStatus.SIGNED]
        latest.append(max(signed)[2:] if signed else None)
    messages = [m for b in done if b.consultation for m in b.consultation.messages]
    relays = [m for m in messages if m[0] in ("report_relay", "referral_report")]
    kinds = [world.sites[b.site][2] for b in done]
    return Indicators(
        scope=scope,
        site_id=site_id,
        period=period,
        consultations_done=len(done),
        patients_seen=len(patients),
        patients_without_mt=sum(world.has_mt[p] is False for p in patients),
        patients_with_mt=sum(world.has_mt[p] is True for p in patients),
        patients_mt_unknown=sum(world.has_mt[p] is None for p in patients),
        delay_measured=len(delays),
        within_24h=sum(d <= dt.timedelta(hours=24) for d in delays),
        within_48h=sum(d <= dt.timedelta(hours=48) for d in delays),
        median_delay_hours=(
            statistics.median(d.total_seconds() / 3600 for d in delays) if delays else None
        ),
        bookings_due=sum(m.due for m in trend),
        no_shows=sum(m.no_shows for m in trend),
        cancelled=sum(b.status is BookingStatus.CANCELLED for b in in_period),
        no_show_trend=tuple(trend),
        dependent_facility=kinds.count(SiteKind.DISABILITY_FACILITY),
        dependent_mobile_kit=kinds.count(SiteKind.MOBILE_KIT),
        psychiatric=sum(1 for r in latest if r is not None and r[1]),
        orientations=tuple((o, sum(1 for r in latest if r and r[0] is o)) for o in Orientation),
        without_signed_report=sum(r is None for r in latest),
        referrals=sum(b.consultation.referrals for b in done if b.consultation),
        relays_to_mt=sum(m[0] == "report_relay" for m in relays),
        relays_to_relay_doctor=sum(m[0] == "referral_report" for m in relays),
        relays_sent=sum(m[1] is MessageStatus.SENT for m in relays),
        relays_pending=sum(m[1] is MessageStatus.PENDING for m in relays),
        relays_failed=sum(m[1] is MessageStatus.FAILED for m in relays),
        relays_cancelled=sum(m[1] is MessageStatus.CANCELLED for m in relays),
    )


@pytest.fixture
async def world(settings: Settings, cpts: Cpts) -> AsyncIterator[tuple[AsyncSession, World, int]]:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            world = await _seed(session, random.Random(2025))
            org = await session.scalar(
                select(Organisation.id).where(Organisation.name == world.organisation)
            )
            assert org is not None
            yield session, world, org
    finally:
        await engine.dispose()


CASES = (
    (Period(dt.date(2025, 1, 1), dt.date(2025, 12, 31)), dt.datetime(2026, 1, 15, tzinfo=dt.UTC)),
    (Period(dt.date(2025, 3, 1), dt.date(2025, 4, 30)), dt.datetime(2025, 4, 10, 7, tzinfo=dt.UTC)),
    (Period(dt.date(2025, 10, 26), dt.date(2025, 10, 26)), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
    (Period(dt.date(2024, 12, 15), dt.date(2026, 1, 5)), dt.datetime(2025, 7, 1, tzinfo=dt.UTC)),
)


@pytest.mark.parametrize(("period", "now"), CASES, ids=lambda v: str(v)[:30])
async def test_every_indicator_equals_the_definition(
    world: tuple[AsyncSession, World, int], period: Period, now: dt.datetime
) -> None:
    session, w, org = world
    report = await compute_indicators(session=session, organisation_id=org, period=period, now=now)
    names = sorted(w.sites)
    whole = _expected(w, names, period, now, f"Toute la CPTS ({w.organisation})", None)
    sites = tuple(_expected(w, [n], period, now, n, w.sites[n][0]) for n in names)
    assert report.cpts == whole
    assert report.sites == sites
    if period == CASES[0][0]:  # the data set reaches every branch of the definitions
        assert min(n for _, n in whole.orientations) > 0
        assert 0 < whole.within_24h < whole.within_48h < whole.delay_measured
        assert whole.delay_measured < whole.consultations_done
        assert whole.patients_seen < whole.consultations_done
        assert min(whole.patients_without_mt, whole.patients_with_mt, whole.patients_mt_unknown)
        assert min(whole.psychiatric, whole.without_signed_report, whole.referrals)
        assert min(whole.relays_to_mt, whole.relays_to_relay_doctor, whole.relays_cancelled)
        assert min(whole.relays_sent, whole.relays_pending, whole.relays_failed, whole.cancelled)
        assert min(whole.no_shows, whole.dependent_facility, whole.dependent_mobile_kit)
    expected = IndicatorReport(w.organisation, period, whole, sites)
    assert exports.indicators_csv(report) == exports.indicators_csv(expected)
    assert exports.indicators_json(report) == exports.indicators_json(expected)
    for name in names:
        one = await compute_indicators(
            session=session, organisation_id=org, period=period, now=now, site_id=w.sites[name][0]
        )
        assert one == dataclasses.replace(
            expected, cpts=sites[names.index(name)], sites=(sites[names.index(name)],)
        )
