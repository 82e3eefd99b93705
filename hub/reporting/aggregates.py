"""The indicators' counts, aggregated by the database: one statement over the period's
consultations done, read once (``done_counts``), and one over its bookings
(``booking_counts``).

Read-only, like ``queries``: nothing leaves this module but plain frozen counts. A period is
given as ``Window``s, one per time zone of the sites: the UTC instants of the local midnights
that open and close the period (and its months), so that every filter is a plain range on a
stored UTC time, whatever the backend. Delays are compared in whole microseconds
(``_epoch_us``), exactly as Python compares ``timedelta``s.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    extract,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hub.consultation.models import Consultation, State
from hub.notify.models import OutboundMessage
from hub.records.patients import Patient
from hub.relay.models import Referral
from hub.reports.models import Orientation, Report, ReportStatus
from hub.scheduling.models import Booking

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
    delay_measured: int = 0
    within_24h: int = 0
    within_48h: int = 0
    psychiatric: int = 0
    orientations: tuple[int, ...] = (0,) * len(Orientation)  # in Orientation order
    without_signed_report: int = 0
    referrals: int = 0


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


def _done_filter(zones: Sequence[tuple[int, ...]]) -> ColumnElement[bool]:
    """Consultations done whose date (start, else booking) falls in the period: the sites of
    each time zone between the bound instants ``low<k>`` and ``high<k>`` (see ``_bounds``)."""
    when = func.coalesce(Consultation.started_at, Booking.starts_at)
    moment = Consultation.started_at.type
    return and_(
        Consultation.state.in_(DONE_STATES),
        or_(
            *(
                and_(
                    Consultation.site_id.in_(site_ids),
                    when >= bindparam(f"low{k}", type_=moment),
                    when < bindparam(f"high{k}", type_=moment),
                )
                for k, site_ids in enumerate(zones)
            )
        ),
    )


def _bounds(windows: Sequence[Window]) -> dict[str, dt.datetime]:
    """The values of ``_done_filter``'s bound instants."""
    out = {}
    for k, w in enumerate(windows):
        out[f"low{k}"], out[f"high{k}"] = w.low, w.high
    return out


def inline_int(value: int) -> ColumnElement[int]:
    """A small integer constant written into the SQL (no bound parameter to process)."""
    return literal_column(str(int(value)), Integer)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(
        func.sum(case((condition, inline_int(1)), else_=inline_int(0))), inline_int(0)
    )


def _delay_us(dialect: str) -> ColumnElement[int]:
    """From the request to the start, in microseconds; none before the request (a slip)."""
    delay = _epoch_us(Consultation.started_at, dialect) - _epoch_us(
        Booking.care_requested_at, dialect
    )
    if dialect == "sqlite":
        return func.max(delay, 0)  # scalar max: NULL when the start is unknown
    return case((delay < 0, 0), else_=delay)  # (GREATEST would turn an unknown start to 0)


def _done_rows(zones: Sequence[tuple[int, ...]], dialect: str) -> CTE:
    """The period's consultations done, one row each, worked out once (materialized): every
    part of ``done_counts`` reads these rows, not the consultations again."""
    return (
        select(
            Consultation.id.label("id"),
            Consultation.site_id.label("site_id"),
            Consultation.patient_id.label("patient_id"),
            _delay_us(dialect).label("delay"),
        )
        .select_from(Consultation)
        .join(Booking, Booking.id == Consultation.booking_id)
        .where(_done_filter(zones))
        .cte("done")
        .prefix_with("MATERIALIZED")
    )


@dataclass(frozen=True, slots=True)
class DoneCounts:
    """Everything counted over the consultations done, per site (``None``: all the sites)."""

    done: dict[int, Done]
    patients: dict[int | None, Patients]
    medians: dict[int | None, float | None]
    relays: tuple[RelayCount, ...]


# A part of ``done_counts``: every row is (part, site, text, text, four numbers).
_NUMBERS = 4


def _part(
    part: str, site: Any, texts: Sequence[Any], numbers: Sequence[Any]
) -> tuple[ColumnElement[Any], ...]:
    pad = _NUMBERS - len(numbers)
    return (
        literal_column(f"'{part}'", String).label("part"),
        site.label("site") if site is not None else null().label("site"),
        *(
            type_coerce(t, String).label(f"t{k}") if t is not None else null().label(f"t{k}")
            for k, t in enumerate([*texts, None, None][:2])
        ),
        *(n.label(f"n{k}") for k, n in enumerate(numbers)),
        *(null().label(f"n{len(numbers) + k}") for k in range(pad)),
    )


def _totals(d: CTE) -> Select[Any]:
    """Per site: consultations done, delays measured, within 24 h, within 48 h."""
    return select(
        *_part(
            "totals",
            d.c.site_id,
            (),
            (
                func.count(),
                func.count(d.c.delay),
                _count_if(d.c.delay <= _big(US_24H)),
                _count_if(d.c.delay <= _big(US_48H)),
            ),
        )
    ).group_by(d.c.site_id)


def _latest_reports(d: CTE) -> Select[Any]:
    """Per site and orientation of the latest signed report: how many, how many psychiatric."""
    later = aliased(Report)
    latest_signed = and_(
        Report.consultation_id == d.c.id,
        Report.status == ReportStatus.SIGNED,
        ~exists().where(
            later.consultation_id == Report.consultation_id,
            later.status == ReportStatus.SIGNED,
            later.version > Report.version,
        ),
    )
    return (
        select(
            *_part(
                "reports",
                d.c.site_id,
                (Report.orientation,),
                (func.count(), _count_if(Report.psychiatric.is_(True))),
            )
        )
        .join_from(d, Report, latest_signed)
        .group_by(d.c.site_id, Report.orientation)
    )


def _referrals(d: CTE) -> Select[Any]:
    return (
        select(*_part("referrals", d.c.site_id, (), (func.count(),)))
        .join_from(d, Referral, Referral.consultation_id == d.c.id)
        .group_by(d.c.site_id)
    )


def _relays(zones: Sequence[tuple[int, ...]]) -> Select[Any]:
    """Messages carrying a report (any version) of the consultations done, per site, purpose
    and status (read from the messages: fewer than the consultations)."""
    return (
        select(
            *_part(
                "relays",
                Consultation.site_id,
                (OutboundMessage.purpose, OutboundMessage.status),
                (func.count(),),
            )
        )
        .select_from(OutboundMessage)
        .join(Report, Report.id == OutboundMessage.related_id)
        .join(Consultation, Consultation.id == Report.consultation_id)
        .join(Booking, Booking.id == Consultation.booking_id)
        .where(
            OutboundMessage.related_kind == "report",
            OutboundMessage.purpose.in_(RELAY_PURPOSES),
            _done_filter(zones),
        )
        .group_by(Consultation.site_id, OutboundMessage.purpose, OutboundMessage.status)
    )


def _patients(d: CTE, site_ids: Sequence[int], whole: bool) -> list[Select[Any]]:
    """Distinct patients, per site and (``whole``) for all the sites, by what their record
    says of their médecin traitant: one row per patient with a flag per site, read once."""
    flags = [
        func.max(case((d.c.site_id == i, inline_int(1)), else_=inline_int(0))).label(f"s{i}")
        for i in site_ids
    ]
    per_patient = select(d.c.patient_id, *flags).group_by(d.c.patient_id).subquery()
    seen = (
        select(per_patient, Patient.has_medecin_traitant.label("mt"))
        .join_from(per_patient, Patient, Patient.id == per_patient.c.patient_id)
        .cte("seen")
    )
    mt = seen.c.mt

    def by_mt(site: ColumnElement[Any] | None) -> tuple[ColumnElement[Any], ...]:
        return _part(
            "patients",
            site,
            (),
            (
                func.count(),
                _count_if(mt.is_(False)),
                _count_if(mt.is_(True)),
                _count_if(mt.is_(None)),
            ),
        )

    parts = [select(*by_mt(inline_int(i))).where(seen.c[f"s{i}"] == 1) for i in site_ids]
    if whole:
        parts.append(select(*by_mt(None)).select_from(seen))
    return parts


def _medians(d: CTE, site_ids: Sequence[int], whole: bool) -> list[Select[Any]]:
    """The one or two middle delays, per site (and for all the sites when ``whole``): the
    delays in order, from the middle one, one or two of them. The delays measured are
    counted once per site (``measured``), not once per median and bound."""
    measured = (
        select(d.c.site_id, func.count().label("n"))
        .where(d.c.delay.is_not(None))
        .group_by(d.c.site_id)
        .cte("measured")
        .prefix_with("MATERIALIZED")
    )

    def middle(site_id: int | None) -> Select[Any]:
        scope: ColumnElement[bool] = d.c.delay.is_not(None)
        counted = select(cast(func.coalesce(func.sum(measured.c.n), 0), BigInteger))
        if site_id is not None:
            scope = and_(d.c.site_id == inline_int(site_id), scope)
            counted = counted.where(measured.c.site_id == inline_int(site_id))
        n = counted.scalar_subquery()
        rows = (
            select(d.c.delay)
            .where(scope)
            .order_by(d.c.delay)
            .limit(inline_int(2) - n % inline_int(2))
            .offset((n - inline_int(1)) // inline_int(2))  # (-1 // 2 is 0 in SQL: none measured)
            .subquery()
        )
        return select(
            *_part(
                "median",
                None if site_id is None else inline_int(site_id),
                (),
                (func.min(rows.c.delay), func.max(rows.c.delay)),
            )
        )

    return [middle(i) for i in site_ids] + ([middle(None)] if whole else [])


@functools.lru_cache(maxsize=32)
def _done_statement(
    dialect: str, zones: tuple[tuple[int, ...], ...], whole: bool
) -> CompoundSelect[Any]:
    """The statement of ``done_counts`` for these sites (grouped by time zone), built once:
    the period's instants are bound at each run."""
    d = _done_rows(zones, dialect)
    site_ids = sorted({i for z in zones for i in z})
    return union_all(
        _totals(d),
        _latest_reports(d),
        _referrals(d),
        _relays(zones),
        *_patients(d, site_ids, whole),
        *_medians(d, site_ids, whole),
    )


async def done_counts(
    *, session: AsyncSession, windows: Sequence[Window], whole: bool
) -> DoneCounts:
    """Per site (and for all the sites when ``whole``): consultations done, delays and their
    median, latest signed reports, referrals, relays and distinct patients, in one statement
    over the period's consultations done read once."""
    dialect = session.get_bind().dialect.name
    query = _done_statement(dialect, tuple(w.site_ids for w in windows), whole)
    totals: dict[int, list[int]] = {}
    orientations: dict[int, dict[str, int]] = {}
    psychiatric: dict[int, int] = {}
    referrals: dict[int, int] = {}
    relays: list[RelayCount] = []
    patients: dict[int | None, Patients] = {}
    medians: dict[int | None, float | None] = {}
    for part, site, t0, t1, *n in await session.execute(query, _bounds(windows)):
        if part == "totals":
            totals[site] = [int(v) for v in n]
        elif part == "reports":
            orientations.setdefault(site, {})[t0] = int(n[0])
            psychiatric[site] = psychiatric.get(site, 0) + int(n[1])
        elif part == "referrals":
            referrals[site] = int(n[0])
        elif part == "relays":
            relays.append(RelayCount(int(site), str(t0), str(t1), int(n[0])))
        elif part == "patients":
            patients[site] = Patients(*(int(v) for v in n))
        elif part == "median" and n[0] is not None:  # (None: no delay measured at all)
            low, high = (dt.timedelta(microseconds=int(v)).total_seconds() / 3600 for v in n[:2])
            medians[site] = low if n[0] == n[1] else (low + high) / 2
    done = {}
    for site_id, (count, measured, within_24h, within_48h) in totals.items():
        by = orientations.get(site_id, {})
        counted = tuple(by.get(o.value, 0) for o in Orientation)
        done[site_id] = Done(
            consultations=count,
            delay_measured=measured,
            within_24h=within_24h,
            within_48h=within_48h,
            psychiatric=psychiatric.get(site_id, 0),
            orientations=counted,
            without_signed_report=count - sum(counted),
            referrals=referrals.get(site_id, 0),
        )
    return DoneCounts(done=done, patients=patients, medians=medians, relays=tuple(relays))
