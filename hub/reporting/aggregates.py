"""The indicators' counts, aggregated by the database from the facts of the consultations done
(``facts``: one narrow row each, no join): ``done_counts``; the bookings are counted apart
(``booking_counts``).

Read-only: nothing leaves this module but plain frozen counts. A period is given as
``Window``s, one per time zone of the sites: the UTC instants of the local midnights that open
and close the period (and its months), so that every filter is a plain range on a stored UTC
time, whatever the backend. Delays are compared in whole microseconds, exactly as Python
compares ``timedelta``s.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from hub.reporting.models import COUNTERS, ConsultationFact
from hub.reports.models import Orientation

US_24H = 24 * 3600 * 1_000_000
US_48H = 2 * US_24H
FACT = ConsultationFact.__table__.c


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
    relays_to_mt: int = 0  # messages carrying one of their reports, by purpose…
    relays_to_relay_doctor: int = 0
    relays_sent: int = 0  # …and by status
    relays_pending: int = 0
    relays_failed: int = 0
    relays_cancelled: int = 0


def inline_int(value: int) -> ColumnElement[int]:
    """A small integer constant written into the SQL (no bound parameter to process)."""
    return literal_column(str(int(value)), Integer)


def _in_period(zones: Sequence[tuple[int, ...]], *, by_site: bool = True) -> ColumnElement[bool]:
    """Facts whose date falls in the period: the sites of each time zone between the bound
    instants ``low<k>`` and ``high<k>`` (see ``_bounds``). Not ``by_site``: the sites are
    tested as ``site_id + 0``, which no index serves, so that SQLite reads the index whose
    order the query needs (by patient, by delay) instead of sorting what the one by site
    gives."""
    moment = FACT.at.type
    site = FACT.site_id if by_site else FACT.site_id + inline_int(0)
    return or_(
        *(
            and_(
                site.in_(site_ids),
                FACT.at >= bindparam(f"low{k}", type_=moment),
                FACT.at < bindparam(f"high{k}", type_=moment),
            )
            for k, site_ids in enumerate(zones)
        )
    )


def _bounds(windows: Sequence[Window]) -> dict[str, dt.datetime]:
    """The values of ``_in_period``'s bound instants."""
    out = {}
    for k, w in enumerate(windows):
        out[f"low{k}"], out[f"high{k}"] = w.low, w.high
    return out


# A part of ``done_counts``: every row is (part, site, then numbers).
_NUMBERS = 4 + 1 + len(Orientation) + len(COUNTERS)


def _part(part: str, site: Any, numbers: Sequence[Any]) -> tuple[ColumnElement[Any], ...]:
    return (
        literal_column(f"'{part}'", String).label("part"),
        site.label("site") if site is not None else null().label("site"),
        *(n.label(f"n{k}") for k, n in enumerate(numbers)),
        *(null().label(f"n{k}") for k in range(len(numbers), _NUMBERS)),
    )


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


def _totals(zones: Sequence[tuple[int, ...]]) -> Select[Any]:
    """Per site: consultations done, delays measured, within 24 h and 48 h, psychiatric, per
    orientation, and the sums of the counters."""
    delay = FACT.delay_us
    return (
        select(
            *_part(
                "totals",
                FACT.site_id,
                (
                    func.count(),
                    func.count(delay),
                    _count_if(delay <= literal(US_24H, BigInteger)),
                    _count_if(delay <= literal(US_48H, BigInteger)),
                    _count_if(FACT.psychiatric.is_(True)),
                    *(_count_if(FACT.orientation == o.value) for o in Orientation),
                    *(func.sum(FACT[name]) for name in COUNTERS),  # ``Done``'s order,
                ),
            )
        )
        .where(_in_period(zones))
        .group_by(FACT.site_id)
    )


def _patients(zones: Sequence[tuple[int, ...]], whole: bool) -> list[Select[Any]]:
    """Distinct patients, per site and (``whole``) for all the sites, by what their record
    says of their médecin traitant: one row per patient with a flag per site, read once."""
    site_ids = sorted({i for z in zones for i in z})
    flags = [
        func.max(case((FACT.site_id == i, inline_int(1)), else_=inline_int(0))).label(f"s{i}")
        for i in site_ids
    ]
    seen = (
        select(FACT.patient_id, FACT.has_mt.label("mt"), *flags)
        .where(_in_period(zones, by_site=False))
        .group_by(FACT.patient_id, FACT.has_mt)
        .cte("seen")
        .prefix_with("MATERIALIZED")
    )
    mt = seen.c.mt

    def by_mt(site: ColumnElement[Any] | None) -> tuple[ColumnElement[Any], ...]:
        return _part(
            "patients",
            site,
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


@functools.lru_cache(maxsize=32)
def _counts_statement(zones: tuple[tuple[int, ...], ...], whole: bool) -> CompoundSelect[Any]:
    """The first statement of ``done_counts`` for these sites (grouped by time zone), built
    once: the period's instants are bound at each run."""
    return union_all(_totals(zones), *_patients(zones, whole))


@functools.lru_cache(maxsize=64)
def _median_statement(zones: tuple[tuple[int, ...], ...], scopes: tuple[int | None, ...]) -> Any:
    """The one or two middle delays of each scope (a site, or None: all the sites): the
    delays of the period in order, from ``offset<k>``, ``limit<k>`` of them."""
    parts = []
    for k, site_id in enumerate(scopes):
        # One site: its delays in order (index by site and delay); all: every delay in order.
        scope = and_(_in_period(zones, by_site=site_id is not None), FACT.delay_us.is_not(None))
        if site_id is not None:
            scope = and_(FACT.site_id == inline_int(site_id), scope)
        rows = (
            select(FACT.delay_us)
            .where(scope)
            .order_by(FACT.delay_us)
            .limit(bindparam(f"limit{k}", type_=Integer))
            .offset(bindparam(f"offset{k}", type_=Integer))
            .subquery()
        )
        site = null() if site_id is None else inline_int(site_id)
        parts.append(
            select(site.label("site"), func.min(rows.c.delay_us), func.max(rows.c.delay_us))
        )
    return union_all(*parts)


@dataclass(frozen=True, slots=True)
class DoneCounts:
    """Everything counted over the consultations done, per site (``None``: all the sites)."""

    done: dict[int, Done]
    patients: dict[int | None, Patients]
    medians: dict[int | None, float | None]


async def done_counts(
    *, session: AsyncSession, windows: Sequence[Window], whole: bool
) -> DoneCounts:
    """Per site (and for all the sites when ``whole``): consultations done, delays and their
    median, latest signed reports, referrals, relays and distinct patients, from the facts of
    the period's consultations done: one statement, then one for the medians."""
    zones = tuple(w.site_ids for w in windows)
    bounds = _bounds(windows)
    done: dict[int, Done] = {}
    patients: dict[int | None, Patients] = {}
    for part, site, *n in await session.execute(_counts_statement(zones, whole), bounds):
        if part == "totals":
            count, measured, within_24h, within_48h, psychiatric = (int(v) for v in n[:5])
            counted = tuple(int(v) for v in n[5 : 5 + len(Orientation)])
            sums = (int(v or 0) for v in n[5 + len(Orientation) :])
            done[site] = Done(
                count,
                measured,
                within_24h,
                within_48h,
                psychiatric,
                counted,
                count - sum(counted),
                *sums,
            )
        else:
            patients[site] = Patients(*(int(v) for v in n[:4]))
    measured_by: dict[int | None, int] = {i: d.delay_measured for i, d in done.items()}
    if whole:
        measured_by[None] = sum(d.delay_measured for d in done.values())
    return DoneCounts(
        done=done, patients=patients, medians=await _medians(session, zones, bounds, measured_by)
    )


async def _medians(
    session: AsyncSession,
    zones: tuple[tuple[int, ...], ...],
    bounds: dict[str, dt.datetime],
    measured: dict[int | None, int],
) -> dict[int | None, float | None]:
    """The median delay in hours of each scope with a delay measured."""
    scopes = tuple(i for i, n in measured.items() if n)
    if not scopes:
        return {}
    params: dict[str, Any] = dict(bounds)
    for k, scope in enumerate(scopes):
        n = measured[scope]
        params[f"offset{k}"], params[f"limit{k}"] = (n - 1) // 2, 2 - n % 2
    out: dict[int | None, float | None] = {}
    for site, low_us, high_us in await session.execute(_median_statement(zones, scopes), params):
        low, high = (
            dt.timedelta(microseconds=int(v)).total_seconds() / 3600 for v in (low_us, high_us)
        )
        out[site] = low if low_us == high_us else (low + high) / 2
    return out
