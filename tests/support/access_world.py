"""A CPTS with the same things at two sites, and one account per role acting at the first only:
what the access tests put in the routes' parameters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub import db
from hub.config import Settings
from hub.consultation.models import Capture, Consultation, Guest, GuestRole, State
from hub.identity import service as identity
from hub.identity.models import Cabin, Organisation, Role, Site
from hub.notify.models import Channel as MessageChannel
from hub.notify.models import MessageStatus, OutboundMessage
from hub.records.documents import SharedDocument
from hub.records.patient_service import PatientDraft, register_patient
from hub.records.patients import Sex
from hub.relay.models import RelayDoctor
from hub.reports.models import Report, ReportStatus
from hub.reports.mssante import PURPOSE_MEDECIN_TRAITANT, RELATED_KIND
from hub.scheduling import booking as bk
from hub.scheduling.models import Channel, Closure, OpeningRule, Reservation, Slot
from tests.support.factories import CLOS_MORTIER, LA_NOUE, ORG_SLUG, TEST_PASSWORD

PASSWORD = TEST_PASSWORD
# Who logs in for each role: an account acting for Clos Mortier only (the coordinator acts for
# the whole CPTS). The CPTS's nurse already acts there only; the others are created here.
ACCOUNTS = {
    Role.COORDINATOR: ("coordination", None),
    Role.SECRETARY: ("secretaire-clos", PASSWORD),
    Role.NURSE: ("infirmiere", None),
    Role.DOCTOR: ("medecin-clos", PASSWORD),
    Role.FACILITY_STAFF: ("personnel-clos", PASSWORD),
}
PATIENT_NAMES = {CLOS_MORTIER: ("Durand", "Anne"), LA_NOUE: ("Lefèvre", "Marc")}


@dataclass(frozen=True, slots=True)
class SiteThings:
    """One of everything a route can name, at one site; values as they go in a path."""

    values: dict[str, str]
    patient_name: str
    medecin_traitant: str


@dataclass(frozen=True, slots=True)
class World:
    own: SiteThings  # at Clos Mortier, where every account acts
    other: SiteThings  # at La Noue, where none but the coordinator does


async def _things_at(
    session: AsyncSession, site: Site, now: dt.datetime, doctor_id: int
) -> SiteThings:
    birth_name, first_names = PATIENT_NAMES[site.name]
    slot = Slot(
        site_id=site.id,
        starts_at=now + dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=1, minutes=20),
        seats=1,
    )
    spare = Slot(
        site_id=site.id,
        starts_at=now + dt.timedelta(days=2),
        ends_at=now + dt.timedelta(days=2, minutes=20),
        seats=1,
    )
    facility = Slot(
        site_id=site.id,
        starts_at=now + dt.timedelta(days=3),
        ends_at=now + dt.timedelta(days=3, minutes=30),
        seats=1,
        reserved_for=Reservation.FACILITY,
    )
    session.add_all([slot, spare, facility])
    medecin_traitant = f"Dr {birth_name} Généraliste"
    patient = await register_patient(
        session=session,
        organisation_id=site.organisation_id,
        today=now.date(),
        draft=PatientDraft(
            birth_name=birth_name,
            first_names=first_names,
            sex=Sex.FEMALE,
            birth_date=dt.date(1950, 1, 1),
            phone="0612345678",
            has_medecin_traitant=True,
            medecin_traitant_name=medecin_traitant,
            medecin_traitant_mssante="generaliste@medecin.mssante.fr",
        ),
    )
    await session.commit()
    booking = await bk.book_slot(
        session=session,
        now=now,
        request=bk.BookingRequest(
            slot_id=slot.id,
            patient_id=patient.id,
            channel=Channel.PHONE,
            reason="Toux",
            care_requested_at=now,
        ),
    )
    consultation = Consultation(
        booking_id=booking.id,
        site_id=site.id,
        patient_id=patient.id,
        state=State.ARRIVED,
        doctor_id=doctor_id,
    )
    session.add(consultation)
    await session.flush()
    capture = Capture(
        consultation_id=consultation.id,
        source="otoscope",
        mime_type="image/png",
        data=b"\x89PNG\r\n\x1a\n",
    )
    report = Report(
        consultation_id=consultation.id,
        document_oid=f"2.25.{site.id}1",
        set_oid=f"2.25.{site.id}2",
        status=ReportStatus.SIGNED,
        signed_at=now,
        pdf=b"%PDF-1.4 test",
        cda=b"<ClinicalDocument/>",
    )
    rule = OpeningRule(
        site_id=site.id,
        weekday=6,
        start_time=dt.time(9),
        end_time=dt.time(10),
        slot_minutes=20,
    )
    closure = Closure(site_id=site.id, start_date=dt.date(2030, 8, 1), end_date=dt.date(2030, 8, 2))
    session.add_all([capture, report, rule, closure])
    await session.flush()
    document = SharedDocument(
        organisation_id=site.organisation_id,
        patient_id=patient.id,
        report_id=report.id,
        unique_id=report.document_oid,
        set_id=report.set_oid,
        title="Compte rendu de téléconsultation",
        class_code="10",
        class_display="Compte rendu",
        type_code="85208-7",
        type_display="CR de télémédecine",
        format_code="urn:ihe:iti:xds-sd:pdf:2008",
        content=b"<ClinicalDocument/>",
        content_sha1="0" * 40,
        author_id=doctor_id,
    )
    relay = OutboundMessage(
        channel=MessageChannel.EMAIL,
        recipient="generaliste@medecin.mssante.fr",
        subject="Compte rendu",
        body_text="Compte rendu",
        body_html=None,
        purpose=PURPOSE_MEDECIN_TRAITANT,
        related_kind=RELATED_KIND,
        related_id=report.id,
        status=MessageStatus.FAILED,
        next_attempt_at=now,
        last_error="550 mailbox unavailable",
    )
    guest = Guest(
        consultation_id=consultation.id,
        role=GuestRole.INTERPRETER,
        invited_name="Interprète d'essai",
        email="interprete@example.org",
        token_hash=f"{site.id:064x}",
        expires_at=now + dt.timedelta(hours=1),
    )
    session.add_all([document, relay, guest])
    await session.flush()
    cabin = await session.scalar(select(Cabin).where(Cabin.site_id == site.id))
    assert cabin is not None
    await session.commit()
    return SiteThings(
        values={
            "site_id": str(site.id),
            "slot_id": str(spare.id),
            "facility_slot_id": str(facility.id),
            "patient_id": str(patient.id),
            # A patient whose identity is not pending: the route says there is nothing to resolve.
            "pending_id": str(patient.id),
            "booking_id": str(booking.id),
            "consultation_id": str(consultation.id),
            "capture_id": str(capture.id),
            "report_id": str(report.id),
            "document_id": str(document.id),
            "message_id": str(relay.id),
            "cabin_id": str(cabin.id),
            "rule_id": str(rule.id),
            "closure_id": str(closure.id),
            "guest_id": str(guest.id),
        },
        patient_name=f"{birth_name.upper()} {first_names}",
        medecin_traitant=medecin_traitant,
    )


async def build_world(settings: Settings) -> World:
    """The tests' CPTS (built already) with one of everything at Clos Mortier and at La Noue."""
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            now = dt.datetime.now(dt.UTC)
            org = await session.scalar(select(Organisation).where(Organisation.slug == ORG_SLUG))
            assert org is not None
            sites = {s.name: s for s in await session.scalars(select(Site))}
            doctor_id = 0
            for role, (username, password) in ACCOUNTS.items():
                if password is not None:
                    user = await identity.create_user(
                        session=session,
                        organisation=org,
                        username=username,
                        full_name=f"Compte de test ({role.label})",
                        role=role,
                        password=password,
                        sites=[sites[CLOS_MORTIER]],
                    )
                    if role is Role.DOCTOR:
                        doctor_id = user.id
            doctor = RelayDoctor(organisation_id=org.id, name="Dr Relais", city="Saint-Dizier")
            session.add(doctor)
            await session.commit()
            # The test doctor conducted both consultations and wrote both documents: what the
            # doctor may not do at La Noue is refused by the site, not by authorship.
            own = await _things_at(session, sites[CLOS_MORTIER], now, doctor_id)
            other = await _things_at(session, sites[LA_NOUE], now, doctor_id)
            shared = {"doctor_id": str(doctor.id), "slug": ORG_SLUG, "token": "x"}
            shared["appointment_id"] = "RDV-AAAAAA"
            own.values.update(shared)
            other.values.update(shared)
            return World(own=own, other=other)
    finally:
        await engine.dispose()


def form_for(things: SiteThings, path: str = "") -> dict[str, str]:
    """A form filled with the things of one site (the facility books its reserved slots)."""
    slot = "facility_slot_id" if path == "/etablissement/rdv" else "slot_id"
    return {
        "slot_id": things.values[slot],
        "action": "pret",
        "doctor_id": things.values["doctor_id"],
        "site_id": things.values["site_id"],
        "cabin_id": things.values["cabin_id"],
        "name": "Essai",
        "reason": "Toux",
        "birth_name": "Essai",
        "first_names": "Jean",
        "birth_date": "1960-02-03",
        "sex": "M",
        "has_mt": "non",
    }
