"""Bookings: seats arbitrated by the database, cancellation, no-shows, the waiting list."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import db
from hub.config import Settings
from hub.errors import Conflict, Forbidden
from hub.identity import service as identity
from hub.identity.models import SiteKind
from hub.records.patient_service import PatientDraft, register_patient
from hub.records.patients import Sex
from hub.scheduling import booking as bk
from hub.scheduling.changes import cancel_booking, mark_no_show
from hub.scheduling.lookups import get_booking, no_show_count, patient_history
from hub.scheduling.models import BookingStatus, Channel, Reservation, Slot, WaitStatus
from hub.scheduling.waiting_list import accept_offer, join_waiting_list, offer_freed_slot

NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)  # Monday 8:00 in Paris


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.make_engine(settings.database_url)
    yield db.make_session_factory(engine)
    await engine.dispose()


async def _setup(session: AsyncSession) -> tuple[int, int, int]:
    org = await identity.create_organisation(session=session, name="CPTS", slug="cpts")
    site = await identity.create_site(
        session=session, organisation=org, name="Clos Mortier", kind=SiteKind.TELECONSULTATION_ROOM
    )
    other = await identity.create_site(
        session=session, organisation=org, name="La Noue", kind=SiteKind.TELECONSULTATION_ROOM
    )
    await session.commit()
    return org.id, site.id, other.id


async def _slot(
    session: AsyncSession,
    site_id: int,
    hours: float,
    seats: int = 1,
    reserved: Reservation | None = None,
) -> int:
    start = NOW + dt.timedelta(hours=hours)
    slot = Slot(
        site_id=site_id,
        starts_at=start,
        ends_at=start + dt.timedelta(minutes=20),
        seats=seats,
        reserved_for=reserved,
    )
    session.add(slot)
    await session.commit()
    return slot.id


async def _patient(session: AsyncSession, org_id: int, name: str) -> int:
    patient = await register_patient(
        session=session,
        organisation_id=org_id,
        today=NOW.date(),
        draft=PatientDraft(
            birth_name=name,
            first_names="Anne",
            birth_date=dt.date(1950, 3, 2),
            sex=Sex.FEMALE,
            phone="06 12 34 56 78",
        ),
    )
    await session.commit()
    return patient.id


def _request(slot_id: int, patient_id: int) -> bk.BookingRequest:
    return bk.BookingRequest(
        slot_id=slot_id,
        patient_id=patient_id,
        channel=Channel.PHONE,
        reason="Mal de gorge",
        care_requested_at=NOW,
    )


async def test_a_seat_cannot_be_booked_twice(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        org, site, _ = await _setup(s)
        slot = await _slot(s, site, 2)
        a, b = await _patient(s, org, "Durand"), await _patient(s, org, "Martin")
        first = await bk.book_slot(session=s, request=_request(slot, a), now=NOW)
        assert first.seat == 1 and first.reference.startswith("RDV-")
        with pytest.raises(Conflict, match="vient d'être pris"):
            await bk.book_slot(session=s, request=_request(slot, b), now=NOW)


async def test_simultaneous_bookings_fill_the_seats_exactly(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        org, site, _ = await _setup(s)
        slot = await _slot(s, site, 2, seats=3)
        patients = [await _patient(s, org, f"Patient{i}") for i in range(6)]

    async def attempt(patient_id: int) -> int | None:
        async with sessions() as own:
            try:
                booking = await bk.book_slot(
                    session=own, request=_request(slot, patient_id), now=NOW
                )
            except Conflict:
                return None
            return booking.seat

    seats = await asyncio.gather(*(attempt(p) for p in patients))
    assert sorted(s for s in seats if s is not None) == [1, 2, 3]
    assert seats.count(None) == 3


async def test_reserved_slots_are_refused_to_the_public(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        org, site, _ = await _setup(s)
        slot = await _slot(s, site, 2, reserved=Reservation.FACILITY)
        p = await _patient(s, org, "Durand")
        with pytest.raises(Forbidden, match="réservé aux résidents"):
            await bk.book_slot(session=s, request=_request(slot, p), now=NOW)
        booking = await bk.book_slot(
            session=s, request=_request(slot, p), now=NOW, may_use=frozenset({Reservation.FACILITY})
        )
        assert booking.status is BookingStatus.BOOKED


async def test_past_slots_cannot_be_booked(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        org, site, _ = await _setup(s)
        slot = await _slot(s, site, -1)
        p = await _patient(s, org, "Durand")
        with pytest.raises(Conflict, match="déjà passé"):
            await bk.book_slot(session=s, request=_request(slot, p), now=NOW)


async def test_cancelling_frees_the_seat(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        org, site, _ = await _setup(s)
        slot = await _slot(s, site, 2)
        a, b = await _patient(s, org, "Durand"), await _patient(s, org, "Martin")
        first = await bk.book_slot(session=s, request=_request(slot, a), now=NOW)
        await cancel_booking(session=s, booking=first, reason="empêchement", now=NOW)
        await s.commit()
        second = await bk.book_slot(session=s, request=_request(slot, b), now=NOW)
        assert second.seat == 1
        cancelled = await get_booking(session=s, booking_id=first.id)
        assert cancelled.status is BookingStatus.CANCELLED and cancelled.seat is None
        with pytest.raises(Conflict, match="déjà annulé"):
            await cancel_booking(session=s, booking=cancelled, reason="x", now=NOW)


async def test_no_show_only_after_the_start_and_kept_in_history(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        org, site, _ = await _setup(s)
        slot = await _slot(s, site, 1)
        p = await _patient(s, org, "Durand")
        booking = await bk.book_slot(session=s, request=_request(slot, p), now=NOW)
        with pytest.raises(Conflict, match="pas encore commencé"):
            await mark_no_show(session=s, booking=booking, now=NOW)
        await mark_no_show(session=s, booking=booking, now=NOW + dt.timedelta(hours=1, minutes=40))
        await s.commit()
        assert await no_show_count(session=s, patient_id=p) == 1
        history = await patient_history(session=s, patient_id=p)
        assert [b.status for b in history] == [BookingStatus.NO_SHOW]


async def test_a_cancellation_reaches_the_first_person_on_the_waiting_list(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        org, site, other = await _setup(s)
        tomorrow_14h = await _slot(s, site, 30)  # the slot that will be freed
        later_1 = await _slot(s, site, 50)
        later_2 = await _slot(s, other, 52)
        canceller, first, second = [await _patient(s, org, n) for n in ("Petit", "Roux", "Blanc")]
        freed = await bk.book_slot(session=s, request=_request(tomorrow_14h, canceller), now=NOW)
        b1 = await bk.book_slot(session=s, request=_request(later_1, first), now=NOW)
        b2 = await bk.book_slot(session=s, request=_request(later_2, second), now=NOW)
        e1 = await join_waiting_list(session=s, booking=b1, any_site=False, now=NOW)
        await join_waiting_list(
            session=s, booking=b2, any_site=True, now=NOW + dt.timedelta(minutes=1)
        )
        await s.commit()

        slot = await cancel_booking(session=s, booking=freed, reason="empêchement", now=NOW)
        offer = await offer_freed_slot(session=s, slot=slot, now=NOW, offer_minutes=120)
        await s.commit()
        assert offer is not None and offer.id == e1.id  # first come, first offered
        assert offer.offered_slot_id == tomorrow_14h
        assert offer.offer_expires_at == NOW + dt.timedelta(minutes=120)
        # Nobody else is offered the same seat meanwhile.
        assert await offer_freed_slot(session=s, slot=slot, now=NOW, offer_minutes=120) is None

        moved, left = await accept_offer(session=s, entry=offer, now=NOW + dt.timedelta(minutes=5))
        assert moved.slot_id == tomorrow_14h and moved.patient_id == first
        assert left.id == later_1
        # The slot they left goes to the next person waiting (any site allowed).
        next_offer = await offer_freed_slot(session=s, slot=left, now=NOW, offer_minutes=120)
        assert next_offer is not None and next_offer.booking_id == b2.id
        old = await get_booking(session=s, booking_id=b1.id)
        assert old.status is BookingStatus.CANCELLED


async def test_an_expired_offer_keeps_the_original_booking(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        org, site, _ = await _setup(s)
        early, late = await _slot(s, site, 10), await _slot(s, site, 40)
        a, b = await _patient(s, org, "Petit"), await _patient(s, org, "Roux")
        freed = await bk.book_slot(session=s, request=_request(early, a), now=NOW)
        waiting = await bk.book_slot(session=s, request=_request(late, b), now=NOW)
        await join_waiting_list(session=s, booking=waiting, any_site=False, now=NOW)
        slot = await cancel_booking(session=s, booking=freed, reason="", now=NOW)
        offer = await offer_freed_slot(session=s, slot=slot, now=NOW, offer_minutes=30)
        await s.commit()
        assert offer is not None
        with pytest.raises(Conflict, match="expiré"):
            await accept_offer(session=s, entry=offer, now=NOW + dt.timedelta(minutes=31))
        kept = await get_booking(session=s, booking_id=waiting.id)
        assert kept.status is BookingStatus.BOOKED and kept.slot_id == late
        assert offer.status is WaitStatus.WAITING
