"""The waiting list: a patient waits for an earlier slot, a freed slot is offered to the first
in line for a limited time, and the offer is accepted (the booking moves), declined or expires."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub.errors import Conflict
from hub.scheduling.booking import BookingRequest, take_seat
from hub.scheduling.changes import cancel_booking, require_active
from hub.scheduling.lookups import get_booking
from hub.scheduling.models import (
    Booking,
    BookingStatus,
    Slot,
    SlotState,
    WaitingListEntry,
    WaitStatus,
)

logger = logging.getLogger(__name__)


async def join_waiting_list(
    *, session: AsyncSession, booking: Booking, any_site: bool, now: dt.datetime
) -> WaitingListEntry:
    """The patient of this booking would take an earlier slot (at this site or any)."""
    require_active(booking)
    existing = await session.scalar(
        select(WaitingListEntry).where(
            WaitingListEntry.booking_id == booking.id, WaitingListEntry.status != WaitStatus.DONE
        )
    )
    if existing is not None:
        return existing
    entry = WaitingListEntry(
        booking_id=booking.id, site_id=None if any_site else booking.site_id, created_at=now
    )
    session.add(entry)
    await session.flush()
    return entry


async def offer_freed_slot(
    *, session: AsyncSession, slot: Slot, now: dt.datetime, offer_minutes: int
) -> WaitingListEntry | None:
    """Offer a freed slot to the first person waiting for an earlier one, if any."""
    if slot.state is not SlotState.OPEN or slot.starts_at <= now or slot.reserved_for is not None:
        return None
    used = await session.scalar(
        select(func.count()).where(Booking.slot_id == slot.id, Booking.seat.is_not(None))
    )
    already_offered = await session.scalar(
        select(func.count()).where(
            WaitingListEntry.offered_slot_id == slot.id,
            WaitingListEntry.status == WaitStatus.OFFERED,
        )
    )
    if (used or 0) + (already_offered or 0) >= slot.seats:
        return None
    candidates = await session.scalars(
        select(WaitingListEntry)
        .join(Booking, Booking.id == WaitingListEntry.booking_id)
        .where(
            WaitingListEntry.status == WaitStatus.WAITING,
            Booking.status == BookingStatus.BOOKED,
            Booking.starts_at > slot.starts_at,
            (WaitingListEntry.site_id.is_(None)) | (WaitingListEntry.site_id == slot.site_id),
        )
        .options(selectinload(WaitingListEntry.booking).selectinload(Booking.patient))
        .order_by(WaitingListEntry.created_at, WaitingListEntry.id)
        .limit(1)
    )
    entry = candidates.first()
    if entry is None:
        return None
    entry.status = WaitStatus.OFFERED
    entry.offered_slot_id = slot.id
    entry.offer_expires_at = min(now + dt.timedelta(minutes=offer_minutes), slot.starts_at)
    await session.flush()
    logger.info("freed slot %s offered to waiting-list entry %s", slot.id, entry.id)
    return entry


async def accept_offer(
    *, session: AsyncSession, entry: WaitingListEntry, now: dt.datetime
) -> tuple[Booking, Slot]:
    """Move the booking to the offered slot; returns the new booking and the slot it left. The
    caller queues the messages and commits."""
    if entry.status is not WaitStatus.OFFERED or entry.offered_slot_id is None:
        raise Conflict("Cette proposition n'est plus valable.")
    if entry.offer_expires_at is not None and entry.offer_expires_at <= now:
        entry.status = WaitStatus.WAITING
        entry.offered_slot_id = None
        await session.commit()
        raise Conflict("Cette proposition a expiré : votre rendez-vous initial est conservé.")
    old = await get_booking(session=session, booking_id=entry.booking_id)
    request = BookingRequest(
        slot_id=entry.offered_slot_id,
        patient_id=old.patient_id,
        channel=old.channel,
        reason=old.reason,
        care_requested_at=old.care_requested_at,
        booked_by_user_id=old.booked_by_user_id,
        booked_by_label=old.booked_by_label,
    )
    old_id = old.id
    entry.status = WaitStatus.DONE
    await session.flush()
    new = await take_seat(session=session, request=request, now=now)
    old = await get_booking(session=session, booking_id=old_id)
    left = await cancel_booking(
        session=session, booking=old, reason="avancé (liste d'attente)", now=now
    )
    return new, left


async def decline_offer(*, session: AsyncSession, entry: WaitingListEntry) -> Slot | None:
    """The patient keeps their booking; the slot may be offered to the next person."""
    slot = await session.get(Slot, entry.offered_slot_id) if entry.offered_slot_id else None
    entry.status = WaitStatus.DONE
    entry.offered_slot_id = None
    await session.flush()
    return slot


async def expire_offers(*, session: AsyncSession, now: dt.datetime) -> list[Slot]:
    """Offers past their time go back to waiting; returns their slots to offer again."""
    slots = []
    for entry in await session.scalars(
        select(WaitingListEntry).where(
            WaitingListEntry.status == WaitStatus.OFFERED, WaitingListEntry.offer_expires_at <= now
        )
    ):
        if entry.offered_slot_id is not None:
            slot = await session.get(Slot, entry.offered_slot_id)
            if slot is not None:
                slots.append(slot)
        entry.status = WaitStatus.DONE
        entry.offered_slot_id = None
    await session.flush()
    return slots
