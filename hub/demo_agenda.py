"""Today's agenda of the demo room: patients booked at the Clos Mortier room today, two of them
having confirmed, so that a morning at the room (scenario 1) starts without booking first. On a
day the room is closed, a few demonstration slots are opened today for them. Idempotent: a day
that already has bookings at the room is left as it is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.identity.models import Site
from hub.records.patient_service import PatientDraft, register_patient
from hub.records.patients import Sex
from hub.scheduling import booking as bk
from hub.scheduling.changes import confirm_booking
from hub.scheduling.models import Booking, BookingStatus, Channel, Slot, SlotState

SLOT_MINUTES = 20


@dataclass(frozen=True, slots=True)
class WaitingPatient:
    draft: PatientDraft
    reason: str
    confirmed: bool


WAITING = (
    WaitingPatient(
        PatientDraft(
            birth_name="Moreau",
            first_names="Lucie",
            birth_date=dt.date(1987, 6, 2),
            sex=Sex.FEMALE,
            phone="0611223344",
            has_medecin_traitant=False,
        ),
        "Mal de gorge et fièvre depuis deux jours",
        confirmed=True,
    ),
    WaitingPatient(
        PatientDraft(
            birth_name="Girard",
            first_names="Henri",
            birth_date=dt.date(1947, 11, 23),
            sex=Sex.MALE,
            phone="0325998877",
            has_medecin_traitant=True,
            medecin_traitant_name="Dr Claire Vasseur",
            medecin_traitant_mssante="claire.vasseur@medecin.mssante.fr",
        ),
        "Renouvellement d'ordonnance, tension à contrôler",
        confirmed=True,
    ),
    WaitingPatient(
        PatientDraft(
            birth_name="Fontaine",
            first_names="Inès",
            birth_date=dt.date(2001, 3, 9),
            sex=Sex.FEMALE,
            phone="0677889900",
            has_medecin_traitant=False,
        ),
        "Douleur à l'oreille droite",
        confirmed=False,
    ),
)


async def seed_demo_agenda(*, session: AsyncSession, site: Site, now: dt.datetime) -> int:
    """Book the demo's waiting patients at ``site`` today; returns how many were booked."""
    zone = ZoneInfo(site.timezone)
    day = now.astimezone(zone).date()
    start = dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC)
    end = start + dt.timedelta(days=1)
    already = await session.scalar(
        select(Booking.id)
        .where(Booking.site_id == site.id, Booking.starts_at >= start, Booking.starts_at < end)
        .where(Booking.status == BookingStatus.BOOKED)
        .limit(1)
    )
    if already is not None:
        return 0
    slots = await _todays_slots(session, site, now, end)
    booked = 0
    for waiting, slot in zip(WAITING, slots, strict=False):
        patient = await register_patient(
            session=session, organisation_id=site.organisation_id, draft=waiting.draft, today=day
        )
        await session.flush()
        booked_at = slot.starts_at - dt.timedelta(days=1)
        booking = await bk.book_slot(
            session=session,
            now=booked_at,
            request=bk.BookingRequest(
                slot_id=slot.id,
                patient_id=patient.id,
                channel=Channel.PHONE,
                reason=waiting.reason,
                care_requested_at=booked_at,
                booked_by_label="Secrétariat (démonstration)",
            ),
        )
        if waiting.confirmed:
            await confirm_booking(session=session, booking=booking, now=booked_at)
        booked += 1
    await session.commit()
    return booked


async def _todays_slots(
    session: AsyncSession, site: Site, now: dt.datetime, end: dt.datetime
) -> list[Slot]:
    """Free general slots of the room for the rest of today, else demonstration slots opened
    today (the room may be closed today): from now on, and late in the evening earlier today
    too, never tomorrow (``end``: the end of today, in the room's time zone)."""
    free = list(
        await session.scalars(
            select(Slot)
            .where(
                Slot.site_id == site.id,
                Slot.starts_at > now,
                Slot.starts_at < end,
                Slot.state == SlotState.OPEN,
                Slot.reserved_for.is_(None),
            )
            .order_by(Slot.starts_at)
            .limit(len(WAITING))
        )
    )
    if len(free) == len(WAITING):
        return free
    opened: list[Slot] = []
    day_start = end - dt.timedelta(days=1)
    later = _next_boundary(now)  # from now on while today lasts, then earlier today (late
    earlier = later - dt.timedelta(minutes=SLOT_MINUTES)  # in the evening the room runs late)
    while len(opened) < len(WAITING):  # skipping a time the room has a slot of its own at
        if later + dt.timedelta(minutes=SLOT_MINUTES) <= end:
            starts, later = later, later + dt.timedelta(minutes=SLOT_MINUTES)
        elif earlier >= day_start:
            starts, earlier = earlier, earlier - dt.timedelta(minutes=SLOT_MINUTES)
        else:
            break  # a day has room for far more than the demo's patients
        taken = await session.scalar(
            select(Slot.id).where(Slot.site_id == site.id, Slot.starts_at == starts)
        )
        if taken is None:
            slot = Slot(
                site_id=site.id,
                starts_at=starts,
                ends_at=starts + dt.timedelta(minutes=SLOT_MINUTES),
                seats=1,
            )
            session.add(slot)
            opened.append(slot)
    await session.flush()
    return sorted(opened, key=lambda slot: slot.starts_at)


def _next_boundary(now: dt.datetime) -> dt.datetime:
    """The next start of a 20-minute slot after ``now`` (UTC)."""
    moment = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    return moment + dt.timedelta(minutes=SLOT_MINUTES - moment.minute % SLOT_MINUTES)
