"""The French PDF of a signed teleconsultation report ("compte rendu de téléconsultation"), as
the médecin traitant and the patient receive it. A pure function of the report's facts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.lib.units import mm
from reportlab.platypus import Spacer

from devices.measurements import display_unit
from hub.reports.facts import OID_INS_NIR, MeasurementFacts, ProfessionalFacts, ReportFacts
from hub.reports.models import ACT_LABELS
from hub.reports.pdf_style import (
    CONTENT_WIDTH,
    PdfMeta,
    build_pdf,
    heading,
    labelled,
    paragraph,
    table,
    text_block,
)

SEX_LABELS = {"F": "Féminin", "M": "Masculin", "I": "Indéterminé"}
IDENTITY_STATUS_LABELS = {
    "provisoire": "Identité provisoire",
    "recuperee": "Identité récupérée",
    "validee": "Identité validée",
    "qualifiee": "Identité qualifiée",
}
NO_MEASUREMENT = "Aucune mesure pendant la séance"
NO_MEDECIN_TRAITANT = "Aucun médecin traitant déclaré"


def render_report_pdf(facts: ReportFacts) -> bytes:
    """Return the A4 PDF of the report, identical bytes for identical facts."""
    tz = ZoneInfo(facts.timezone)
    patient = facts.patient
    meta = PdfMeta(
        title=facts.title,
        author=doctor_name(facts.doctor),
        subject=f"Téléconsultation du {_date(facts.started_at, tz)}, {facts.place.site_name}",
        header=f"{facts.place.organisation_name} — {facts.title} — {_patient_line(facts)}",
        footer=f"{_patient_line(facts)}, {_born(patient.sex)} le {patient.birth_date:%d/%m/%Y}",
        created=facts.signed_at,
    )
    return build_pdf(lambda: _story(facts, tz), meta)


def doctor_name(doctor: ProfessionalFacts) -> str:
    """The doctor as printed: "Dr Claire DURAND"."""
    return f"Dr {doctor.given_name} {doctor.family_name}".strip()


def format_value(value: float, unit: str) -> str:
    """A measured value as a French reader writes it: "38,4 °C", "95 %", "128 mmHg"."""
    number = f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")
    if number == "-0":
        number = "0"
    return f"{number} {display_unit(unit)}".strip()  # UCUM as people read it


def _story(facts: ReportFacts, tz: ZoneInfo) -> list[Any]:
    return [
        *_header(facts),
        *heading("Patient"),
        *_patient(facts),
        *heading("Téléconsultation"),
        *_session(facts, tz),
        *heading("Motif"),
        *text_block(facts.reason),
        *heading("Examen"),
        *text_block(facts.examination),
        *heading("Mesures"),
        _measurements(facts, tz),
        *heading("Conclusion"),
        *text_block(facts.conclusion),
        *heading("Prescriptions"),
        *text_block(facts.prescriptions, empty="Aucune prescription"),
        *heading("Orientation"),
        *text_block(facts.orientation_label),
        *heading("Actes"),
        *_acts(facts),
        Spacer(1, 6 * mm),
        paragraph(_signature(facts, tz), "strong"),
    ]


def _header(facts: ReportFacts) -> list[Any]:
    place = facts.place
    address = ", ".join(
        part
        for part in (place.site_address, f"{place.site_postcode} {place.site_city}".strip())
        if part
    )
    lines = [paragraph(place.organisation_name, "subtitle"), paragraph(place.site_name)]
    if address:
        lines.append(paragraph(address))
    if place.organisation_phone:
        lines.append(paragraph(f"Tél. {place.organisation_phone}"))
    lines.append(paragraph(facts.title, "title"))
    if facts.version > 1:
        lines.append(
            paragraph(f"Version {facts.version} — remplace la version précédente", "strong")
        )
        if facts.amendment_reason.strip():
            lines += labelled([("Motif de la modification", facts.amendment_reason)])
    return lines


def _patient(facts: ReportFacts) -> list[Any]:
    patient = facts.patient
    pairs = [("Nom de naissance", patient.birth_name)]
    if patient.used_name and patient.used_name != patient.birth_name:
        pairs.append(("Nom utilisé", patient.used_name))
    pairs += [
        ("Prénom(s)", patient.first_names),
        ("Sexe", SEX_LABELS.get(patient.sex, patient.sex)),
        ("Date de naissance", f"{patient.birth_date:%d/%m/%Y}"),
        ("Lieu de naissance (code INSEE)", patient.birth_place_code or "inconnu"),
        (
            "Statut de l'identité",
            IDENTITY_STATUS_LABELS.get(patient.identity_status, patient.identity_status),
        ),
    ]
    if patient.ins is not None:
        kind = "NIR" if patient.ins_oid == OID_INS_NIR else "NIA"
        pairs.append(("Matricule INS", f"{patient.ins} ({kind})"))
    pairs.append(("Médecin traitant", facts.medecin_traitant_name or NO_MEDECIN_TRAITANT))
    return labelled(pairs)


def _session(facts: ReportFacts, tz: ZoneInfo) -> list[Any]:
    place = facts.place
    doctor = facts.doctor
    doctor_text = doctor_name(doctor)
    if doctor.speciality_label:
        doctor_text += f", {doctor.speciality_label}"
    if doctor.rpps:
        doctor_text += f" (RPPS {doctor.rpps})"
    pairs = [
        ("Date", _date(facts.started_at, tz)),
        ("Horaires", f"de {_hhmm(facts.started_at, tz)} à {_hhmm(facts.ended_at, tz)}"),
        ("Lieu", f"{place.site_name}, {place.site_city}" if place.site_city else place.site_name),
        ("Médecin téléconsultant", doctor_text),
    ]
    if facts.nurse is not None:
        nurse = facts.nurse
        nurse_text = f"{nurse.given_name} {nurse.family_name}"
        if nurse.rpps:
            nurse_text += f" (RPPS {nurse.rpps})"
        pairs.append(("Infirmier(ère) accompagnant(e)", nurse_text))
    return labelled(pairs)


def _measurements(facts: ReportFacts, tz: ZoneInfo) -> Any:
    if not facts.measurements:
        return paragraph(NO_MEASUREMENT)
    day = facts.started_at.astimezone(tz).date()
    rows = [_measurement_row(m, tz, day) for m in sorted(facts.measurements, key=lambda m: m.at)]
    widths = [22 * mm, 58 * mm, 30 * mm, CONTENT_WIDTH - 110 * mm]
    return table(rows, ["Heure", "Mesure", "Valeur", "Appareil"], widths)


def _measurement_row(m: MeasurementFacts, tz: ZoneInfo, day: dt.date) -> list[str]:
    local = m.at.astimezone(tz)
    when = f"{local:%H:%M}" if local.date() == day else f"{local:%d/%m %H:%M}"
    return [when, m.label, format_value(m.value, m.unit), m.device]


def _acts(facts: ReportFacts) -> list[Any]:
    pairs = [("Acte médical", _act(facts.doctor_act))]
    if facts.nurse_act:
        pairs.append(("Acte infirmier", _act(facts.nurse_act)))
    return labelled(pairs)


def _act(code: str) -> str:
    label = ACT_LABELS.get(code)
    return f"{code} — {label}" if label else code


def _signature(facts: ReportFacts, tz: ZoneInfo) -> str:
    rpps = f" (RPPS {facts.doctor.rpps})" if facts.doctor.rpps else ""
    signed = facts.signed_at.astimezone(tz)
    return (
        f"Signé électroniquement par {doctor_name(facts.doctor)}{rpps} "
        f"le {signed:%d/%m/%Y} à {signed:%H}h{signed:%M}"
    )


def _patient_line(facts: ReportFacts) -> str:
    patient = facts.patient
    name = patient.used_name or patient.birth_name
    return f"{name} {patient.first_names.split(' ')[0]}".strip()


def _born(sex: str) -> str:
    return {"F": "née", "M": "né"}.get(sex, "né(e)")


def _date(moment: dt.datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%d/%m/%Y}"


def _hhmm(moment: dt.datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%H}h{moment.astimezone(tz):%M}"
