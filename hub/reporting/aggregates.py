"""The indicators' counts, aggregated by the database: a few GROUP BY queries per report.

Read-only, like ``queries``: nothing leaves this module but plain frozen counts. A period is
given as ``Window``s, one per time zone of the sites: the UTC instants of the local midnights
that open and close the period (and its months), so that every filter is a plain range on a
stored UTC time, whatever the backend. Delays are compared in whole microseconds
(``_epoch_us``), exactly as Python compares ``timedelta``s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hub.consultation.models import Consultation, State
from hub.notify.models import OutboundMessage
from hub.records.patients import Patient
from hub.relay.models import Referral
from hub.reports.models import Orientation, Report, ReportStatus
from hub.scheduling.models import Booking, BookingStatus

DONE_STATES = (State.REPORTING, State.CLOSED)
RELAY_PURPOSES = ("report_relay", "referral_report")
US_24H = 24 * 3600 * 1_000_000
US_48H = 2 * US_24H
US_HOUR = 3600 * 1_000_000


@dataclass(frozen=True, slots=True)
class Window:
    """The period for the sites of one time zone: ``[low, high)`` in UTC, and the UTC start of
    each of its months after the first (``month_starts[i]`` opens month ``i + 1``)."""

    site_ids: tuple[int, ...]
    low: dt.datetime
    high: dt.datetime
    month_starts: tuple[dt.datetime, ...]


@dataclass(frozen=True, slots=True)
class Patients:
    """Distinct patients seen, by what their record says of their médecin traitant."""

    seen: int = 0
    without_mt: int = 0
    with_mt: int = 0
    mt_unknown: int = 0


@dataclass(frozen=True, slots=True)
class Done:
    """Counts over one site's consultations done in the period."""

    consultations: int = 0
    delay_measured: int = 0
    within_24h: int = 0
    within_48h: int = 0
    psychiatric: int = 0
    orientations: tuple[int, ...] = (0,) * len(Orientation)  # in Orientation order
    without_signed_report: int = 0
    referrals: int = 0


@dataclass(frozen=True, slots=True)
class BookingCount:
    site_id: int
    month: int  # index in the period's months
    status: BookingStatus
    due: bool  # started before ``now``
    count: int


@dataclass(frozen=True, slots=True)
class RelayCount:
    site_id: int
    purpose: str
    status: str
    count: int


def _big(n: int) -> ColumnElement[int]:
    """A constant beyond 32 bits, bound as such (asyncpg refuses it as an int4 otherwise)."""
    return literal(n, BigInteger)


def _epoch_us(column: Any, dialect: str) -> ColumnElement[int]:
    """A stored UTC time as an exact integer number of microseconds from a fixed origin (the
    origin differs between backends: only differences are meaningful)."""
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff'
        # julianday() keeps whole milliseconds: their count is exact once rounded; the last
        # three digits of the microseconds come from the text. (Cheaper than strftime.)
        ms = cast(func.round(func.julianday(func.substr(column, 1, 23)) * 86_400_000), BigInteger)
        return ms * 1000 + cast(func.substr(column, 24, 3), Integer)
    return cast(extract("epoch", column) * 1_000_000, BigInteger)


def _done_filter(windows: Sequence[Window]) -> ColumnElement[bool]:
    """Consultations done whose date (start, else booking) falls in the period."""
    when = func.coalesce(Consultation.started_at, Booking.starts_at)
    return and_(
        Consultation.state.in_(DONE_STATES),
        or_(
            *(
                and_(Consultation.site_id.in_(w.site_ids), when >= w.low, when < w.high)
                for w in windows
            )
        ),
    )


def _done(*columns: Any, windows: Sequence[Window]) -> Select[Any]:
    return (
        select(*columns)
        .select_from(Consultation)
        .join(Booking, Booking.id == Consultation.booking_id)
        .where(_done_filter(windows))
    )


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _delay_us(dialect: str) -> ColumnElement[int]:
    """From the request to the start, in microseconds; none before the request (a slip)."""
    delay = _epoch_us(Consultation.started_at, dialect) - _epoch_us(
        Booking.care_requested_at, dialect
    )
    if dialect == "sqlite":
        return func.max(delay, 0)  # scalar max: the delay is worked out once
    return case((delay < 0, 0), else_=delay)  # (GREATEST would turn an unknown start to 0)


async def done_by_site(
    *, session: AsyncSession, windows: Sequence[Window]
) -> tuple[dict[int, Done], dict[tuple[int, int], int]]:
    """Per site: consultations done, delays, latest signed reports, referrals; and the number
    of measured delays per site and whole hour (the histogram ``median_delays`` reads)."""
    dialect = session.get_bind().dialect.name
    later = aliased(Report)
    latest_signed = and_(
        Report.consultation_id == Consultation.id,
        Report.status == ReportStatus.SIGNED,
        ~exists().where(
            later.consultation_id == Report.consultation_id,
            later.status == ReportStatus.SIGNED,
            later.version > Report.version,
        ),
    )
    referrals = (
        select(func.count())
        .where(Referral.consultation_id == Consultation.id)
        .correlate(Consultation)
        .scalar_subquery()
    )
    # The delay is worked out once per row: OFFSET 0 keeps SQLite from copying the
    # expression into every aggregate that reads it.
    rows = (
        _done(
            Consultation.site_id.label("site_id"),
            _delay_us(dialect).label("delay"),
            Report.id.label("report"),
            Report.orientation.label("orientation"),
            Report.psychiatric.label("psychiatric"),
            referrals.label("referrals"),
            windows=windows,
        )
        .outerjoin(Report, latest_signed)
        .offset(0)
        .subquery()
    )
    hour = (rows.c.delay // _big(US_HOUR)).label("hour")
    query = select(
        rows.c.site_id,
        hour,
        func.count(),
        _count_if(rows.c.delay <= _big(US_24H)),
        _count_if(rows.c.delay <= _big(US_48H)),
        _count_if(rows.c.psychiatric.is_(True)),
        *(_count_if(rows.c.orientation == o) for o in Orientation),
        _count_if(rows.c.report.is_(None)),
        func.coalesce(func.sum(rows.c.referrals), 0),
    ).group_by(rows.c.site_id, hour)
    totals: dict[int, list[int]] = {}
    histogram: dict[tuple[int, int], int] = {}
    for site_id, hour_, *counts in await session.execute(query):
        into = totals.setdefault(int(site_id), [0] * (len(counts) + 1))
        into[0] += int(counts[0]) if hour_ is not None else 0
        for k, n in enumerate(counts, start=1):
            into[k] += int(n)
        if hour_ is not None:
            histogram[(int(site_id), int(hour_))] = int(counts[0])
    n = len(Orientation)
    out = {
        site_id: Done(
            consultations=v[1],
            delay_measured=v[0],
            within_24h=v[2],
            within_48h=v[3],
            psychiatric=v[4],
            orientations=tuple(v[5 : 5 + n]),
            without_signed_report=v[5 + n],
            referrals=v[6 + n],
        )
        for site_id, v in totals.items()
    }
    return out, histogram


def _by_mt(column: Any) -> tuple[ColumnElement[int], ...]:
    mt = Patient.has_medecin_traitant
    return (
        _count_if(column == 1),
        _count_if(and_(column == 1, mt.is_(False))),
        _count_if(and_(column == 1, mt.is_(True))),
        _count_if(and_(column == 1, mt.is_(None))),
    )


async def patients_seen(
    *, session: AsyncSession, windows: Sequence[Window]
) -> tuple[dict[int, Patients], Patients]:
    """Distinct patients of the consultations done, per site and for all the sites (a
    patient seen at two sites counts once there): one row per patient, one column per site."""
    site_ids = sorted({i for w in windows for i in w.site_ids})
    flags = [
        func.max(case((Consultation.site_id == i, 1), else_=0)).label(f"s{i}") for i in site_ids
    ]
    seen = (
        _done(Consultation.patient_id.label("patient_id"), *flags, windows=windows)
        .group_by(Consultation.patient_id)
        .subquery()
    )
    query = select(
        *_by_mt(literal(1)), *(c for i in site_ids for c in _by_mt(seen.c[f"s{i}"]))
    ).join_from(seen, Patient, Patient.id == seen.c.patient_id)
    row = [int(v) for v in (await session.execute(query)).one()]
    whole = Patients(*row[:4])
    return {i: Patients(*row[4 + 4 * k : 8 + 4 * k]) for k, i in enumerate(site_ids)}, whole


def _median_buckets(
    histogram: dict[tuple[int, int], int], scopes: Sequence[int | None]
) -> dict[int | None, list[tuple[int, int]]]:
    """For each scope (a site, None: all of them), the hour and rank within it of its one or
    two middle delays."""
    out: dict[int | None, list[tuple[int, int]]] = {}
    for scope in scopes:
        per_hour: dict[int, int] = {}
        for (site_id, hour), n in histogram.items():
            if scope is None or site_id == scope:
                per_hour[hour] = per_hour.get(hour, 0) + n
        total = sum(per_hour.values())
        if total == 0:
            continue
        wanted = sorted({(total + 1) // 2, (total + 2) // 2})  # 1-based ranks
        before, found = 0, []
        for hour in sorted(per_hour):
            for rank in wanted:
                if before < rank <= before + per_hour[hour]:
                    found.append((hour, rank - before - 1))
            before += per_hour[hour]
        out[scope] = found
    return out


async def median_delays(
    *,
    session: AsyncSession,
    windows: Sequence[Window],
    histogram: dict[tuple[int, int], int],
    whole: bool,
) -> dict[int | None, float | None]:
    """The median delay to care in hours, per site (and for all of them under ``None`` when
    ``whole``): the histogram tells in which hour the middle delays fall, and only the delays
    of those hours are read."""
    scopes: list[int | None] = [*sorted({s for s, _ in histogram})]
    buckets = _median_buckets(histogram, [*scopes, None] if whole else scopes)
    if not buckets:
        return {}
    dialect = session.get_bind().dialect.name
    rows = (
        _done(
            Consultation.site_id.label("site_id"),
            _delay_us(dialect).label("delay"),
            windows=windows,
        )
        .where(Consultation.started_at.is_not(None))
        .offset(0)  # the delay worked out once per row (see done_by_site)
        .subquery()
    )
    hour = rows.c.delay // _big(US_HOUR)
    wanted = or_(
        *(
            hour == h if scope is None else and_(rows.c.site_id == scope, hour == h)
            for scope, found in buckets.items()
            for h, _ in found
        )
    )
    query = select(rows.c.site_id, rows.c.delay).where(wanted)
    values: dict[tuple[int | None, int], list[int]] = {}
    for site_id, us in await session.execute(query):
        for key in ((int(site_id), int(us) // US_HOUR), (None, int(us) // US_HOUR)):
            values.setdefault(key, []).append(int(us))
    out: dict[int | None, float | None] = {}
    for scope, found in buckets.items():
        hours = [
            dt.timedelta(microseconds=sorted(values[(scope, h)])[i]).total_seconds() / 3600
            for h, i in found
        ]
        out[scope] = hours[0] if len(hours) == 1 else (hours[0] + hours[1]) / 2
    return out


async def relays_by_site(*, session: AsyncSession, windows: Sequence[Window]) -> list[RelayCount]:
    """Messages carrying a report (any version) of the consultations done, per site, purpose
    and status."""
    query = (
        _done(
            Consultation.site_id,
            OutboundMessage.purpose,
            OutboundMessage.status,
            func.count(),
            windows=windows,
        )
        .join(Report, Report.consultation_id == Consultation.id)
        .join(
            OutboundMessage,
            and_(
                OutboundMessage.related_kind == "report",
                OutboundMessage.related_id == Report.id,
                OutboundMessage.purpose.in_(RELAY_PURPOSES),
            ),
        )
        .group_by(Consultation.site_id, OutboundMessage.purpose, OutboundMessage.status)
    )
    return [
        RelayCount(int(site_id), purpose, str(status.value), int(n))
        for site_id, purpose, status, n in await session.execute(query)
    ]


async def bookings_by_month(
    *, session: AsyncSession, window: Window, now: dt.datetime
) -> list[BookingCount]:
    """The bookings of the window's sites in the period, per site, month, status and whether
    they were due by ``now``."""
    month: ColumnElement[int] = literal(0, Integer)
    if window.month_starts:
        month = case(
            *((Booking.starts_at < start, i) for i, start in enumerate(window.month_starts)),
            else_=len(window.month_starts),
        )
    rows = (
        select(
            Booking.site_id.label("site_id"),
            month.label("month"),
            Booking.status.label("status"),
            (Booking.starts_at <= now).label("due"),
        )
        .where(
            Booking.site_id.in_(window.site_ids),
            Booking.starts_at >= window.low,
            Booking.starts_at < window.high,
        )
        .subquery()
    )
    groups = (rows.c.site_id, rows.c.month, rows.c.status, rows.c.due)
    query = select(*groups, func.count()).group_by(*groups)
    return [
        BookingCount(int(site_id), int(m), status, bool(is_due), int(n))
        for site_id, m, status, is_due, n in await session.execute(query)
    ]
