"""The indicators' bookings of a period, counted by the database per site, month, status and
whether they were due. On SQLite, ranges of the index (site, status, start), one per month,
neither the bookings read nor sorted; on PostgreSQL, one scan of the period's bookings with the
month worked out per row (measured at 5,000 consultations: 2 ms against 19 ms for the ranges,
which PostgreSQL plans and runs one by one; on SQLite the ranges take 1.6 ms against 8.5)."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from hub.reporting.aggregates import Window, inline_int
from hub.scheduling.models import Booking, BookingStatus


@dataclass(frozen=True, slots=True)
class BookingCount:
    site_id: int
    month: int  # index in the period's months
    status: BookingStatus
    due: bool  # started before ``now``
    count: int


def _month_split(window: Window, now: dt.datetime) -> tuple[tuple[bool, ...], ...]:
    """For each month of the window, whether its bookings were due by ``now``: all of them
    ``(True,)``, none ``(False,)``, or those up to ``now`` ``(True, False)``."""
    edges = [window.low, *window.month_starts, window.high]
    return tuple(
        (True,) if high <= now else (False,) if low > now else (True, False)
        for low, high in itertools.pairwise(edges)
    )


@functools.lru_cache(maxsize=32)
def _bookings_statement(
    site_ids: tuple[int, ...], split: tuple[tuple[bool, ...], ...]
) -> CompoundSelect[Any]:
    """Per month (its starts between the bound instants ``e<k>`` and ``e<k+1>``), due or
    not (before or after the bound ``now``), site and status: a range of the index (site,
    status, start) each, counted without reading or sorting the bookings. Built once."""
    moment = Booking.starts_at.type
    now = bindparam("now", type_=moment)
    parts = []
    for month, dues in enumerate(split):
        starts = and_(
            Booking.starts_at >= bindparam(f"e{month}", type_=moment),
            Booking.starts_at < bindparam(f"e{month + 1}", type_=moment),
        )
        for due in dues:
            when = starts if len(dues) == 1 else and_(starts, Booking.starts_at <= now)
            if len(dues) > 1 and not due:
                when = and_(starts, Booking.starts_at > now)
            parts.append(
                select(
                    inline_int(month),
                    inline_int(due),
                    Booking.site_id,
                    type_coerce(Booking.status, String),
                    func.count(),
                )
                .where(
                    Booking.site_id.in_(site_ids),
                    Booking.status.in_(list(BookingStatus)),  # the index is read by status
                    when,
                )
                .group_by(Booking.site_id, Booking.status)
            )
    return union_all(*parts)


@functools.lru_cache(maxsize=32)
def _one_scan_statement(site_ids: tuple[int, ...], months: int) -> Select[Any]:
    """Per month (its starts between the bound instants ``e<k>`` and ``e<k+1>``), due or not
    (before or after the bound ``now``), site and status: the period's bookings read once,
    each placed in its month. Built once."""
    moment = Booking.starts_at.type
    edge = [bindparam(f"e{k}", type_=moment) for k in range(months + 1)]
    month: Any = inline_int(0)
    if months > 1:
        month = case(
            *((Booking.starts_at < edge[k + 1], inline_int(k)) for k in range(months - 1)),
            else_=inline_int(months - 1),
        )
    now = bindparam("now", type_=moment)
    due = case((Booking.starts_at <= now, inline_int(1)), else_=inline_int(0))
    return (
        select(month, due, Booking.site_id, type_coerce(Booking.status, String), func.count())
        .where(
            Booking.site_id.in_(site_ids),
            Booking.starts_at >= edge[0],
            Booking.starts_at < edge[months],
        )
        # By position: the month and due expressions hold bound values.
        .group_by(literal_column("1"), literal_column("2"), Booking.site_id, Booking.status)
    )


async def bookings_by_month(
    *, session: AsyncSession, window: Window, now: dt.datetime
) -> list[BookingCount]:
    """The bookings of the window's sites in the period, per site, month, status and whether
    they were due by ``now``."""
    edges = [window.low, *window.month_starts, window.high]
    query: Any
    if session.get_bind().dialect.name == "postgresql":
        query = _one_scan_statement(window.site_ids, len(edges) - 1)
    else:
        query = _bookings_statement(window.site_ids, _month_split(window, now))
    params: dict[str, dt.datetime] = {f"e{k}": edge for k, edge in enumerate(edges)}
    params["now"] = now
    return [
        BookingCount(int(site_id), int(m), BookingStatus(status), bool(is_due), int(n))
        for m, is_due, site_id, status, n in await session.execute(query, params)
    ]
