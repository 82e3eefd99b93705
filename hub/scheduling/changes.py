"""What happens to a booking once made: moved to another slot, cancelled (its seat freed),
confirmed by the patient, marked not honoured, or handed to another patient record when two
records of one person are merged."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Conflict
from hub.scheduling.booking import BookingRequest, take_seat
from hub.scheduling.lookups import get_booking
from hub.scheduling.models import Booking, BookingStatus, Slot, WaitingListEntry, WaitStatus


async def reassign_patient(*, session: AsyncSession, from_id: int, to_id: int) -> int:
    """Move every booking of one patient record to another (identity merge); returns how many."""
    rows = list(await session.scalars(select(Booking).where(Booking.patient_id == from_id)))
    for booking in rows:
        booking.patient_id = to_id
    await session.flush()
    return len(rows)


async def move_booking(
    *, session: AsyncSession, booking: Booking, slot_id: int, now: dt.datetime
) -> Booking:
    """Move an appointment to another slot: the new seat is taken before the old one is freed;
    the caller queues the messages and commits."""
    require_active(booking)
    if slot_id == booking.slot_id:
        raise Conflict("Le rendez-vous est déjà sur ce créneau.")
    request = BookingRequest(
        slot_id=slot_id,
        patient_id=booking.patient_id,
        channel=booking.channel,
        reason=booking.reason,
        care_requested_at=booking.care_requested_at,
        booked_by_user_id=booking.booked_by_user_id,
        booked_by_label=booking.booked_by_label,
    )
    old_id = booking.id
    new = await take_seat(session=session, request=request, now=now)
    old = await get_booking(session=session, booking_id=old_id)
    await cancel_booking(session=session, booking=old, reason="déplacé", now=now)
    return new


def require_active(booking: Booking) -> None:
    """Raise why a cancelled or not-honoured booking cannot change any more."""
    if booking.status is BookingStatus.CANCELLED:
        raise Conflict("Ce rendez-vous est déjà annulé.")
    if booking.status is BookingStatus.NO_SHOW:
        raise Conflict("Ce rendez-vous est déjà marqué « non honoré ».")


async def cancel_booking(
    *, session: AsyncSession, booking: Booking, reason: str, now: dt.datetime
) -> Slot:
    """Cancel and free the seat; returns the freed slot (offer it to the waiting list next)."""
    require_active(booking)
    if booking.starts_at <= now:
        raise Conflict("Ce rendez-vous est déjà passé : il ne peut plus être annulé.")
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    booking.cancel_reason = reason[:200]
    booking.seat = None
    for entry in await session.scalars(
        select(WaitingListEntry).where(
            WaitingListEntry.booking_id == booking.id, WaitingListEntry.status != WaitStatus.DONE
        )
    ):
        entry.status = WaitStatus.DONE
    await session.flush()
    return booking.slot


async def confirm_booking(*, session: AsyncSession, booking: Booking, now: dt.datetime) -> None:
    """The patient confirmed they will come (from a reminder's link)."""
    require_active(booking)
    if booking.confirmed_at is None:
        booking.confirmed_at = now
    await session.flush()


async def mark_no_show(*, session: AsyncSession, booking: Booking, now: dt.datetime) -> None:
    """The patient did not come: the seat stays used, the no-show is kept in their history."""
    require_active(booking)
    if booking.starts_at > now:
        raise Conflict(
            "Le rendez-vous n'a pas encore commencé : il ne peut pas être marqué non honoré."
        )
    booking.status = BookingStatus.NO_SHOW
    booking.no_show_at = now
    await session.flush()
