"""The facts a signed report's documents are generated from, read from the database: the
session's measurements as the report shows them, the patient as shared documents may show them
(the INS only for a qualified identity), the professionals, the place."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from devices.catalogue import describe_device
from devices.measurements import KINDS, MeasurementKind
from hub.consultation import service as consultations
from hub.errors import Conflict, NotFound
from hub.identity import service as identity
from hub.identity.models import GENERAL_PRACTICE, SPECIALTIES
from hub.records import documents
from hub.records.patient_service import patient_by_id
from hub.records.patients import IdentityStatus
from hub.reports.facts import (
    OID_INS_NIA,
    OID_INS_NIR,
    MeasurementFacts,
    PatientFacts,
    PlaceFacts,
    ProfessionalFacts,
    ReportFacts,
)
from hub.reports.models import (
    ORIENTATION_LABELS,
    Report,
)

if TYPE_CHECKING:
    from hub.identity.models import User
    from hub.records.observations import Observation
    from hub.records.patients import Patient

TITLE = "Compte rendu de téléconsultation"

# The French labels of the device registry's measurement kinds.
MEASUREMENT_LABELS = {str(kind): info.label for kind, info in KINDS.items()}
# The oximeter streams a value a second: the report keeps the last one of each device.
STREAMED = frozenset(
    str(k)
    for k in (MeasurementKind.SPO2, MeasurementKind.PULSE_RATE, MeasurementKind.PERFUSION_INDEX)
)


def session_measurements(observations: list[Observation]) -> list[MeasurementFacts]:
    """The session's measurements as the report shows them: every blood pressure and
    temperature reading; for streamed values (oximeter), the last one of each device."""
    kept: list[Observation] = []
    last_streamed: dict[tuple[str, str], Observation] = {}
    for o in observations:
        if o.kind in STREAMED:
            last_streamed[(o.kind, o.device_name)] = o
        else:
            kept.append(o)
    kept.extend(last_streamed.values())
    kept.sort(key=lambda o: (o.measured_at, o.id))
    return [
        MeasurementFacts(
            at=o.measured_at.astimezone(dt.UTC),
            kind=o.kind,
            label=MEASUREMENT_LABELS.get(o.kind, o.kind),
            value=o.value,
            unit=o.unit,
            loinc=o.loinc,
            device=describe_device(o.device_model, serial=o.device_serial, fallback=o.device_name),
        )
        for o in kept
    ]


def measurements_of(report: Report) -> list[MeasurementFacts]:
    """The measurements frozen in a signed report."""
    return [
        MeasurementFacts(
            at=dt.datetime.fromisoformat(m["at"]),
            kind=m["kind"],
            label=m["label"],
            value=float(m["value"]),
            unit=m["unit"],
            loinc=m["loinc"],
            device=m["device"],
        )
        for m in json.loads(report.measurements_json)
    ]


def measurements_json(measurements: list[MeasurementFacts]) -> str:
    return json.dumps(
        [
            {
                "at": m.at.isoformat(),
                "kind": m.kind,
                "label": m.label,
                "value": m.value,
                "unit": m.unit,
                "loinc": m.loinc,
                "device": m.device,
            }
            for m in measurements
        ],
        ensure_ascii=False,
    )


def _professional(user: User, role: str) -> ProfessionalFacts:
    parts = user.full_name.replace("Dr ", "").split()
    given = parts[0] if len(parts) > 1 else ""
    family = " ".join(parts[1:]) if len(parts) > 1 else user.full_name
    if role == "doctor":
        code, label = SPECIALTIES.get(user.specialty, SPECIALTIES[GENERAL_PRACTICE])
        return ProfessionalFacts(
            user_id=user.id,
            family_name=family.upper(),
            given_name=given,
            rpps=user.rpps,
            role=role,
            speciality_code=code,
            speciality_label=label,
        )
    return ProfessionalFacts(
        user_id=user.id,
        family_name=family.upper(),
        given_name=given,
        rpps=user.rpps,
        role=role,
        profession_code="60",
        speciality_code="",
        speciality_label="Infirmier",
    )


def patient_facts(patient: Patient) -> PatientFacts:
    """The patient as shared documents may show them: the INS only for a qualified identity."""
    # A qualified identity has all five strict traits, the birth place among them.
    # The OID is INSi's answer: a number never returned by INSi is not an INS.
    qualified = (
        patient.identity_status is IdentityStatus.QUALIFIED
        and bool(patient.nir)
        and bool(patient.birth_place_code)
        and patient.ins_oid in (OID_INS_NIR, OID_INS_NIA)
    )
    ins_oid = patient.ins_oid if qualified else None
    return PatientFacts(
        local_id=str(patient.id),
        birth_name=patient.birth_name,
        first_names=patient.first_names,
        used_name=patient.used_name,
        birth_date=patient.birth_date,
        sex=patient.sex.value,
        birth_place_code=patient.birth_place_code,
        identity_status=patient.identity_status.value,
        ins=patient.nir if qualified else None,
        ins_oid=ins_oid,
        phone=patient.phone,
        email=patient.email,
    )


async def facts_of(*, session: AsyncSession, report: Report, oid_root: str = "") -> ReportFacts:
    """Everything the documents of a signed report are generated from (``oid_root``: the
    operator's registered OID, HUB_OID_ROOT, naming local identifiers; see ``local_oid``)."""
    consultation = await consultations.consultation_by_id(
        session=session, consultation_id=report.consultation_id
    )
    if consultation is None:
        raise NotFound("Consultation introuvable.")
    patient = await patient_by_id(session=session, patient_id=consultation.patient_id)
    site = await identity.get_site(session=session, site_id=consultation.site_id)
    assert patient is not None and site is not None
    organisation = await identity.get_organisation(
        session=session, organisation_id=site.organisation_id
    )
    assert organisation is not None
    doctor = (
        await identity.user_by_id(session=session, user_id=report.author_id)
        if report.author_id
        else None
    )
    if doctor is None:
        raise Conflict("Le compte rendu n'a pas d'auteur.")
    nurse = (
        await identity.user_by_id(session=session, user_id=consultation.nurse_id)
        if consultation.nurse_id
        else None
    )
    previous = await session.get(Report, report.replaces_id) if report.replaces_id else None
    signed_at = report.signed_at or report.updated_at
    started = consultation.started_at or consultation.arrived_at or signed_at
    return ReportFacts(
        consultation_id=consultation.id,
        report_id=report.id,
        document_oid=report.document_oid,
        set_oid=report.set_oid,
        version=report.version,
        replaces_oid=previous.document_oid if previous else None,
        title=TITLE,
        reason=report.reason,
        examination=report.examination,
        conclusion=report.conclusion,
        prescriptions=report.prescriptions,
        orientation=report.orientation.value,
        orientation_label=ORIENTATION_LABELS[report.orientation],
        doctor_act=report.doctor_act.value,
        nurse_act=report.nurse_act.value if report.nurse_act else None,
        amendment_reason=report.amendment_reason,
        confidentiality="N",
        started_at=started,
        ended_at=consultation.ended_at or signed_at,
        signed_at=signed_at,
        timezone=site.timezone,
        patient=patient_facts(patient),
        doctor=_professional(doctor, "doctor"),
        nurse=_professional(nurse, "nurse") if nurse and report.nurse_act else None,
        place=PlaceFacts(
            organisation_name=organisation.name,
            organisation_siret=organisation.siret,
            organisation_phone=organisation.phone,
            site_name=site.name,
            site_address=site.address,
            site_postcode=site.postcode,
            site_city=site.city,
            organisation_id=organisation.id,
            oid_root=oid_root,
        ),
        medecin_traitant_name=patient.medecin_traitant_name if patient.has_medecin_traitant else "",
        medecin_traitant_mssante=patient.medecin_traitant_mssante
        if patient.has_medecin_traitant
        else "",
        measurements=tuple(measurements_of(report)),
        medecin_traitant_rpps=patient.medecin_traitant_rpps if patient.has_medecin_traitant else "",
        medecin_traitant_family_name=patient.medecin_traitant_family_name
        if patient.has_medecin_traitant
        else "",
        medecin_traitant_given_name=patient.medecin_traitant_given_name
        if patient.has_medecin_traitant
        else "",
        hidden_from_patient=report.hidden_from_patient,
        masked=await documents.any_masked(session=session, set_id=report.set_oid),
    )
