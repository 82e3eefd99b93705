"""Booking a seat of a slot: the slot's rules (open, still to come, reserved for whom), its
free seat, the booking's insert and the retry when two bookers race for the last seat."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy import Select, Table, and_, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.identity import queries as identity_queries
from hub.notify import outbox
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
INSERT_BOOKING = insert(BOOKINGS)
# The same INSERT with every value bound, to go in with the booking's messages (``along``).
_INSERT_BOUND = insert(BOOKINGS).values(
    {c.name: bindparam(f"booking_{c.name}", type_=c.type) for c in BOOKINGS.c}
)


def new_reference() -> str:
    """A booking reference a patient can read out on the phone, e.g. RDV-K7M2QX."""
    # 32 letters: the low 5 bits of a random byte pick one uniformly (256 = 8 × 32).
    return "RDV-" + "".join(REFERENCE_ALPHABET[b & 31] for b in secrets.token_bytes(6))


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
    check_rules(
        state=slot.state,
        starts_at=slot.starts_at,
        reserved_for=slot.reserved_for,
        now=now,
        may_use=may_use,
    )
    return slot


def check_rules(
    *,
    state: SlotState,
    starts_at: dt.datetime,
    reserved_for: Reservation | None,
    now: dt.datetime,
    may_use: frozenset[Reservation | None],
) -> None:
    """Raise the reason a slot in this state, at this time, reserved so, cannot be booked by
    this kind of booker now, if there is one."""
    if state is not SlotState.OPEN:
        raise Conflict("Ce créneau n'est plus proposé. Choisissez-en un autre.")
    if starts_at <= now:
        raise Conflict("Ce créneau est déjà passé. Choisissez-en un autre.")
    if reserved_for not in may_use:
        if reserved_for is Reservation.FACILITY:
            raise Forbidden("Ce créneau est réservé aux résidents de l'établissement.")
        raise Forbidden("Ce créneau est réservé aux patients orientés par la régulation (SAS).")


def _slot_query(with_patient: bool, reserve_id: bool) -> Select:  # type: ignore[type-arg]
    query = (
        identity_queries.with_site_and_organisation(select(Slot), Slot.site_id.expression)
        .add_columns(Booking.seat, BookingPolicy)
        .outerjoin(Booking, and_(Booking.slot_id == Slot.id, Booking.seat.is_not(None)))
        .outerjoin(
            BookingPolicy,
            BookingPolicy.organisation_id
            == identity_queries.organisation_of_site(Slot.site_id.expression),
        )
        .where(Slot.id == bindparam("slot_id"))
        .execution_options(populate_existing=True)
    )
    if with_patient:
        query = record_queries.with_patient(query, bindparam("patient_id"))
    if reserve_id:  # evaluated once (an uncorrelated scalar subquery), whatever the rows
        sequence = func.pg_get_serial_sequence(BOOKINGS.name, BOOKINGS.c.id.name)
        query = query.add_columns(select(func.nextval(sequence)).scalar_subquery())
    return query


# Built once: building the statement cost as much as running it.
_SLOT_QUERIES = {
    (patient, reserve): _slot_query(patient, reserve)
    for patient in (False, True)
    for reserve in (False, True)
}


@dataclass(frozen=True, slots=True)
class Seat:
    """A free seat of a bookable slot, as seen when it was checked."""

    slot: Slot
    number: int
    patient: Patient | None = None  # read with the slot when the patient was known
    policy: BookingPolicy | None = None  # the CPTS's, read with the slot (None: none yet)
    # The new booking's id, taken from the table's sequence with the read (PostgreSQL): the
    # booking can then go in with its messages, in one statement.
    booking_id: int | None = None


async def free_seat(
    *,
    session: AsyncSession,
    slot_id: int,
    now: dt.datetime,
    may_use: frozenset[Reservation | None] = frozenset({None}),
    patient_id: int | None = None,
    reserve_id: bool = False,
) -> Seat:
    """The first free seat of the slot, or the reason it cannot be booked by this kind of booker
    now, in one query: the slot fresh from the database with its site, CPTS, seats held and the
    CPTS's booking policy; the patient too when given; a new booking's id when ``reserve_id``
    and the database has sequences. The database still arbitrates: the seat may be taken
    before the insert."""
    reserve = reserve_id and session.get_bind().dialect.name == "postgresql"
    params: dict[str, int] = {"slot_id": slot_id}
    if patient_id is not None:
        params["patient_id"] = patient_id
    rows = (await session.execute(_SLOT_QUERIES[patient_id is not None, reserve], params)).all()
    if not rows:
        raise NotFound("Ce créneau n'existe pas.")
    first = tuple(rows[0])
    slot, site, organisation = cast(Slot, first[0]), first[1], first[2]
    identity_queries.attach_organisation(site, organisation)
    set_committed_value(slot, "site", site)
    slot = _check_slot(slot, now=now, may_use=may_use)
    used = {row[3] for row in rows if row[3] is not None}
    free = [s for s in range(1, slot.seats + 1) if s not in used]
    if not free:
        raise Conflict("Ce créneau vient d'être pris. Choisissez-en un autre.")
    rest = first[5:]
    return Seat(
        slot=slot,
        number=free[0],
        patient=cast("Patient | None", rest[0]) if patient_id is not None else None,
        policy=cast("BookingPolicy | None", first[4]),
        booking_id=int(rest[-1]) if reserve and rest[-1] is not None else None,
    )


async def check_bookable(
    *,
    session: AsyncSession,
    slot_id: int,
    now: dt.datetime,
    may_use: frozenset[Reservation | None] = frozenset({None}),
) -> Slot:
    """Raise the reason a slot cannot be booked by this kind of booker now, if there is one."""
    return (await free_seat(session=session, slot_id=slot_id, now=now, may_use=may_use)).slot


def booking_row(*, seat: Seat, request: BookingRequest, now: dt.datetime) -> dict[str, object]:
    """Every column of a new booking on this seat (its id too when the seat has reserved one)."""
    slot = seat.slot
    return new_row(
        slot_id=slot.id,
        site_id=slot.site_id,
        starts_at=slot.starts_at,
        seat=seat.number,
        booking_id=seat.booking_id,
        request=request,
        now=now,
    )


def new_row(
    *,
    slot_id: int,
    site_id: int,
    starts_at: dt.datetime,
    seat: int,
    booking_id: int | None,
    request: BookingRequest,
    now: dt.datetime,
) -> dict[str, object]:
    """Every column of a new booking on this seat of the slot (its id too when reserved)."""
    if not request.reason.strip():
        raise Invalid("Indiquez le motif de la consultation.")
    row: dict[str, object] = {} if booking_id is None else {"id": booking_id}
    row |= {
        "reference": new_reference(),
        "slot_id": slot_id,
        "seat": seat,
        "site_id": site_id,
        "patient_id": request.patient_id,
        "starts_at": starts_at,
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
    return row


def booking_of(row: dict[str, object], seat: Seat, patient: Patient | None = None) -> Booking:
    """The booking of this complete row (``booking_row`` with its id), with its slot and site
    as read with the seat, and its patient (given, or read with the seat); not in the session
    yet (``attach``)."""
    booking = Booking(**row)
    set_committed_value(booking, "slot", seat.slot)
    set_committed_value(booking, "site", seat.slot.site)
    if patient is None and seat.patient is not None and seat.patient.id == row["patient_id"]:
        patient = seat.patient
    if patient is not None:
        set_committed_value(booking, "patient", patient)
    return booking


def along(row: dict[str, object]) -> outbox.Along:
    """The INSERT of this complete booking row (with the id its seat reserved), to run with
    the booking's messages in one statement."""
    return outbox.Along(_INSERT_BOUND, {f"booking_{name}": value for name, value in row.items()})


async def attach(session: AsyncSession, booking: Booking) -> Booking:
    """Put a booking whose row was just inserted in the session, as a flush would have left it
    (its patient read from the session when it was not read with the seat)."""
    make_transient_to_detached(booking)
    session.add(booking)
    if "patient" not in booking.__dict__:
        await session.run_sync(lambda _: booking.patient)  # no query when the patient is loaded
    return booking


async def insert_booking(
    *, session: AsyncSession, seat: Seat, request: BookingRequest, now: dt.datetime
) -> Booking:
    """Insert the booking on this seat, without committing; raises IntegrityError
    when a simultaneous booking took the seat (roll back and try again). The booking comes
    with its slot, site and patient, so that nothing needs reloading."""
    row = booking_row(seat=seat, request=request, now=now)
    # A plain INSERT on the session's connection, not the unit of work's flush (a third of a
    # booking's time), then the row as a persistent object of the session.
    inserted = await (await session.connection()).execute(INSERT_BOOKING, row)
    key = inserted.inserted_primary_key  # RETURNING on PostgreSQL, lastrowid on SQLite
    assert key is not None
    row["id"] = key[0]
    return await attach(session, booking_of(row, seat))


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
