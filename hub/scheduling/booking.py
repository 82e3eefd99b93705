"""Booking, cancelling, confirming, no-shows, and the waiting list."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy import Executable, Table, and_, bindparam, func, insert, inspect, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.strategy_options import _AbstractLoad

from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.identity.queries import organisation_of_site, site_ids_of, with_organisation
from hub.records import queries as record_queries
from hub.scheduling.models import (
    Booking,
    BookingPolicy,
    BookingStatus,
    Channel,
    Reservation,
    Slot,
    SlotState,
    WaitingListEntry,
    WaitStatus,
)

if TYPE_CHECKING:
    from hub.records.patients import Patient

logger = logging.getLogger(__name__)

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


async def reassign_patient(*, session: AsyncSession, from_id: int, to_id: int) -> int:
    """Move every booking of one patient record to another (identity merge); returns how many."""
    rows = list(await session.scalars(select(Booking).where(Booking.patient_id == from_id)))
    for booking in rows:
        booking.patient_id = to_id
    await session.flush()
    return len(rows)


async def _take_seat(
    *, session: AsyncSession, request: BookingRequest, now: dt.datetime
) -> Booking:
    """A new booking flushed in the caller's transaction (the caller queues its messages and
    commits); a seat taken meanwhile is refused."""
    try:
        return await add_booking(session=session, request=request, now=now)
    except IntegrityError:
        await session.rollback()
        raise Conflict("Ce créneau vient d'être pris. Choisissez-en un autre.") from None


async def move_booking(
    *, session: AsyncSession, booking: Booking, slot_id: int, now: dt.datetime
) -> Booking:
    """Move an appointment to another slot: the new seat is taken before the old one is freed;
    the caller queues the messages and commits."""
    _require_active(booking)
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
    new = await _take_seat(session=session, request=request, now=now)
    old = await get_booking(session=session, booking_id=old_id)
    await cancel_booking(session=session, booking=old, reason="déplacé", now=now)
    return new


async def with_relations(*, session: AsyncSession, booking: Booking) -> Booking:
    """The booking with its patient, site and slot: as it is when they are loaded (a booking
    just made), else reloaded."""
    if not inspect(booking).unloaded & {"patient", "site", "slot"}:
        return booking
    return await get_booking(session=session, booking_id=booking.id)


def with_patient_and_site() -> tuple[_AbstractLoad, ...]:
    """Loader options that read a booking's patient and site along with it (for the callers
    that load bookings through their own rows, such as a consultation's)."""
    return selectinload(Booking.patient), selectinload(Booking.site)


async def get_booking(*, session: AsyncSession, booking_id: int) -> Booking:
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
    booking_id = await session.scalar(
        select(Booking.id).where(Booking.reference == reference.strip().upper())
    )
    if booking_id is None:
        raise NotFound("Aucun rendez-vous ne porte cette référence.")
    return await get_booking(session=session, booking_id=booking_id)


def _require_active(booking: Booking) -> None:
    if booking.status is BookingStatus.CANCELLED:
        raise Conflict("Ce rendez-vous est déjà annulé.")
    if booking.status is BookingStatus.NO_SHOW:
        raise Conflict("Ce rendez-vous est déjà marqué « non honoré ».")


async def cancel_booking(
    *, session: AsyncSession, booking: Booking, reason: str, now: dt.datetime
) -> Slot:
    """Cancel and free the seat; returns the freed slot (offer it to the waiting list next)."""
    _require_active(booking)
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
    _require_active(booking)
    if booking.confirmed_at is None:
        booking.confirmed_at = now
    await session.flush()


async def mark_no_show(*, session: AsyncSession, booking: Booking, now: dt.datetime) -> None:
    """The patient did not come: the seat stays used, the no-show is kept in their history."""
    _require_active(booking)
    if booking.starts_at > now:
        raise Conflict(
            "Le rendez-vous n'a pas encore commencé : il ne peut pas être marqué non honoré."
        )
    booking.status = BookingStatus.NO_SHOW
    booking.no_show_at = now
    await session.flush()


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
    return int(
        await session.scalar(
            select(func.count()).where(
                Booking.patient_id == patient_id, Booking.status == BookingStatus.NO_SHOW
            )
        )
        or 0
    )


# --- waiting list ------------------------------------------------------------------------------


async def join_waiting_list(
    *, session: AsyncSession, booking: Booking, any_site: bool, now: dt.datetime
) -> WaitingListEntry:
    """The patient of this booking would take an earlier slot (at this site or any)."""
    _require_active(booking)
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
    new = await _take_seat(session=session, request=request, now=now)
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


async def bookings_in_progress(
    *,
    session: AsyncSession,
    site_id: int,
    moments: list[dt.datetime],
    also: Collection[int] = (),
) -> list[int | None]:
    """For each moment a measurement was taken at a site, the booked appointment it belongs
    to: the one whose slot, widened by 30 min before and 60 min after, covers it, nearest
    start first (one query for the whole batch). ``also``: bookings at other sites the
    measuring cabin serves too (a mobile kit lent to them)."""
    if not moments:
        return []
    rows = (
        await session.execute(
            select(Booking.id, Booking.starts_at, Slot.ends_at)
            .join(Slot, Slot.id == Booking.slot_id)
            .where(
                or_(Booking.site_id == site_id, Booking.id.in_(list(also)))
                if also
                else Booking.site_id == site_id,
                Booking.status == BookingStatus.BOOKED,
                Booking.starts_at <= max(moments) + IN_PROGRESS_BEFORE,
                Slot.ends_at >= min(moments) - IN_PROGRESS_AFTER,
            )
        )
    ).all()
    result: list[int | None] = []
    for at in moments:
        covering = [
            r for r in rows if r[1] <= at + IN_PROGRESS_BEFORE and r[2] >= at - IN_PROGRESS_AFTER
        ]
        nearest = min(covering, key=lambda r: abs((r[1] - at).total_seconds()), default=None)
        result.append(None if nearest is None else int(nearest[0]))
    return result
