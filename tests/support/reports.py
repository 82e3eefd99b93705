"""Sample report facts for the document generators' tests (no database needed), and the text
of a PDF's pages as pdfium reads it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pypdfium2 as pdfium

from hub.reports.facts import (
    OID_INS_NIR,
    MeasurementFacts,
    PatientFacts,
    PlaceFacts,
    ProfessionalFacts,
    ReportFacts,
)
from hub.reports.fhir_audit import AccessFacts

UTC = dt.UTC
START = dt.datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def sample_patient(**overrides: Any) -> PatientFacts:
    patient = PatientFacts(
        local_id="42",
        birth_name="LEFÈVRE",
        first_names="Hélène Marie",
        used_name="MARTIN",
        birth_date=dt.date(1958, 3, 14),
        sex="F",
        birth_place_code="63113",
        identity_status="qualifiee",
        ins="258036311301155",
        ins_oid=OID_INS_NIR,
        phone="0612345678",
        email="helene.martin@example.org",
    )
    return dataclasses.replace(patient, **overrides)


def sample_facts(**overrides: Any) -> ReportFacts:
    """A signed report of a teleconsultation at Clos Mortier, with three measurements."""
    facts = ReportFacts(
        consultation_id=7,
        report_id=11,
        document_oid="2.25.329800735698586629295641978511506172918",
        set_oid="2.25.211055312467438409733227329128456701122",
        version=1,
        replaces_oid=None,
        title="Compte rendu de téléconsultation",
        reason="Toux fébrile depuis trois jours",
        examination="Auscultation : crépitants de la base droite. Tympans normaux.",
        conclusion="Suspicion de pneumopathie communautaire, sans signe de gravité.",
        prescriptions=(
            "Amoxicilline 1 g, 3 fois par jour pendant 7 jours.\nParacétamol 1 g si fièvre."
        ),
        orientation="medecin_traitant",
        orientation_label="Retour vers le médecin traitant",
        doctor_act="TCG",
        nurse_act="TLL",
        amendment_reason="",
        confidentiality="N",
        started_at=START,
        ended_at=START + dt.timedelta(minutes=18),
        signed_at=START + dt.timedelta(minutes=25),
        timezone="Europe/Paris",
        patient=sample_patient(),
        doctor=ProfessionalFacts(
            user_id=3,
            family_name="DURAND",
            given_name="Claire",
            rpps="10003456789",
            role="doctor",
        ),
        nurse=ProfessionalFacts(
            user_id=2,
            family_name="ROBERT",
            given_name="Julien",
            rpps="10009876543",
            role="nurse",
            profession_code="60",
            speciality_code="",
            speciality_label="Infirmier",
        ),
        place=PlaceFacts(
            organisation_name="CPTS du Val de Loire (démo)",
            organisation_siret="90123456700018",
            organisation_phone="02 47 00 00 00",
            site_name="Maison de santé du Clos Mortier",
            site_address="3 rue du Clos Mortier",
            site_postcode="37100",
            site_city="Tours",
        ),
        medecin_traitant_name="Dr Paul BERNARD",
        medecin_traitant_mssante="paul.bernard@medecin.mssante.fr",
        measurements=(
            MeasurementFacts(
                at=START + dt.timedelta(minutes=3),
                kind="body_temperature",
                label="Température",
                value=38.4,
                unit="Cel",
                loinc="8310-5",
                device="Thermomètre BLE n° TH-0042",
            ),
            MeasurementFacts(
                at=START + dt.timedelta(minutes=4),
                kind="spo2",
                label="Saturation en oxygène",
                value=95.0,
                unit="%",
                loinc="59408-5",
                device="Contec CMS50D n° 0015",
            ),
            MeasurementFacts(
                at=START + dt.timedelta(minutes=6),
                kind="blood_pressure_systolic",
                label="Pression artérielle systolique",
                value=128.0,
                unit="mm[Hg]",
                loinc="8480-6",
                device="Tensiomètre BLE n° BP-7",
            ),
        ),
    )
    return dataclasses.replace(facts, **overrides)


def sample_access(**overrides: Any) -> AccessFacts:
    """A line of the patient's audit trail: a doctor reading the record, the day after."""
    event = AccessFacts(
        at=START + dt.timedelta(days=1, hours=2),
        actor_kind="user",
        actor_id=3,
        actor_name="Claire DURAND",
        actor_role="Médecin téléconsultant",
        action="patient_data.read",
        action_label="Consultation de données patient",
        outcome="success",
        site_name="Maison de santé du Clos Mortier",
        target="patient:42",
    )
    return dataclasses.replace(event, **overrides)


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page, whitespace collapsed to single spaces."""
    doc = pdfium.PdfDocument(pdf)
    try:
        texts = []
        for index in range(len(doc)):
            page = doc[index]
            textpage = page.get_textpage()
            texts.append(re.sub(r"\s+", " ", textpage.get_text_range()).strip())
            textpage.close()
            page.close()
        return texts
    finally:
        doc.close()
