"""Booking a seat of a slot: the slot's rules (open, still to come, reserved for whom), its
free seat, the booking's insert and the retry when two bookers race for the last seat."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy import Executable, Table, and_, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.identity.queries import organisation_of_site, with_organisation
from hub.records import queries as record_queries
from hub.scheduling.models import (
    Booking,
    BookingPolicy,
    BookingStatus,
    Channel,
    Reservation,
    Slot,
    SlotState,
)

if TYPE_CHECKING:
    from hub.records.patients import Patient

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
BOOKING_ATTEMPTS = 5
BOOKINGS = cast(Table, Booking.__table__)
_INSERT_BOOKING = insert(BOOKINGS).returning(BOOKINGS.c.id)


def new_reference() -> str:
    """A booking reference a patient can read out on the phone, e.g. RDV-K7M2QX."""
    return "RDV-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


@dataclass(frozen=True, slots=True)
class BookingRequest:
    slot_id: int
    patient_id: int
    channel: Channel
    reason: str
    care_requested_at: dt.datetime
    booked_by_user_id: int | None = None
    booked_by_label: str = ""
    # The doctor who asked for the consultation: name, secure address, RPPS ("" when none).
    requester_name: str = ""
    requester_mssante: str = ""
    requester_rpps: str = ""


def _check_slot(
    slot: Slot | None, *, now: dt.datetime, may_use: frozenset[Reservation | None]
) -> Slot:
    if slot is None:
        raise NotFound("Ce créneau n'existe pas.")
    if slot.state is not SlotState.OPEN:
        raise Conflict("Ce créneau n'est plus proposé. Choisissez-en un autre.")
    if slot.starts_at <= now:
        raise Conflict("Ce créneau est déjà passé. Choisissez-en un autre.")
    if slot.reserved_for not in may_use:
        if slot.reserved_for is Reservation.FACILITY:
            raise Forbidden("Ce créneau est réservé aux résidents de l'établissement.")
        raise Forbidden("Ce créneau est réservé aux patients orientés par la régulation (SAS).")
    return slot


def _slot_query(with_patient: bool) -> Executable:
    organisation = organisation_of_site(Slot.site_id.expression)
    query = (
        select(Slot, Booking.seat, BookingPolicy)
        .outerjoin(Booking, and_(Booking.slot_id == Slot.id, Booking.seat.is_not(None)))
        .outerjoin(BookingPolicy, BookingPolicy.organisation_id == organisation)
        .where(Slot.id == bindparam("slot_id"))
        .options(with_organisation(joinedload(Slot.site)))
        .execution_options(populate_existing=True)
    )
    if with_patient:
        query = record_queries.with_patient(query, bindparam("patient_id"))
    return query


# Built once: building the statement cost as much as running it.
_SLOT_QUERIES = {False: _slot_query(False), True: _slot_query(True)}


async def _slot_and_seats(
    session: AsyncSession, slot_id: int, patient_id: int | None
) -> tuple[Slot | None, set[int], Patient | None, BookingPolicy | None]:
    """The slot (fresh from the database, with its site and CPTS), its seats held and its
    CPTS's booking policy (None if it has none yet), in one query; with the booking's patient
    too when asked, so that the booking and its messages need no other read."""
    query = _SLOT_QUERIES[patient_id is not None]
    params = (
        {"slot_id": slot_id}
        if patient_id is None
        else {"slot_id": slot_id, "patient_id": patient_id}
    )
    rows = (await session.execute(query, params)).all()
    if not rows:
        return None, set(), None, None
    first = tuple(rows[0])
    patient = cast("Patient | None", first[3]) if patient_id is not None else None
    return first[0], {row[1] for row in rows if row[1] is not None}, patient, first[2]


@dataclass(frozen=True, slots=True)
class Seat:
    """A free seat of a bookable slot, as seen when it was checked."""

    slot: Slot
    number: int
    patient: Patient | None = None  # read with the slot when the patient was known
    policy: BookingPolicy | None = None  # the CPTS's, read with the slot (None: none yet)


async def free_seat(
    *,
    session: AsyncSession,
    slot_id: int,
    now: dt.datetime,
    may_use: frozenset[Reservation | None] = frozenset({None}),
    patient_id: int | None = None,
) -> Seat:
    """The first free seat of the slot, or the reason it cannot be booked by this kind of booker
    now (one query, which also reads the patient when given). The database still arbitrates:
    the seat may be taken before the insert."""
    slot, used, patient, policy = await _slot_and_seats(session, slot_id, patient_id)
    slot = _check_slot(slot, now=now, may_use=may_use)
    free = [s for s in range(1, slot.seats + 1) if s not in used]
    if not free:
        raise Conflict("Ce créneau vient d'être pris. Choisissez-en un autre.")
    return Seat(slot=slot, number=free[0], patient=patient, policy=policy)


async def check_bookable(
    *,
    session: AsyncSession,
    slot_id: int,
    now: dt.datetime,
    may_use: frozenset[Reservation | None] = frozenset({None}),
) -> Slot:
    """Raise the reason a slot cannot be booked by this kind of booker now, if there is one."""
    return (await free_seat(session=session, slot_id=slot_id, now=now, may_use=may_use)).slot


async def insert_booking(
    *, session: AsyncSession, seat: Seat, request: BookingRequest, now: dt.datetime
) -> Booking:
    """Insert the booking on this seat, without committing; raises IntegrityError
    when a simultaneous booking took the seat (roll back and try again). The booking comes
    with its slot, site and patient, so that nothing needs reloading."""
    if not request.reason.strip():
        raise Invalid("Indiquez le motif de la consultation.")
    slot = seat.slot
    values = {  # every column, so that the object below is complete without a read
        "reference": new_reference(),
        "slot_id": slot.id,
        "seat": seat.number,
        "site_id": slot.site_id,
        "patient_id": request.patient_id,
        "starts_at": slot.starts_at,
        "channel": request.channel,
        "status": BookingStatus.BOOKED,
        "reason": request.reason.strip(),
        "care_requested_at": request.care_requested_at,
        "booked_by_user_id": request.booked_by_user_id,
        "booked_by_label": request.booked_by_label,
        "requester_name": request.requester_name,
        "requester_mssante": request.requester_mssante,
        "requester_rpps": request.requester_rpps,
        "confirmed_at": None,
        "cancelled_at": None,
        "cancel_reason": "",
        "no_show_at": None,
        "needs_moving": False,
        "link_nonce": secrets.token_hex(8),
        "created_at": now,
    }
    # A plain INSERT, not the unit of work's flush (a third of a booking's time), then the
    # row as a persistent object of the session, as a flush would have left it.
    inserted = await session.scalar(_INSERT_BOOKING, values)
    booking = Booking(id=inserted, **values)
    make_transient_to_detached(booking)
    session.add(booking)
    set_committed_value(booking, "slot", slot)
    set_committed_value(booking, "site", slot.site)
    if seat.patient is not None and seat.patient.id == request.patient_id:
        set_committed_value(booking, "patient", seat.patient)
    else:
        await session.run_sync(lambda _: booking.patient)  # no query when the patient is loaded
    return booking


async def add_booking(
    *,
    session: AsyncSession,
    request: BookingRequest,
    now: dt.datetime,
    may_use: frozenset[Reservation | None] = frozenset({None}),
) -> Booking:
    """Add a booking on a free seat of the slot and flush, without committing; raises
    IntegrityError when a simultaneous booking took the seat (roll back and try again)."""
    if not request.reason.strip():
        raise Invalid("Indiquez le motif de la consultation.")
    seat = await free_seat(
        session=session,
        slot_id=request.slot_id,
        now=now,
        may_use=may_use,
        patient_id=request.patient_id,
    )
    return await insert_booking(session=session, seat=seat, request=request, now=now)


async def book_slot(
    *,
    session: AsyncSession,
    request: BookingRequest,
    now: dt.datetime,
    may_use: frozenset[Reservation | None] = frozenset({None}),
) -> Booking:
    """Book a free seat of the slot and commit; the database arbitrates simultaneous bookings."""
    for _ in range(BOOKING_ATTEMPTS):
        try:
            booking = await add_booking(session=session, request=request, now=now, may_use=may_use)
            await session.commit()
        except IntegrityError:
            await session.rollback()  # someone took this seat (or the reference) first: retry
            continue
        return booking
    raise Conflict("Ce créneau vient d'être pris. Choisissez-en un autre.")


async def take_seat(*, session: AsyncSession, request: BookingRequest, now: dt.datetime) -> Booking:
    """A new booking flushed in the caller's transaction (the caller queues its messages and
    commits); a seat taken meanwhile is refused."""
    try:
        return await add_booking(session=session, request=request, now=now)
    except IntegrityError:
        await session.rollback()
        raise Conflict("Ce créneau vient d'être pris. Choisissez-en un autre.") from None
