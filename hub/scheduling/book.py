"""One booking, one transaction: whoever books (the patient online, the secretary on the phone,
a facility's staff, a SAS regulator), the patient is registered or matched under the identity
vigilance rules, the seat is taken and the confirmation and reminders are queued, in a single
commit. A crash anywhere before it leaves nothing behind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.context import HubContext
from hub.errors import Conflict, Invalid
from hub.notify import outbox
from hub.records import patient_service
from hub.records.patient_service import PatientDraft
from hub.records.vigilance import Actor
from hub.scheduling import booking as bk
from hub.scheduling import messages
from hub.scheduling.changes import cancel_booking, move_booking
from hub.scheduling.models import Booking, Channel, Reservation
from hub.scheduling.waiting_list import join_waiting_list

if TYPE_CHECKING:
    from hub.records.patients import Patient

PUBLIC = frozenset[Reservation | None]({None})


async def book(
    *,
    session: AsyncSession,
    ctx: HubContext,
    organisation_id: int,
    slot_id: int,
    patient: PatientDraft | int,
    channel: Channel,
    reason: str,
    now: dt.datetime,
    actor: Actor,
    today: dt.date | None = None,
    care_requested_at: dt.datetime | None = None,
    booked_by_user_id: int | None = None,
    booked_by_label: str = "",
    requester: tuple[str, str, str] = ("", "", ""),  # requesting doctor: name, MSSanté, RPPS
    may_use: frozenset[Reservation | None] = PUBLIC,
    waiting_list: bool = False,
    before_commit: Callable[[Booking], None] | None = None,
    seat: bk.Seat | None = None,
) -> Booking:
    """Book the slot for the patient (a draft to register or match, or a record's id) and queue
    its messages, committed together; a seat taken meanwhile is retried, then refused. ``seat``:
    the free seat the caller has just checked, tried first."""
    if not reason.strip():
        raise Invalid("Indiquez le motif de la consultation.")
    for _ in range(bk.BOOKING_ATTEMPTS):
        known = None if isinstance(patient, PatientDraft) else patient
        if seat is None or seat.slot.id != slot_id or (known is not None and seat.patient is None):
            seat = await bk.free_seat(
                session=session,
                slot_id=slot_id,
                now=now,
                may_use=may_use,
                patient_id=known,
                reserve_id=True,
            )  # the patient record, when known, is read with the slot
        record = await _patient_record(
            session=session,
            organisation_id=organisation_id,
            patient=patient,
            seat=seat,
            today=today or now.date(),
            actor=actor,
        )
        request = bk.BookingRequest(
            slot_id=slot_id,
            patient_id=record.id,
            channel=channel,
            reason=reason,
            care_requested_at=care_requested_at or now,
            booked_by_user_id=booked_by_user_id,
            booked_by_label=booked_by_label,
            requester_name=requester[0],
            requester_mssante=requester[1],
            requester_rpps=requester[2],
        )
        try:
            booking = await _booking_and_messages(
                session=session,
                ctx=ctx,
                seat=seat,
                request=request,
                patient=record,
                now=now,
                waiting_list=waiting_list,
            )
        except IntegrityError:
            await session.rollback()  # someone took this seat (or the reference) first: retry
            seat = None
            continue
        if before_commit is not None:
            before_commit(booking)
        await session.commit()
        return booking
    raise Conflict("Ce créneau vient d'être pris. Choisissez-en un autre.")


async def _patient_record(
    *,
    session: AsyncSession,
    organisation_id: int,
    patient: PatientDraft | int,
    seat: bk.Seat,
    today: dt.date,
    actor: Actor,
) -> Patient:
    """The booking's patient: the draft registered or matched, or the record read with the
    seat (else read now, which refuses another CPTS's record)."""
    if isinstance(patient, PatientDraft):
        return await patient_service.register_patient(
            session=session,
            organisation_id=organisation_id,
            draft=patient,
            today=today,
            actor=actor,
        )
    found = seat.patient
    if found is not None and found.organisation_id == organisation_id:
        return found
    return await patient_service.get_patient(  # raises the refusal
        session=session, organisation_id=organisation_id, patient_id=patient
    )


async def _booking_and_messages(
    *,
    session: AsyncSession,
    ctx: HubContext,
    seat: bk.Seat,
    request: bk.BookingRequest,
    patient: Patient,
    now: dt.datetime,
    waiting_list: bool,
) -> Booking:
    """Insert the booking and queue its messages; raises IntegrityError when the seat (or the
    reference) was taken meanwhile. When the seat reserved the booking's id (PostgreSQL), the
    booking and its messages go in one statement; else the booking first, for its id."""
    if seat.booking_id is None or waiting_list:  # the waiting list refers to the booking's row
        booking = await bk.insert_booking(session=session, seat=seat, request=request, now=now)
        if waiting_list:
            await join_waiting_list(session=session, booking=booking, any_site=True, now=now)
        await messages.booking_made(
            session=session, ctx=ctx, booking=booking, now=now, policy=seat.policy
        )
        return booking
    row = bk.booking_row(seat=seat, request=request, now=now)
    booking = bk.booking_of(row, seat, patient)
    await messages.booking_made(
        session=session, ctx=ctx, booking=booking, now=now, policy=seat.policy, along=bk.along(row)
    )
    return await bk.attach(session, booking)


async def cancel(
    *,
    session: AsyncSession,
    ctx: HubContext,
    booking: Booking,
    reason: str,
    now: dt.datetime,
) -> None:
    """Cancel a booking and tell the patient (pending reminders withdrawn), then offer the
    freed seat to the waiting list; the caller commits."""
    slot = await cancel_booking(session=session, booking=booking, reason=reason, now=now)
    await messages.booking_cancelled(session=session, ctx=ctx, booking=booking, now=now)
    await messages.offer_slot(session=session, ctx=ctx, slot=slot, now=now)


async def move(
    *, session: AsyncSession, ctx: HubContext, booking: Booking, slot_id: int, now: dt.datetime
) -> Booking:
    """Move a booking to another slot for the patient: the new seat is taken before the old one
    is freed, the old booking's pending reminders are withdrawn, the new booking's confirmation
    and reminders queued and the freed seat offered to the waiting list; the caller commits."""
    old_id, old_slot = booking.id, booking.slot
    new = await move_booking(session=session, booking=booking, slot_id=slot_id, now=now)
    await outbox.cancel_pending(session=session, related_kind=messages.RELATED, related_id=old_id)
    await messages.booking_made(session=session, ctx=ctx, booking=new, now=now)
    await messages.offer_slot(session=session, ctx=ctx, slot=old_slot, now=now)
    return new
