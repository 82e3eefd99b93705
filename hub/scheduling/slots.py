"""Keeping slots in step with the opening rules, and finding the free ones."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.sql.selectable import ScalarSelect

from hub.identity.queries import each_site
from hub.scheduling import calendar as cal
from hub.scheduling.models import (
    Booking,
    BookingStatus,
    Closure,
    OpeningRule,
    Reservation,
    Slot,
    SlotState,
)
from hub.scheduling.policy import policy_for

if TYPE_CHECKING:
    from hub.identity.models import Site

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncReport:
    created: int
    removed: int
    withdrawn: int  # slots that had bookings: kept, flagged for the secretary


def _rule_spec(rule: OpeningRule) -> cal.OpeningRule:
    return cal.OpeningRule(
        weekday=rule.weekday,
        start=rule.start_time,
        end=rule.end_time,
        slot_minutes=rule.slot_minutes,
        seats=rule.seats,
        reserved_for=rule.reserved_for.value if rule.reserved_for else None,
        rule_id=rule.id,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
    )


async def sync_slots(
    *, session: AsyncSession, site: Site, first_day: dt.date, last_day: dt.date
) -> SyncReport:
    """Make the site's slots between two days match its rules; never drops a booked slot."""
    rules = list(await session.scalars(select(OpeningRule).where(OpeningRule.site_id == site.id)))
    closures = list(await session.scalars(select(Closure).where(Closure.site_id == site.id)))
    tz = ZoneInfo(site.timezone)
    wanted = {
        spec.start: spec
        for spec in cal.derive_slots(
            [_rule_spec(r) for r in rules],
            first_day=first_day,
            last_day=last_day,
            tz=tz,
            closures=[cal.Closure(c.start_date, c.end_date, c.reason) for c in closures],
        )
    }
    window_start = dt.datetime.combine(first_day, dt.time(0), tz).astimezone(dt.UTC)
    window_end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tz).astimezone(
        dt.UTC
    )
    existing = list(
        await session.scalars(
            select(Slot).where(
                Slot.site_id == site.id, Slot.starts_at >= window_start, Slot.starts_at < window_end
            )
        )
    )
    booked_counts = await _booked_counts(session, [s.id for s in existing])
    created = removed = withdrawn = 0
    for slot in existing:
        spec = wanted.pop(slot.starts_at, None)
        if spec is not None:
            reserved = Reservation(spec.reserved_for) if spec.reserved_for else None
            slot.ends_at, slot.reserved_for, slot.rule_id = spec.end, reserved, spec.rule_id
            slot.seats = max(spec.seats, booked_counts.get(slot.id, 0))
            slot.state = SlotState.OPEN
            continue
        if booked_counts.get(slot.id, 0) or await _has_history(session, slot.id):
            if slot.state is not SlotState.WITHDRAWN:
                slot.state = SlotState.WITHDRAWN
                withdrawn += 1
                await _flag_bookings(session, slot.id)
        else:
            await session.delete(slot)
            removed += 1
    for spec in wanted.values():
        session.add(
            Slot(
                site_id=site.id,
                starts_at=spec.start,
                ends_at=spec.end,
                seats=spec.seats,
                reserved_for=Reservation(spec.reserved_for) if spec.reserved_for else None,
                rule_id=spec.rule_id,
            )
        )
        created += 1
    await session.flush()
    if withdrawn:
        logger.warning(
            "site %s: %s booked slots no longer match the opening rules", site.id, withdrawn
        )
    return SyncReport(created=created, removed=removed, withdrawn=withdrawn)


async def _booked_counts(session: AsyncSession, slot_ids: Sequence[int]) -> dict[int, int]:
    if not slot_ids:
        return {}
    rows = await session.execute(
        select(Booking.slot_id, func.count())
        .where(Booking.slot_id.in_(slot_ids), Booking.status == BookingStatus.BOOKED)
        .group_by(Booking.slot_id)
    )
    return {slot_id: count for slot_id, count in rows.all()}


async def _has_history(session: AsyncSession, slot_id: int) -> bool:
    return bool(await session.scalar(select(func.count()).where(Booking.slot_id == slot_id)))


async def _flag_bookings(session: AsyncSession, slot_id: int) -> None:
    for booking in await session.scalars(
        select(Booking).where(Booking.slot_id == slot_id, Booking.status == BookingStatus.BOOKED)
    ):
        booking.needs_moving = True


async def slot_with_site(*, session: AsyncSession, slot_id: int) -> Slot | None:
    """The slot with this id and its site, None if there is none."""
    return await session.scalar(
        select(Slot).where(Slot.id == slot_id).options(selectinload(Slot.site))
    )


async def seats_held(*, session: AsyncSession, slot_id: int) -> int:
    """How many of the slot's seats bookings hold."""
    held = await session.scalar(
        select(func.count(Booking.id)).where(Booking.slot_id == slot_id, Booking.seat.is_not(None))
    )
    return held or 0


async def get_slot(*, session: AsyncSession, slot_id: int) -> Slot | None:
    """The slot with this id, None if there is none."""
    return await session.get(Slot, slot_id)


async def sync_horizon(*, session: AsyncSession, site: Site, today: dt.date) -> SyncReport:
    """Sync the site's slots from today over its CPTS's booking horizon."""
    policy = await policy_for(session=session, organisation_id=site.organisation_id)
    return await sync_slots(
        session=session,
        site=site,
        first_day=today,
        last_day=today + dt.timedelta(days=policy.horizon_days),
    )


@dataclass(frozen=True, slots=True)
class FreeSlot:
    slot: Slot
    free_seats: int


def _seats_taken(slot: type[Slot] | Any) -> ScalarSelect[int]:
    """The seats of this slot held by a booking (a unique-index probe per slot)."""
    return (
        select(func.count())
        .where(Booking.slot_id == slot.id, Booking.seat.is_not(None))
        .correlate(slot)
        .scalar_subquery()
    )


def _candidate(
    slot: type[Slot] | Any,
    *,
    after: dt.datetime,
    reservations: frozenset[Reservation | None],
) -> ColumnElement[bool]:
    """A slot of the future that is open to this audience and has a seat left."""
    named = [r for r in reservations if r is not None]
    allowed = [slot.reserved_for.in_(named)] if named else []
    if None in reservations:
        allowed.append(slot.reserved_for.is_(None))
    return and_(
        slot.state == SlotState.OPEN,
        slot.starts_at >= after,
        or_(*allowed) if allowed else false(),
        slot.seats > _seats_taken(slot),
    )


async def free_slots(
    *,
    session: AsyncSession,
    site_ids: Sequence[int],
    after: dt.datetime,
    before: dt.datetime | None = None,
    reservations: frozenset[Reservation | None] = frozenset({None}),
    limit: int = 20,
) -> list[FreeSlot]:
    """The earliest open slots with a free seat at these sites, soonest first.

    One query walking the slots in time order from ``after`` (index on state, start, site) and
    stopping at ``limit``: neither past slots nor old bookings are read."""
    query = (
        select(Slot, Slot.seats - _seats_taken(Slot))
        .where(
            Slot.site_id.in_(site_ids),
            _candidate(Slot, after=after, reservations=reservations),
        )
        .order_by(Slot.state, Slot.starts_at, Slot.site_id)
        .limit(limit)
    )
    if before is not None:
        query = query.where(Slot.starts_at < before)
    rows = await session.execute(query.options(selectinload(Slot.site)))
    return [FreeSlot(slot=slot, free_seats=int(seats)) for slot, seats in rows.all()]


@dataclass(frozen=True, slots=True)
class OpenSlot:
    """A free slot as a booking page lists it (plain values: a page lists hundreds)."""

    id: int
    site_id: int
    starts_at: dt.datetime
    free_seats: int


@dataclass(frozen=True, slots=True)
class DayOfSlots:
    """What a booking page shows: each site's next free slot, and its free slots of one day."""

    next_by_site: dict[int, OpenSlot]
    day_by_site: dict[int, list[OpenSlot]]


async def day_of_slots(
    *,
    session: AsyncSession,
    site_ids: Sequence[int],
    after: dt.datetime,
    day_start: dt.datetime,
    day_end: dt.datetime,
    reservations: frozenset[Reservation | None] = frozenset({None}),
    per_site: int = 40,
) -> DayOfSlots:
    """Each site's next free slot after ``after`` and its free slots between ``day_start`` and
    ``day_end``, in one query: a per-site probe of the (site, state, start) index for the next
    slot, and a range of the (state, start, site) index for the day."""
    later = aliased(Slot)

    def next_id(site_id: ColumnElement[int]) -> ScalarSelect[int]:
        return (
            select(later.id)
            .where(
                later.site_id == site_id,
                _candidate(later, after=after, reservations=reservations),
            )
            .order_by(later.site_id, later.state, later.starts_at)
            .limit(1)
            .correlate_except(later)
            .scalar_subquery()
        )

    next_ids = each_site(site_ids, next_id)
    day_ids = select(Slot.id).where(
        Slot.site_id.in_(site_ids),
        Slot.starts_at < day_end,
        _candidate(Slot, after=max(after, day_start), reservations=reservations),
    )
    query = (
        select(Slot.id, Slot.site_id, Slot.starts_at, Slot.seats - _seats_taken(Slot))
        .where(Slot.id.in_(union_all(next_ids, day_ids).scalar_subquery()))
        .order_by(Slot.starts_at, Slot.site_id)
    )
    next_by_site: dict[int, OpenSlot] = {}
    day_by_site: dict[int, list[OpenSlot]] = {}
    for row in await session.execute(query):
        free = OpenSlot(*row)
        next_by_site.setdefault(free.site_id, free)
        if day_start <= free.starts_at < day_end:
            listed = day_by_site.setdefault(free.site_id, [])
            if len(listed) < per_site:
                listed.append(free)
    return DayOfSlots(next_by_site=next_by_site, day_by_site=day_by_site)
