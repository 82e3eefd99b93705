"""Plain, frozen facts about a signed report: what the PDF, the CDA, the XDM package and the
FHIR export are generated from. Built once from the database (``report_facts.facts_of``),
so the generators are pure functions that tests can call without a database.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

# OIDs the documents speak (ANS "structuration minimale" and INS referential).
OID_INS_NIR = "1.2.250.1.213.1.4.8"  # INS-NIR (qualified identity)
OID_INS_NIA = "1.2.250.1.213.1.4.9"  # INS-NIA (temporary identifier)
OID_RPPS = "1.2.250.1.71.4.2.1"  # national identifiers of professionals ("8" + RPPS)
OID_STRUCTURE = "1.2.250.1.71.4.2.2"  # national identifiers of structures ("3" + SIRET)


@dataclass(frozen=True, slots=True)
class PatientFacts:
    local_id: str  # the hub's patient id, as text
    birth_name: str
    first_names: str  # all first names of the civil status, space-separated
    used_name: str
    birth_date: dt.date
    sex: str  # "F", "M" or "I"
    birth_place_code: str  # INSEE code of the birth place, "" when unknown
    identity_status: str  # provisoire, recuperee, validee, qualifiee
    # The INS (NIR or NIA, 15 characters), only when the identity is qualified; else None.
    ins: str | None
    ins_oid: str | None  # OID_INS_NIR or OID_INS_NIA with ``ins``
    phone: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class ProfessionalFacts:
    user_id: int
    family_name: str
    given_name: str
    rpps: str  # 11 digits, "" when unknown
    role: str  # "doctor" or "nurse"
    # Profession code (TRE_G15 "Profession": 10 médecin, 60 infirmier) and speciality
    # (TRE_R38 "Spécialité ordinale", SM54 médecine générale), when known.
    profession_code: str = "10"
    speciality_code: str = "SM54"
    speciality_label: str = "Médecine générale (SM)"


@dataclass(frozen=True, slots=True)
class PlaceFacts:
    organisation_name: str  # the CPTS
    organisation_siret: str  # 14 digits, "" when unknown
    organisation_phone: str
    site_name: str
    site_address: str
    site_postcode: str
    site_city: str
    organisation_id: int = 0
    # HUB_OID_ROOT: the OID the hub's operator registered; "" when none (see `local_oid`).
    oid_root: str = ""


@dataclass(frozen=True, slots=True)
class MeasurementFacts:
    at: dt.datetime  # aware, UTC
    kind: str  # the hub's measurement kind (systolic, spo2, temperature...)
    label: str  # French label ("Pression systolique")
    value: float
    unit: str  # UCUM
    loinc: str
    device: str  # label, model and serial as shown to people ("Tensiomètre Omron X4 n° 1234")


@dataclass(frozen=True, slots=True)
class ReportFacts:
    consultation_id: int
    report_id: int
    document_oid: str  # ClinicalDocument/id root ("2.25.<uuid>")
    set_oid: str  # ClinicalDocument/setId root
    version: int  # ClinicalDocument/versionNumber, 1 for the first
    replaces_oid: str | None  # document_oid of the version this one replaces
    title: str  # "Compte rendu de téléconsultation"
    reason: str
    examination: str
    conclusion: str
    prescriptions: str
    orientation: str  # Orientation value
    orientation_label: str
    doctor_act: str  # TCG or TC
    nurse_act: str | None  # TLL, TLS, TLD
    amendment_reason: str
    confidentiality: str  # N, R or V
    started_at: dt.datetime  # the teleconsultation (aware, UTC)
    ended_at: dt.datetime
    signed_at: dt.datetime
    timezone: str  # the site's, for dates shown to people ("Europe/Paris")
    patient: PatientFacts
    doctor: ProfessionalFacts
    nurse: ProfessionalFacts | None
    place: PlaceFacts
    medecin_traitant_name: str  # "" when none
    medecin_traitant_mssante: str  # "" when none
    measurements: tuple[MeasurementFacts, ...] = field(default=())
    # Visibility in the shared record (XDS confidentialityCode beside ``confidentiality``):
    # withheld from the patient until the doctor has told them; masked by the patient from
    # other professionals (carried over from the earlier versions of the document).
    hidden_from_patient: bool = False
    masked: bool = False
    # The médecin traitant as entered in structured fields ("" for older rows, whose free-text
    # ``medecin_traitant_name`` is split instead): RPPS (11 digits), family and given names.
    medecin_traitant_rpps: str = ""
    medecin_traitant_family_name: str = ""
    medecin_traitant_given_name: str = ""


# Root of the UUID-derived OIDs (ITU-T X.667) naming an organisation's local identifiers when
# the operator has registered no OID of its own.
_LOCAL_OID_NAMESPACE = uuid.UUID("6f0c6d1e-57a4-5b8e-9a53-8f1b2f0c7a11")
# Arcs under ``<root>.<organisation id>`` (HUB_OID_ROOT set).
LOCAL_ID_ARCS = {"patient": 1, "user": 2, "source": 3}


def local_oid(place: PlaceFacts, kind: str) -> str:
    """The one OID naming this organisation's ``kind`` of local identifiers ("patient",
    "user", "source"), used alike by the CDA, the XDM metadata and the FHIR export.

    Under the operator's registered root when configured (``<root>.<organisation id>.<arc>``);
    else derived from a UUID (the 2.25 arc needs no registration) of the organisation's SIRET,
    or of its name when the SIRET is unknown, so it stays the same from one document to the
    next."""
    if place.oid_root:
        return f"{place.oid_root}.{place.organisation_id}.{LOCAL_ID_ARCS[kind]}"
    owner = place.organisation_siret or place.organisation_name
    return f"2.25.{uuid.uuid5(_LOCAL_OID_NAMESPACE, f'{owner}/{kind}').int}"
