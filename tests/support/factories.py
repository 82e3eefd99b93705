"""Factories: what a hub test needs, built through the hub's own services, and the tests' own
small CPTS (``build_cpts``), so that no hub test depends on the demo's seed (``hub.demo``).

Each factory takes keyword arguments with plain defaults, flushes (never commits) and returns
the row. ``session_for(settings)`` opens a session on a test's database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub import db
from hub.config import Settings
from hub.consultation import service as consultation_service
from hub.consultation.models import Consultation, DmpChoice, State
from hub.context import HubContext
from hub.identity import service as identity
from hub.identity.models import Cabin, Organisation, Role, Site, SiteKind, User
from hub.records.observations import Observation
from hub.records.patient_service import PatientDraft, register_patient
from hub.records.patients import Patient, Sex
from hub.relay.models import RelayDoctor
from hub.reports import publication
from hub.reports import service as report_service
from hub.reports.service import ReportDraft
from hub.scheduling import booking as bk
from hub.scheduling.models import Booking, Channel, OpeningRule, Reservation, Slot
from hub.scheduling.slots import sync_horizon

# The tests' CPTS. Its names and accounts look like the demo's so the pages read the same,
# but they are the tests' own: the demo may change without breaking a hub test.
ORG_SLUG = "cpts-tests"
ORG_NAME = "CPTS des tests"
CLOS_MORTIER = "Cabinet du Clos Mortier"
LA_NOUE = "Cabinet de La Noue"
FACILITY = "Foyer d'accueil médicalisé Les Tilleuls"
MOBILE_KIT = "Kit mobile de la CPTS"
EMERGENCY_PHONES = {
    CLOS_MORTIER: "03 25 00 00 01",
    LA_NOUE: "03 25 00 00 02",
    FACILITY: "03 25 00 00 03",
    MOBILE_KIT: "03 25 00 00 04",
}
KINDS = {
    CLOS_MORTIER: SiteKind.TELECONSULTATION_ROOM,
    LA_NOUE: SiteKind.TELECONSULTATION_ROOM,
    FACILITY: SiteKind.DISABILITY_FACILITY,
    MOBILE_KIT: SiteKind.MOBILE_KIT,
}


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    password: str
    full_name: str
    role: Role
    sites: tuple[str, ...]


# One account per role; the passwords equal the demo's, so the tests still on the demo's seed
# (the agent gateway's and the booking pages') log in with the same ``login()``.
ACCOUNTS = (
    Account("coordination", "demo-coordination-52", "Claire Martin", Role.COORDINATOR, ()),
    Account(
        "secretariat",
        "demo-secretariat-52",
        "Sophie Bernard",
        Role.SECRETARY,
        (CLOS_MORTIER, LA_NOUE),
    ),
    Account("infirmiere", "demo-infirmiere-52", "Julie Petit", Role.NURSE, (CLOS_MORTIER,)),
    Account("medecin", "demo-medecin-52", "Dr Paul Durand", Role.DOCTOR, (CLOS_MORTIER, LA_NOUE)),
    Account(
        "etablissement",
        "demo-etablissement-52",
        "Nadia Leroy",
        Role.FACILITY_STAFF,
        (FACILITY, MOBILE_KIT),
    ),
)
PASSWORDS = {a.username: a.password for a in ACCOUNTS}

# Weekly openings: (site, weekday 0=Monday, start, end, slot minutes, seats, reserved for)
OPENINGS: tuple[tuple[str, int, str, str, int, int, Reservation | None], ...] = (
    *((CLOS_MORTIER, day, "08:00", "12:00", 20, 1, None) for day in (0, 1, 3)),
    *((CLOS_MORTIER, day, "14:00", "18:00", 20, 1, None) for day in (2, 4)),
    (CLOS_MORTIER, 4, "18:00", "19:00", 20, 1, Reservation.SAS),
    *((LA_NOUE, day, "08:00", "12:00", 20, 1, None) for day in (0, 2)),
    (LA_NOUE, 3, "14:00", "18:00", 20, 1, None),
    (FACILITY, 3, "14:00", "16:00", 30, 1, Reservation.FACILITY),
)
TEST_PASSWORD = "mot-de-passe-de-test-52"


@asynccontextmanager
async def session_for(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on the test's database (its engine disposed afterwards)."""
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def organisation(
    session: AsyncSession, *, name: str = ORG_NAME, slug: str = ORG_SLUG
) -> Organisation:
    org = await identity.create_organisation(session=session, name=name, slug=slug)
    org.phone = "03 25 00 00 00"
    org.email = "secretariat@cpts-tests.invalid"
    return org


async def site(
    session: AsyncSession,
    *,
    organisation: Organisation,
    name: str = CLOS_MORTIER,
    kind: SiteKind | None = None,
    emergency_phone: str | None = None,
) -> Site:
    return await identity.create_site(
        session=session,
        organisation=organisation,
        name=name,
        kind=kind or KINDS.get(name, SiteKind.TELECONSULTATION_ROOM),
        address=f"Adresse de {name}",
        postcode="52100",
        city="Saint-Dizier",
        opening_hours="Sur rendez-vous",
        emergency_contact_name="Médecin de garde du secteur",
        emergency_contact_phone=emergency_phone or EMERGENCY_PHONES.get(name, "03 25 00 00 09"),
    )


async def user(
    session: AsyncSession,
    *,
    organisation: Organisation,
    username: str,
    role: Role,
    sites: list[Site] | None = None,
    password: str = TEST_PASSWORD,
    full_name: str = "",
    specialty: str = "",
) -> User:
    return await identity.create_user(
        session=session,
        organisation=organisation,
        username=username,
        full_name=full_name or username.capitalize(),
        role=role,
        password=password,
        sites=sites or [],
        specialty=specialty,
    )


async def user_named(session: AsyncSession, username: str) -> User:
    """The user with that login, their sites loaded."""
    return (
        await session.scalars(
            select(User).where(User.username == username).options(selectinload(User.sites))
        )
    ).one()


async def cabin(session: AsyncSession, *, site: Site, name: str = "Chariot") -> tuple[Cabin, str]:
    """A cabin and its agent's token."""
    return await identity.create_cabin(session=session, site=site, name=name)


async def weekly_opening(
    session: AsyncSession,
    *,
    site: Site,
    weekday: int,
    start: str = "08:00",
    end: str = "12:00",
    slot_minutes: int = 20,
    seats: int = 1,
    reserved_for: Reservation | None = None,
) -> OpeningRule:
    rule = OpeningRule(
        site_id=site.id,
        weekday=weekday,
        start_time=dt.time.fromisoformat(start),
        end_time=dt.time.fromisoformat(end),
        slot_minutes=slot_minutes,
        seats=seats,
        reserved_for=reserved_for,
    )
    session.add(rule)
    await session.flush()
    return rule


async def slot(
    session: AsyncSession,
    *,
    site_id: int,
    starts_at: dt.datetime,
    minutes: int = 20,
    seats: int = 1,
    reserved_for: Reservation | None = None,
) -> Slot:
    made = Slot(
        site_id=site_id,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(minutes=minutes),
        seats=seats,
        reserved_for=reserved_for,
    )
    session.add(made)
    await session.flush()
    return made


async def patient(
    session: AsyncSession,
    *,
    organisation_id: int,
    today: dt.date,
    birth_name: str = "Lambert",
    first_names: str = "Odile",
    sex: Sex = Sex.FEMALE,
    birth_date: dt.date = dt.date(1958, 6, 1),
    phone: str = "06 11 22 33 44",
) -> Patient:
    return await register_patient(
        session=session,
        organisation_id=organisation_id,
        today=today,
        draft=PatientDraft(
            birth_name=birth_name,
            first_names=first_names,
            sex=sex,
            birth_date=birth_date,
            phone=phone,
        ),
    )


async def booking(
    session: AsyncSession,
    *,
    slot_id: int,
    patient_id: int,
    now: dt.datetime,
    channel: Channel = Channel.PHONE,
    reason: str = "Toux fébrile",
    requester: tuple[str, str, str] = ("", "", ""),  # the requesting doctor: name, MSSanté, RPPS
) -> Booking:
    """A booking through the booking service (it commits, as every booking does)."""
    return await bk.book_slot(
        session=session,
        now=now,
        request=bk.BookingRequest(
            slot_id=slot_id,
            patient_id=patient_id,
            channel=channel,
            reason=reason,
            care_requested_at=now - dt.timedelta(hours=3),
            requester_name=requester[0],
            requester_mssante=requester[1],
            requester_rpps=requester[2],
        ),
    )


async def consultation(
    session: AsyncSession,
    *,
    booking: Booking,
    state: State = State.IN_CONSULTATION,
    doctor_id: int | None = None,
) -> Consultation:
    made = Consultation(
        booking_id=booking.id,
        site_id=booking.site_id,
        patient_id=booking.patient_id,
        state=state,
        doctor_id=doctor_id,
    )
    session.add(made)
    await session.flush()
    return made


# A reading taken during a past consultation: kind, value, UCUM unit, LOINC, device model, and
# the minutes after the start.
Reading = tuple[str, float, str, str, str, int]
CUFF_READINGS: tuple[Reading, ...] = (
    ("blood_pressure_systolic", 138.0, "mm[Hg]", "8480-6", "Tensiomètre BLE", 5),
    ("blood_pressure_diastolic", 86.0, "mm[Hg]", "8462-4", "Tensiomètre BLE", 5),
    ("pulse_rate", 74.0, "/min", "8867-4", "Tensiomètre BLE", 5),
)


async def signed_consultation(
    session: AsyncSession,
    ctx: HubContext,
    *,
    cpts: Cpts,
    patient_id: int,
    start: dt.datetime,
    readings: Sequence[Reading] = (),
    amendment: str = "",
    draft: ReportDraft | None = None,
) -> int:
    """A teleconsultation at the Clos Mortier held at ``start`` (in the past) by the CPTS's
    nurse and doctor, with these readings from the Clos Mortier cabin; its report signed and
    published, the consultation closed; with an ``amendment``, a second version signed too.
    Commits; the consultation's id."""
    doctor = await identity.get_user(session=session, user_id=cpts.user_ids["medecin"])
    made_slot = await slot(session, site_id=cpts.site_ids[CLOS_MORTIER], starts_at=start)
    made_booking = await booking(
        session, slot_id=made_slot.id, patient_id=patient_id, now=start - dt.timedelta(days=1)
    )
    made = await consultation(
        session, booking=made_booking, state=State.REPORTING, doctor_id=doctor.id
    )
    made.nurse_id = cpts.user_ids["infirmiere"]
    made.dmp_choice = DmpChoice.ACCEPTS
    made.identity_document = "cni"
    made.arrived_at = start - dt.timedelta(minutes=10)
    made.identity_checked_at = start - dt.timedelta(minutes=8)
    made.consent_at = start - dt.timedelta(minutes=7)
    made.started_at = start
    made.ended_at = start + dt.timedelta(minutes=15)
    lowest = await session.scalar(
        select(func.min(Observation.seq)).where(Observation.cabin_id == cpts.cabin_id)
    )
    seq = min(int(lowest or 0), 0)  # below the agent's own numbering, which starts at 1
    for kind, value, unit, loinc, model, minutes in readings:
        seq -= 1
        at = start + dt.timedelta(minutes=minutes)
        session.add(
            Observation(
                cabin_id=cpts.cabin_id,
                seq=seq,
                site_id=made.site_id,
                booking_id=made_booking.id,
                device_name=model,
                kind=kind,
                value=value,
                unit=unit,
                loinc=loinc,
                measured_at=at,
                stored_at=at,
                device_model=model,
                device_serial="S1",
            )
        )
    await session.flush()
    draft = draft or ReportDraft(
        reason="Toux fébrile",
        examination="Crépitants de la base droite.",
        conclusion="Pneumopathie sans signe de gravité.",
        prescriptions="Amoxicilline 1 g × 3 par jour pendant 7 jours.",
    )
    await publication.sign_and_publish(
        session=session, ctx=ctx, user=doctor, consultation=made, draft=draft
    )
    await consultation_service.transition(
        session=session, ctx=ctx, user=doctor, consultation_id=made.id, action="close"
    )
    if amendment:
        made = await session.get(Consultation, made.id) or made
        await report_service.amend(
            session=session, ctx=ctx, user=doctor, consultation=made, reason=amendment
        )
        await publication.sign_and_publish(
            session=session,
            ctx=ctx,
            user=doctor,
            consultation=made,
            draft=dataclasses.replace(draft, prescriptions=f"{draft.prescriptions}\n{amendment}"),
        )
    return made.id


async def relay_doctor(
    session: AsyncSession,
    *,
    organisation_id: int,
    name: str = "Dr Anne Roy",
    city: str = "Saint-Dizier",
    accepts_new_patients: bool = True,
) -> RelayDoctor:
    made = RelayDoctor(
        organisation_id=organisation_id,
        name=name,
        city=city,
        phone="03 25 00 00 10",
        email="relais@medecin.mssante.fr",
        accepts_new_patients=accepts_new_patients,
    )
    session.add(made)
    await session.flush()
    return made


@dataclass(frozen=True, slots=True)
class Cpts:
    """The tests' CPTS: its four sites, one account per role, the Clos Mortier cabin."""

    organisation_id: int
    site_ids: dict[str, int]
    user_ids: dict[str, int]
    cabin_id: int
    cabin_token: str


async def build_cpts(session: AsyncSession, *, today: dt.date | None = None) -> Cpts:
    """Two teleconsultation rooms, a disability facility and a mobile kit, open as
    ``OPENINGS`` says (their slots made from ``today``); one account per role (``ACCOUNTS``);
    a cabin at Clos Mortier, La Noue and the mobile kit; two relay doctors, one accepting new
    patients."""
    org = await organisation(session)
    sites = {name: await site(session, organisation=org, name=name) for name in KINDS}
    for name, day, start, end, minutes, seats, reserved in OPENINGS:
        await weekly_opening(
            session,
            site=sites[name],
            weekday=day,
            start=start,
            end=end,
            slot_minutes=minutes,
            seats=seats,
            reserved_for=reserved,
        )
    for made in sites.values():
        await sync_horizon(session=session, site=made, today=today or dt.date.today())
    users = {
        a.username: await user(
            session,
            organisation=org,
            username=a.username,
            role=a.role,
            sites=[sites[n] for n in a.sites],
            password=a.password,
            full_name=a.full_name,
        )
        for a in ACCOUNTS
    }
    cabin_at_clos, token = await cabin(
        session, site=sites[CLOS_MORTIER], name="Chariot du Clos Mortier"
    )
    await cabin(session, site=sites[LA_NOUE], name="Chariot de La Noue")
    await cabin(session, site=sites[MOBILE_KIT], name="Kit mobile")
    await relay_doctor(session, organisation_id=org.id)
    await relay_doctor(
        session, organisation_id=org.id, name="Dr Luc Marchal", accepts_new_patients=False
    )
    await session.commit()
    return Cpts(
        organisation_id=org.id,
        site_ids={name: s.id for name, s in sites.items()},
        user_ids={name: u.id for name, u in users.items()},
        cabin_id=cabin_at_clos.id,
        cabin_token=token,
    )
