"""Past teleconsultations of the demo CPTS, with signed reports: what an integrator opens to
check the generated documents (``python -m hub export-consultation``) and what the patient's
record page and the coordinator's indicators show in the demo.

Each one goes through the real code: the report is signed by ``report_service.sign`` (PDF and
CDA generated) and published (shared record, relay to the médecin traitant). Measurements
carry negative sequence numbers: agents number theirs from 1, so the demo cabin's own sequence
is not disturbed. Seeding is idempotent (a patient already seeded is skipped).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub.consultation import service as consultation_service
from hub.consultation.models import Consultation, DmpChoice, State
from hub.context import HubContext
from hub.demo import CLOS_MORTIER, DEMO_ORG_SLUG
from hub.identity.models import Cabin, Organisation, Site, User
from hub.insi.adapter import OID_INS_NIA, OID_INS_NIR
from hub.records.ins import name_key
from hub.records.observations import Observation
from hub.records.patients import IdentityStatus, Patient, Sex
from hub.relay import service as relay
from hub.reports import publication
from hub.reports import service as report_service
from hub.scheduling.models import Booking, BookingStatus, Channel, Slot

DEMO_SIRET = "90000000000009"  # a placeholder of the right shape: the demo CPTS has no SIRET


@dataclass(frozen=True, slots=True)
class PastCase:
    days_ago: int
    hour: int
    birth_name: str
    first_names: str
    birth_date: dt.date
    sex: Sex
    nir: str  # "" when unknown
    status: IdentityStatus
    mt_name: str  # "" = no médecin traitant
    mt_mssante: str
    dmp: DmpChoice
    reason: str
    examination: str
    conclusion: str
    prescriptions: str
    orientation: str
    psychiatric: bool
    # (kind, value, unit, LOINC, minutes after the start, device model, serial)
    measurements: tuple[tuple[str, float, str, str, int, str, str], ...]
    amendment: str = ""  # a correction signed as version 2
    birth_place: str = ""  # INSEE code


CUFF = ("Tensiomètre BLE (démo)", "BP-0007")
THERMO = ("Thermomètre BLE (démo)", "TH-0042")
OXI = ("Contec CMS50D+", "0015")

PAST_CASES = (
    PastCase(
        days_ago=12,
        hour=9,
        birth_name="GARNIER",
        first_names="Odette Marie",
        birth_date=dt.date(1949, 5, 17),
        sex=Sex.FEMALE,
        nir="249055244800197",
        birth_place="52448",
        status=IdentityStatus.QUALIFIED,
        mt_name="Dr Henri Lacombe (démonstration)",
        mt_mssante="henri.lacombe@demo.mssante.fr",
        dmp=DmpChoice.ACCEPTS,
        reason="Toux fébrile depuis trois jours",
        examination=(
            "Patiente fatiguée, eupnéique au repos. Auscultation : crépitants de la base "
            "droite. Gorge et tympans normaux."
        ),
        conclusion="Suspicion de pneumopathie communautaire sans signe de gravité.",
        prescriptions=(
            "Amoxicilline 1 g, 3 fois par jour pendant 7 jours.\n"
            "Paracétamol 1 g si fièvre, 4 fois par jour au plus.\n"
            "Radiographie thoracique de face."
        ),
        orientation="medecin_traitant",
        psychiatric=False,
        measurements=(
            ("body_temperature", 38.4, "Cel", "8310-5", 3, *THERMO),
            ("spo2", 95.0, "%", "59408-5", 4, *OXI),
            ("pulse_rate", 92.0, "/min", "8867-4", 4, *OXI),
            ("blood_pressure_systolic", 128.0, "mm[Hg]", "8480-6", 6, *CUFF),
            ("blood_pressure_diastolic", 79.0, "mm[Hg]", "8462-4", 6, *CUFF),
        ),
    ),
    PastCase(
        days_ago=8,
        hour=10,
        birth_name="HADDAD",
        first_names="Karim",
        birth_date=dt.date(1981, 11, 2),
        sex=Sex.MALE,
        nir="",
        status=IdentityStatus.VALIDATED,
        mt_name="",
        mt_mssante="",
        dmp=DmpChoice.OPPOSES,
        reason="Céphalées et tension élevée à la pharmacie",
        examination="Pas de déficit neurologique. Pas de douleur thoracique.",
        conclusion="Hypertension artérielle à confirmer par automesure.",
        prescriptions="Automesure tensionnelle : 3 mesures matin et soir pendant 3 jours.",
        orientation="medecin_relais",
        psychiatric=False,
        measurements=(
            ("blood_pressure_systolic", 152.0, "mm[Hg]", "8480-6", 5, *CUFF),
            ("blood_pressure_diastolic", 94.0, "mm[Hg]", "8462-4", 5, *CUFF),
            ("pulse_rate", 78.0, "/min", "8867-4", 5, *CUFF),
        ),
    ),
    PastCase(
        days_ago=4,
        hour=11,
        birth_name="LEFORT",
        first_names="Manon",
        birth_date=dt.date(1996, 2, 24),
        sex=Sex.FEMALE,
        nir="296027511200127",
        birth_place="75112",
        status=IdentityStatus.QUALIFIED,
        mt_name="Dr Henri Lacombe (démonstration)",
        mt_mssante="henri.lacombe@demo.mssante.fr",
        dmp=DmpChoice.ACCEPTS,
        reason="Anxiété et troubles du sommeil depuis un mois",
        examination="Entretien : anxiété généralisée, pas d'idées suicidaires. GAD-7 à 13.",
        conclusion="Trouble anxieux généralisé d'intensité modérée.",
        prescriptions="Orientation vers un psychologue (dispositif Mon soutien psy).",
        orientation="medecin_traitant",
        psychiatric=True,
        measurements=(),
        amendment="Ajout du suivi à quatre semaines demandé au médecin traitant.",
    ),
)


def _ctx_at(ctx: HubContext, when: dt.datetime) -> HubContext:
    return dataclasses.replace(ctx, clock=lambda: when)


async def seed_demo_history(*, session: AsyncSession, ctx: HubContext) -> list[int]:
    """Create the past consultations not yet there; return the ids of all of them."""
    org = await session.scalar(select(Organisation).where(Organisation.slug == DEMO_ORG_SLUG))
    if org is None:
        return []
    org.siret = org.siret or DEMO_SIRET
    site = await session.scalar(
        select(Site).where(Site.organisation_id == org.id, Site.name == CLOS_MORTIER)
    )
    doctor = await session.scalar(
        select(User).where(User.username == "medecin").options(selectinload(User.sites))
    )
    nurse = await session.scalar(
        select(User).where(User.username == "infirmiere").options(selectinload(User.sites))
    )
    cabin = await session.scalar(select(Cabin).where(Cabin.site_id == site.id)) if site else None
    if site is None or doctor is None or nurse is None or cabin is None:
        return []
    doctor.rpps = doctor.rpps or "10000000001"  # placeholders of the right shape
    nurse.rpps = nurse.rpps or "10000000002"
    ids = []
    for case in PAST_CASES:
        ids.append(await _seed_case(session, ctx, case, org, site, cabin, doctor, nurse))
    await session.commit()
    return ids


async def _seed_case(
    session: AsyncSession,
    ctx: HubContext,
    case: PastCase,
    org: Organisation,
    site: Site,
    cabin: Cabin,
    doctor: User,
    nurse: User,
) -> int:
    patient = await session.scalar(
        select(Patient).where(
            Patient.organisation_id == org.id,
            Patient.birth_name_key == name_key(case.birth_name),
            Patient.first_names == case.first_names,
            Patient.birth_date == case.birth_date,
        )
    )
    if patient is not None:
        existing = await session.scalar(
            select(Consultation.id).where(Consultation.patient_id == patient.id)
        )
        if existing is not None:
            return int(existing)
    else:
        patient = Patient(
            organisation_id=org.id,
            birth_name=case.birth_name,
            birth_name_key=name_key(case.birth_name),
            first_names=case.first_names,
            birth_date=case.birth_date,
            sex=case.sex,
            nir=case.nir,
            birth_place_code=case.birth_place,
            identity_status=case.status,
            # The demo's qualified identities stand for ones INSi returned (NIR or NIA).
            ins_oid=(OID_INS_NIA if case.nir[:1] in ("7", "8") else OID_INS_NIR)
            if case.status in (IdentityStatus.RETRIEVED, IdentityStatus.QUALIFIED)
            else "",
            has_medecin_traitant=bool(case.mt_name),
            medecin_traitant_name=case.mt_name,
            medecin_traitant_mssante=case.mt_mssante,
        )
        session.add(patient)
        await session.flush()
    today = ctx.clock().astimezone(dt.UTC).date()
    start = dt.datetime.combine(
        today - dt.timedelta(days=case.days_ago), dt.time(case.hour - 1), tzinfo=dt.UTC
    )
    consultation = await add_past_consultation(
        session,
        patient=patient,
        case=case,
        site=site,
        cabin=cabin,
        doctor=doctor,
        nurse=nurse,
        start=start,
    )
    signed_at = start + dt.timedelta(minutes=22)
    await _sign_and_publish(session, _ctx_at(ctx, signed_at), consultation, doctor, case, org)
    await consultation_service.transition(
        session=session,
        ctx=_ctx_at(ctx, signed_at),
        user=doctor,
        consultation_id=consultation.id,
        action="close",
    )
    if case.amendment:
        later = signed_at + dt.timedelta(hours=3)
        consultation = await session.get(Consultation, consultation.id) or consultation
        await report_service.amend(
            session=session,
            ctx=_ctx_at(ctx, later),
            user=doctor,
            consultation=consultation,
            reason=case.amendment,
        )
        amended = dataclasses.replace(
            case,
            prescriptions=case.prescriptions
            + "\nConsultation de suivi avec le médecin traitant dans quatre semaines.",
        )
        await _sign_and_publish(session, _ctx_at(ctx, later), consultation, doctor, amended, org)
    return consultation.id


async def add_past_consultation(
    session: AsyncSession,
    *,
    patient: Patient,
    case: PastCase,
    site: Site,
    cabin: Cabin,
    doctor: User,
    nurse: User,
    start: dt.datetime,
) -> Consultation:
    """A teleconsultation held at ``start`` (slot, booking, identity and consent checked, the
    case's measurements), ended and waiting for its report (state ``reporting``)."""
    slot = Slot(site_id=site.id, starts_at=start, ends_at=start + dt.timedelta(minutes=20), seats=1)
    session.add(slot)
    await session.flush()
    booking = Booking(
        reference=f"D{secrets.token_hex(4).upper()}",
        slot_id=slot.id,
        seat=1,
        site_id=site.id,
        patient_id=patient.id,
        starts_at=start,
        channel=Channel.PHONE,
        status=BookingStatus.BOOKED,
        reason=case.reason,
        care_requested_at=start - dt.timedelta(hours=20),
        booked_by_user_id=None,
        booked_by_label="Secrétariat (démonstration)",
        link_nonce=secrets.token_urlsafe(12),
        created_at=start - dt.timedelta(hours=20),
    )
    session.add(booking)
    await session.flush()
    consultation = Consultation(
        booking_id=booking.id,
        site_id=site.id,
        patient_id=patient.id,
        state=State.REPORTING,
        nurse_id=nurse.id,
        doctor_id=doctor.id,
        identity_document="cni",
        identity_checked_at=start - dt.timedelta(minutes=8),
        consent_at=start - dt.timedelta(minutes=7),
        dmp_choice=case.dmp,
        reason=case.reason,
        arrived_at=start - dt.timedelta(minutes=10),
        ready_at=start - dt.timedelta(minutes=2),
        started_at=start,
        ended_at=start + dt.timedelta(minutes=15),
        created_at=start - dt.timedelta(minutes=10),
    )
    session.add(consultation)
    lowest = await session.scalar(
        select(func.min(Observation.seq)).where(Observation.cabin_id == cabin.id)
    )
    seq = min(int(lowest or 0), 0)
    for kind, value, unit, loinc, minutes, model, serial in case.measurements:
        seq -= 1
        at = start + dt.timedelta(minutes=minutes)
        session.add(
            Observation(
                cabin_id=cabin.id,
                seq=seq,
                site_id=site.id,
                booking_id=booking.id,
                device_name=model,
                kind=kind,
                value=value,
                unit=unit,
                loinc=loinc,
                measured_at=at,
                stored_at=at,
                device_model=model,
                device_serial=serial,
            )
        )
    await session.flush()
    return consultation


async def _sign_and_publish(
    session: AsyncSession,
    ctx: HubContext,
    consultation: Consultation,
    doctor: User,
    case: PastCase,
    org: Organisation,
) -> None:
    if case.orientation == "medecin_relais" and not await relay.referrals_of(
        session=session, consultation_id=consultation.id
    ):
        accepting = await relay.directory(
            session=session, organisation_id=org.id, accepting_only=True
        )
        if accepting:
            await relay.refer(
                session=session,
                organisation_id=org.id,
                consultation_id=consultation.id,
                doctor_id=accepting[0].id,
                user_id=consultation.nurse_id or doctor.id,
                note="Patient sans médecin traitant, souhaite un suivi (démonstration).",
                site_name=CLOS_MORTIER,
                cpts_phone=org.phone,
                now=ctx.clock(),
            )
    await publication.sign_and_publish(
        session=session,
        ctx=ctx,
        user=doctor,
        consultation=consultation,
        draft=report_service.ReportDraft(
            reason=case.reason,
            examination=case.examination,
            conclusion=case.conclusion,
            prescriptions=case.prescriptions,
            orientation=case.orientation,
            doctor_act="TCG",
            nurse_act="TLL",
            psychiatric=case.psychiatric,
        ),
    )
