"""Reads over the bookings table for the slices above scheduling (interop's reports to the SAS
platform), and the statement piece they compose into their own queries: the scheduling slice
knows its table, the caller composes."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub.identity.queries import site_ids_of
from hub.scheduling.models import Booking


def booking_ids_of(organisation_id: int) -> Select[int]:
    """The ids of a CPTS's bookings (at its sites), to use as ``x.in_(…)``."""
    return select(Booking.id).where(Booking.site_id.in_(site_ids_of(organisation_id)))


async def bookings_by_id(
    *, session: AsyncSession, booking_ids: Collection[int]
) -> dict[int, Booking]:
    """These bookings with their patient, site and slot loaded, by id."""
    if not booking_ids:
        return {}
    rows = await session.scalars(
        select(Booking)
        .where(Booking.id.in_(booking_ids))
        .options(
            selectinload(Booking.site), selectinload(Booking.patient), selectinload(Booking.slot)
        )
    )
    return {booking.id: booking for booking in rows}


async def references_of(*, session: AsyncSession, booking_ids: Collection[int]) -> dict[int, str]:
    """The reference of each of these bookings, by id."""
    if not booking_ids:
        return {}
    rows = await session.execute(
        select(Booking.id, Booking.reference).where(Booking.id.in_(booking_ids))
    )
    return {int(i): str(r) for i, r in rows.all()}
