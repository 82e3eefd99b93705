"""A slot's free seat as plain values, for the booking service (``hub.scheduling.book``): the
slot, its site and CPTS as the booking's messages name them, the CPTS's reminder setting and
the patient's contact, read in one Core query, and the booking's row written without ORM
objects. The same rules and refusals as ``booking.free_seat``, which reads ORM entities for
the pages that show them: the plain read costs a fraction (``bench/booking.py``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Select, and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from hub.errors import Conflict, NotFound
from hub.identity import queries as identity_queries
from hub.records import queries as record_queries
from hub.scheduling import booking as bk
from hub.scheduling.models import Booking, BookingPolicy, Reservation, Slot
from hub.scheduling.notices import Notice, Place

_SLOT_COLUMNS = (
    Slot.id,
    Slot.site_id,
    Slot.starts_at,
    Slot.ends_at,
    Slot.seats,
    Slot.state,
    Slot.reserved_for,
)


@dataclass(frozen=True, slots=True)
class Contact:
    """A patient's record as the booking needs it: whose, and where the messages go."""

    id: int
    organisation_id: int
    phone: str
    email: str


@dataclass(frozen=True, slots=True)
class OpenSeat:
    """A free seat of a bookable slot, as seen when it was checked, in plain values."""

    slot_id: int
    site_id: int
    organisation_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    number: int
    place: Place
    reminder_hours: str | None  # the CPTS's setting (None: no policy yet)
    patient: Contact | None = None  # read with the slot when the patient was known
    booking_id: int | None = None  # reserved from the sequence with the read (PostgreSQL)


def _query(with_patient: bool, reserve_id: bool) -> Select:  # type: ignore[type-arg]
    query = (
        identity_queries.with_place(select(*_SLOT_COLUMNS), Slot.site_id.expression)
        .add_columns(Booking.seat, BookingPolicy.reminder_hours)
        .outerjoin(Booking, and_(Booking.slot_id == Slot.id, Booking.seat.is_not(None)))
        .outerjoin(
            BookingPolicy,
            BookingPolicy.organisation_id
            == identity_queries.organisation_of_site(Slot.site_id.expression),
        )
        .where(Slot.id == bindparam("slot_id"))
    )
    if with_patient:
        query = record_queries.with_contact(query, bindparam("patient_id"))
    if reserve_id:  # evaluated once (an uncorrelated scalar subquery), whatever the rows
        sequence = func.pg_get_serial_sequence(bk.BOOKINGS.name, bk.BOOKINGS.c.id.name)
        query = query.add_columns(select(func.nextval(sequence)).scalar_subquery())
    return query


# Built once: building the statement cost as much as running it.
_QUERIES = {
    (patient, reserve): _query(patient, reserve)
    for patient in (False, True)
    for reserve in (False, True)
}


async def open_seat(
    *,
    session: AsyncSession,
    slot_id: int,
    now: dt.datetime,
    may_use: frozenset[Reservation | None],
    patient_id: int | None = None,
) -> OpenSeat:
    """The first free seat of the slot, or the reason it cannot be booked by this kind of
    booker now, in one query (the patient's contact too when given, a new booking's id where
    the database has sequences). The database still arbitrates: the seat may be taken before
    the insert."""
    reserve = session.get_bind().dialect.name == "postgresql"
    params: dict[str, int] = {"slot_id": slot_id}
    if patient_id is not None:
        params["patient_id"] = patient_id
    connection = await session.connection()
    rows = (await connection.execute(_QUERIES[patient_id is not None, reserve], params)).all()
    if not rows:
        raise NotFound("Ce créneau n'existe pas.")
    first = tuple(rows[0])
    slot_id, site_id, starts_at, ends_at, seats, state, reserved_for = first[:7]
    bk.check_rules(
        state=state, starts_at=starts_at, reserved_for=reserved_for, now=now, may_use=may_use
    )
    used = {row[16] for row in rows if row[16] is not None}
    free = [s for s in range(1, seats + 1) if s not in used]
    if not free:
        raise Conflict("Ce créneau vient d'être pris. Choisissez-en un autre.")
    name, address, postcode, city, timezone, org_id, org_name, org_slug, org_email = first[7:16]
    patient = None
    if patient_id is not None and first[18] is not None:
        patient = Contact(*cast(tuple[int, int, str, str], first[18:22]))
    return OpenSeat(
        slot_id=slot_id,
        site_id=site_id,
        organisation_id=org_id,
        starts_at=starts_at,
        ends_at=ends_at,
        number=free[0],
        place=Place(name, address, postcode, city, timezone, org_name, org_slug, org_email),
        reminder_hours=first[17],
        patient=patient,
        booking_id=int(first[-1]) if reserve and first[-1] is not None else None,
    )


def of_seat(seat: bk.Seat) -> OpenSeat:
    """The plain values of a seat read as ORM entities (its site's CPTS read with it)."""
    slot, site = seat.slot, seat.slot.site
    org = identity_queries.loaded_organisation(site)
    assert org is not None  # free_seat reads it with the site
    patient = seat.patient
    return OpenSeat(
        slot_id=slot.id,
        site_id=slot.site_id,
        organisation_id=org.id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        number=seat.number,
        place=Place(
            site.name,
            site.address,
            site.postcode,
            site.city,
            site.timezone,
            org.name,
            org.slug,
            org.email,
        ),
        reminder_hours=None if seat.policy is None else seat.policy.reminder_hours,
        patient=None
        if patient is None
        else Contact(patient.id, patient.organisation_id, patient.phone, patient.email),
        booking_id=seat.booking_id,
    )


def row_of(seat: OpenSeat, request: bk.BookingRequest, now: dt.datetime) -> dict[str, object]:
    """Every column of a new booking on this seat (its id too when the seat reserved one)."""
    return bk.new_row(
        slot_id=seat.slot_id,
        site_id=seat.site_id,
        starts_at=seat.starts_at,
        seat=seat.number,
        booking_id=seat.booking_id,
        request=request,
        now=now,
    )


async def insert_row(session: AsyncSession, row: dict[str, object]) -> None:
    """Insert this booking row, its id (generated) set in it; raises IntegrityError when the
    seat was taken meanwhile."""
    inserted = await (await session.connection()).execute(bk.INSERT_BOOKING, row)
    key = inserted.inserted_primary_key  # RETURNING on PostgreSQL, lastrowid on SQLite
    assert key is not None
    row["id"] = key[0]


def notice(seat: OpenSeat, row: dict[str, object], contact: Contact) -> Notice:
    """What the messages of the booking of this complete row (with its id) say."""
    return Notice(
        booking_id=cast(int, row["id"]),
        reference=cast(str, row["reference"]),
        link_nonce=cast(str, row["link_nonce"]),
        starts_at=seat.starts_at,
        ends_at=seat.ends_at,
        place=seat.place,
        phone=contact.phone,
        email=contact.email,
    )


def detached(row: dict[str, object]) -> Booking:
    """The booking of this complete row, written already, as a detached object: its columns
    read, its slot, site and patient not loaded (read them with ``lookups.get_booking``)."""
    booking = Booking(**row)
    make_transient_to_detached(booking)
    return booking
