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
    distinct,
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
    patients: Patients = Patients()
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


def _epoch_us(column: Any, dialect: str) -> ColumnElement[int]:
    """Microseconds since 1970 of a stored UTC time, as an exact integer."""
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff'
        # Whole seconds of the text without its fraction (SQLite would round it to the ms).
        seconds = cast(func.strftime(literal("%s"), func.substr(column, 1, 19)), Integer)
        micro = cast(func.substr(column, 21, 6), Integer)
        return seconds * 1_000_000 + micro
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


def _patient_columns() -> tuple[ColumnElement[int], ...]:
    mt = Patient.has_medecin_traitant
    pid = Consultation.patient_id
    return (
        func.count(distinct(pid)),
        func.count(distinct(case((mt.is_(False), pid)))),
        func.count(distinct(case((mt.is_(True), pid)))),
        func.count(distinct(case((mt.is_(None), pid)))),
    )


def _delay_us(dialect: str) -> ColumnElement[int]:
    return _epoch_us(Consultation.started_at, dialect) - _epoch_us(
        Booking.care_requested_at, dialect
    )


async def done_by_site(*, session: AsyncSession, windows: Sequence[Window]) -> dict[int, Done]:
    """Per site: consultations done, their patients, delays, latest signed reports, referrals."""
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
    delay = _delay_us(dialect)
    started = Consultation.started_at.is_not(None)
    query = (
        _done(
            Consultation.site_id,
            func.count(),
            *_patient_columns(),
            _count_if(started),
            _count_if(and_(started, delay <= US_24H)),
            _count_if(and_(started, delay <= US_48H)),
            _count_if(Report.psychiatric.is_(True)),
            *(_count_if(Report.orientation == o) for o in Orientation),
            _count_if(Report.id.is_(None)),
            func.coalesce(func.sum(referrals), 0),
            windows=windows,
        )
        .join(Patient, Patient.id == Consultation.patient_id)
        .outerjoin(Report, latest_signed)
        .group_by(Consultation.site_id)
    )
    out: dict[int, Done] = {}
    n = len(Orientation)
    for row in await session.execute(query):
        site_id, count, seen, without, with_, unknown, measured, d24, d48, psy, *rest = row
        out[int(site_id)] = Done(
            consultations=int(count),
            patients=Patients(int(seen), int(without), int(with_), int(unknown)),
            delay_measured=int(measured),
            within_24h=int(d24),
            within_48h=int(d48),
            psychiatric=int(psy),
            orientations=tuple(int(v) for v in rest[:n]),
            without_signed_report=int(rest[n]),
            referrals=int(rest[n + 1]),
        )
    return out


async def patients_seen(*, session: AsyncSession, windows: Sequence[Window]) -> Patients:
    """Distinct patients of the consultations done at all these sites (seen twice: once)."""
    query = _done(*_patient_columns(), windows=windows).join(
        Patient, Patient.id == Consultation.patient_id
    )
    row = (await session.execute(query)).one()
    return Patients(*(int(v) for v in row))


async def median_delays(
    *, session: AsyncSession, windows: Sequence[Window], whole: bool
) -> dict[int | None, float | None]:
    """The median delay to care in hours, per site (and for all of them under ``None`` when
    ``whole``): the middle one or two delays, found by the database, averaged here."""
    dialect = session.get_bind().dialect.name
    delay = _delay_us(dialect)
    clamped = case((delay < 0, 0), else_=delay)
    middles: dict[int | None, list[int]] = {}
    for per_site in (True, False) if whole else (True,):
        scope = Consultation.site_id if per_site else literal(None, Integer)
        partition = Consultation.site_id if per_site else None
        ranked = (
            _done(
                scope.label("scope"),
                clamped.label("delay"),
                func.row_number().over(partition_by=partition, order_by=clamped).label("rank"),
                func.count().over(partition_by=partition).label("n"),
                windows=windows,
            )
            .where(Consultation.started_at.is_not(None))
            .subquery()
        )
        rows = await session.execute(
            select(ranked.c.scope, ranked.c.delay)
            .where(ranked.c.rank.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
            .order_by(ranked.c.scope, ranked.c.rank)
        )
        for key, us in rows:
            middles.setdefault(key, []).append(int(us))
    out: dict[int | None, float | None] = {}
    for key, values in middles.items():
        hours = [dt.timedelta(microseconds=us).total_seconds() / 3600 for us in values]
        out[key] = hours[0] if len(hours) == 1 else (hours[0] + hours[1]) / 2
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
