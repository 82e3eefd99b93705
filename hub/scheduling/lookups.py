"""Finding bookings: by id or reference (with what their pages show), a patient's history and
no-shows, a day's or a week's bookings of some sites, those to move after the opening rules
changed, and the appointment a cabin's measurement belongs to."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, bindparam, func, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad

from hub.errors import NotFound
from hub.identity.queries import site_ids_of
from hub.scheduling.models import Booking, BookingStatus, Channel, Slot


async def with_relations(*, session: AsyncSession, booking: Booking) -> Booking:
    """The booking with its patient, site and slot: as it is when they are loaded (a booking
    just made), else reloaded."""
    loaded = inspect(booking).dict  # what is loaded (not the set of all that is not: slower)
    if "patient" in loaded and "site" in loaded and "slot" in loaded:
        return booking
    return await get_booking(session=session, booking_id=booking.id)


def with_patient_and_site() -> tuple[_AbstractLoad, ...]:
    """Loader options that read a booking's patient and site along with it (for the callers
    that load bookings through their own rows, such as a consultation's)."""
    return selectinload(Booking.patient), selectinload(Booking.site)


async def get_booking(*, session: AsyncSession, booking_id: int) -> Booking:
    """The booking with its patient, site and slot, fresh from the database."""
    booking = await session.scalar(
        select(Booking)
        .where(Booking.id == booking_id)
        .options(
            selectinload(Booking.patient), selectinload(Booking.site), selectinload(Booking.slot)
        )
        .execution_options(populate_existing=True)
    )
    if booking is None:
        raise NotFound("Rendez-vous introuvable.")
    return booking


async def booking_id_on_channel(
    *,
    session: AsyncSession,
    organisation_id: int,
    channel: Channel,
    reference: str,
    or_ids: Collection[int] = (),
) -> int | None:
    """The id of a booking made through this channel in this CPTS under this reference (or
    among ``or_ids``); else None."""
    matches = Booking.reference == reference.upper()
    if or_ids:
        matches = or_(matches, Booking.id.in_(or_ids))
    return await session.scalar(
        select(Booking.id)
        .where(
            matches,
            Booking.channel == channel,
            Booking.site_id.in_(site_ids_of(organisation_id)),
        )
        .limit(1)
    )


async def find_by_reference(*, session: AsyncSession, reference: str) -> Booking:
    """The booking under this reference (as the patient reads it out), as ``get_booking``."""
    booking_id = await session.scalar(
        select(Booking.id).where(Booking.reference == reference.strip().upper())
    )
    if booking_id is None:
        raise NotFound("Aucun rendez-vous ne porte cette référence.")
    return await get_booking(session=session, booking_id=booking_id)


async def patient_history(*, session: AsyncSession, patient_id: int) -> list[Booking]:
    """Every booking of the patient, newest first."""
    rows = await session.scalars(
        select(Booking)
        .where(Booking.patient_id == patient_id)
        .options(selectinload(Booking.site))
        .order_by(Booking.starts_at.desc())
    )
    return list(rows)


async def no_show_count(*, session: AsyncSession, patient_id: int) -> int:
    """How many of the patient's appointments were not honoured."""
    return int(
        await session.scalar(
            select(func.count()).where(
                Booking.patient_id == patient_id, Booking.status == BookingStatus.NO_SHOW
            )
        )
        or 0
    )


async def bookings_between(
    *, session: AsyncSession, site_ids: list[int], start: dt.datetime, end: dt.datetime
) -> list[Booking]:
    """The bookings (any status) of these sites in a time window, in order."""
    rows = await session.scalars(
        select(Booking)
        .where(Booking.site_id.in_(site_ids), Booking.starts_at >= start, Booking.starts_at < end)
        .options(selectinload(Booking.patient), selectinload(Booking.site))
        .order_by(Booking.starts_at, Booking.site_id)
    )
    return list(rows)


async def bookings_to_move(*, session: AsyncSession, site_ids: list[int]) -> list[Booking]:
    """Booked appointments whose slot no longer matches the opening rules."""
    rows = await session.scalars(
        select(Booking)
        .where(
            Booking.site_id.in_(site_ids),
            Booking.needs_moving.is_(True),
            Booking.status == BookingStatus.BOOKED,
        )
        .options(selectinload(Booking.patient), selectinload(Booking.site))
        .order_by(Booking.starts_at)
    )
    return list(rows)


IN_PROGRESS_BEFORE = dt.timedelta(minutes=30)
IN_PROGRESS_AFTER = dt.timedelta(minutes=60)


@dataclass(frozen=True, slots=True)
class InProgress:
    """The booked appointment a measurement belongs to, and its site."""

    booking_id: int
    site_id: int


def _in_progress_query(
    where: ColumnElement[bool],
) -> Select[int, dt.datetime, dt.datetime, int]:
    bookings, slots = Booking.__table__.c, Slot.__table__.c  # the tables: no ORM work per call
    return (
        select(bookings.id, bookings.starts_at, slots.ends_at, bookings.site_id)
        .join_from(Booking.__table__, Slot.__table__, slots.id == bookings.slot_id)
        .where(
            where,
            bookings.status == BookingStatus.BOOKED,
            bookings.starts_at <= bindparam("in_progress_latest"),
            slots.ends_at >= bindparam("in_progress_earliest"),
        )
    )


@functools.lru_cache(maxsize=16)
def _in_progress(also: Select[int] | None) -> Select[int, dt.datetime, dt.datetime, int]:
    """`bookings_in_progress`' query, built once per ``also`` query, its values bound."""
    bookings = Booking.__table__.c
    at_site = bookings.site_id == bindparam("in_progress_site_id")
    return _in_progress_query(at_site if also is None else or_(at_site, bookings.id.in_(also)))


async def bookings_in_progress(
    *,
    session: AsyncSession,
    site_id: int,
    moments: list[dt.datetime],
    also: Collection[int] | Select[int] = (),
    also_params: Mapping[str, object] | None = None,
) -> list[InProgress | None]:
    """For each moment a measurement was taken at a site, the booked appointment it belongs
    to: the one whose slot, widened by 30 min before and 60 min after, covers it, nearest
    start first (one query for the whole batch). ``also``: bookings at other sites the
    measuring cabin serves too (a mobile kit lent to them), as ids or as a query of them
    (then part of the same statement, ``also_params`` the values of its bound parameters:
    such a query built once makes the whole statement built once, as every measurement batch
    runs it)."""
    if not moments:
        return []
    params = {
        "in_progress_site_id": site_id,
        "in_progress_latest": max(moments) + IN_PROGRESS_BEFORE,
        "in_progress_earliest": min(moments) - IN_PROGRESS_AFTER,
        **(also_params or {}),
    }
    if isinstance(also, Select) or not also:
        statement = _in_progress(also if isinstance(also, Select) else None)
    else:
        bookings = Booking.__table__.c
        statement = _in_progress_query(
            or_(bookings.site_id == site_id, bookings.id.in_(list(also)))
        )
    rows = (await session.execute(statement, params)).all()
    result: list[InProgress | None] = []
    for at in moments:
        covering = [
            r for r in rows if r[1] <= at + IN_PROGRESS_BEFORE and r[2] >= at - IN_PROGRESS_AFTER
        ]
        nearest = min(covering, key=lambda r: abs((r[1] - at).total_seconds()), default=None)
        result.append(None if nearest is None else InProgress(int(nearest[0]), int(nearest[3])))
    return result
