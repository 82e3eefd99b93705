"""One booking, one transaction: whoever books (the patient online, the secretary on the phone,
a facility's staff, a SAS regulator), the patient is registered or matched under the identity
vigilance rules, the seat is taken and the confirmation and reminders are queued, in a single
commit. A crash anywhere before it leaves nothing behind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.context import HubContext
from hub.errors import Conflict, Invalid
from hub.notify import outbox
from hub.records import patient_service
from hub.records.patient_service import PatientDraft
from hub.records.vigilance import Actor
from hub.scheduling import booking as bk
from hub.scheduling import messages, notices, open_seats
from hub.scheduling.changes import cancel_booking, move_booking
from hub.scheduling.models import Booking, Channel, Reservation
from hub.scheduling.policy import hours_offsets, policy_for
from hub.scheduling.waiting_list import join_waiting_list

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
    the free seat the caller has just checked, tried first. Returns the booking with its
    columns, detached: its slot, site and patient are not loaded (``lookups.get_booking``
    reads them), but on the waiting list, where it is an object of the session."""
    if not reason.strip():
        raise Invalid("Indiquez le motif de la consultation.")
    checked = None if seat is None or seat.slot.id != slot_id else seat
    known = None if isinstance(patient, PatientDraft) else patient
    for _ in range(bk.BOOKING_ATTEMPTS):
        if waiting_list and (checked is None or (known is not None and checked.patient is None)):
            checked = await bk.free_seat(
                session=session, slot_id=slot_id, now=now, may_use=may_use, patient_id=known
            )  # the waiting list refers to the booking's object: read as objects
        free = None if checked is None else open_seats.of_seat(checked)
        if free is None or (known is not None and free.patient is None):
            free = await open_seats.open_seat(
                session=session, slot_id=slot_id, now=now, may_use=may_use, patient_id=known
            )  # the patient's contact, when known, is read with the slot
        contact = await _contact(
            session=session,
            organisation_id=organisation_id,
            patient=patient,
            seat=free,
            today=today or now.date(),
            actor=actor,
        )
        request = bk.BookingRequest(
            slot_id=slot_id,
            patient_id=contact.id,
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
            if waiting_list:
                assert checked is not None
                booking = await _on_waiting_list(
                    session=session, ctx=ctx, seat=checked, request=request, now=now
                )
            else:
                booking = await _booked(
                    session=session, ctx=ctx, seat=free, contact=contact, request=request, now=now
                )
        except IntegrityError:
            await session.rollback()  # someone took this seat (or the reference) first: retry
            checked = None
            continue
        if before_commit is not None:
            before_commit(booking)
        await session.commit()
        return booking
    raise Conflict("Ce créneau vient d'être pris. Choisissez-en un autre.")


async def _contact(
    *,
    session: AsyncSession,
    organisation_id: int,
    patient: PatientDraft | int,
    seat: open_seats.OpenSeat,
    today: dt.date,
    actor: Actor,
) -> open_seats.Contact:
    """The booking's patient: the draft registered or matched, or the record read with the
    seat (else read now, which refuses another CPTS's record)."""
    if isinstance(patient, PatientDraft):
        record = await patient_service.register_patient(
            session=session,
            organisation_id=organisation_id,
            draft=patient,
            today=today,
            actor=actor,
        )
    else:
        found = seat.patient
        if found is not None and found.organisation_id == organisation_id:
            return found
        record = await patient_service.get_patient(  # raises the refusal
            session=session, organisation_id=organisation_id, patient_id=patient
        )
    return open_seats.Contact(record.id, record.organisation_id, record.phone, record.email)


async def _booked(
    *,
    session: AsyncSession,
    ctx: HubContext,
    seat: open_seats.OpenSeat,
    contact: open_seats.Contact,
    request: bk.BookingRequest,
    now: dt.datetime,
) -> Booking:
    """Insert the booking and queue its messages from plain values, no ORM object read or
    flushed; raises IntegrityError when the seat (or the reference) was taken meanwhile. When
    the seat reserved the booking's id (PostgreSQL), the booking and its messages go in one
    statement; else the booking first, for its id."""
    row = open_seats.row_of(seat, request, now)
    if seat.booking_id is None:
        await open_seats.insert_row(session, row)
    hours = seat.reminder_hours
    if hours is None:  # the CPTS's first booking: its policy is created with the defaults
        policy = await policy_for(session=session, organisation_id=seat.organisation_id)
        hours = policy.reminder_hours
    notice = open_seats.notice(seat, row, contact)
    rows = notices.confirmation_rows(ctx, notice, now=now, offsets=hours_offsets(hours))
    along = None if seat.booking_id is None else bk.along(row)
    await outbox.insert_rows(session, rows, along=along)
    return open_seats.detached(row)


async def _on_waiting_list(
    *,
    session: AsyncSession,
    ctx: HubContext,
    seat: bk.Seat,
    request: bk.BookingRequest,
    now: dt.datetime,
) -> Booking:
    """Insert the booking as an object of the session, put it on the waiting list for an
    earlier slot and queue its messages; raises IntegrityError when the seat (or the
    reference) was taken meanwhile."""
    booking = await bk.insert_booking(session=session, seat=seat, request=request, now=now)
    await join_waiting_list(session=session, booking=booking, any_site=True, now=now)
    await messages.booking_made(
        session=session, ctx=ctx, booking=booking, now=now, policy=seat.policy
    )
    return booking


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
