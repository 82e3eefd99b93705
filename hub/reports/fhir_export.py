"""FHIR R4B export of a signed teleconsultation: pure functions, no database access.

``consultation_bundle`` turns the frozen ``ReportFacts`` of a report (plus its CDA, optionally
its PDF, and the audit trail of the patient's data) into a Bundle of type ``collection``:
Patient, Organization (the CPTS), Practitioner (doctor, nurse), Encounter, the vital-sign
Observations (``fhir_vitals``: one blood pressure panel per cuff reading), a DocumentReference
carrying the CDA, and one AuditEvent per access (its agent named by RPPS when a professional).

Every resource gets a ``urn:uuid`` fullUrl derived (uuid5) from the hub's base URL and the
resource's own key, so the same report exported twice gives the same URLs, and references
inside the bundle (``reference`` = the target's fullUrl) resolve without a server.

French specifics follow FR Core (Interop'Santé, ``https://hl7.fr/ig/fhir/core``): the INS
identifier slices of ``fr-core-patient-ins`` (type from ``fr-core-cs-v2-0203``), the
``fr-core-identity-reliability`` extension, the birth place as ``patient-birthPlace`` holding an
address with the ``fr-core-address-insee-code`` extension, and the birth list of first names.
Resources claim their FR Core profile in ``meta.profile``: the Patient ``fr-core-patient-ins``
when it carries a qualified identity's INS and the birth place code that profile requires (else
``fr-core-patient``), ``fr-core-practitioner``, ``fr-core-organization`` and the vital-sign
profiles. The Encounter, DocumentReference and AuditEvent claim none (FR Core's Encounter
profile asks for what a teleconsultation does not have). The tests validate every resource
against the StructureDefinitions of the profiles it claims and of their HL7 parents
(tests/hub/reports/test_fr_core_profiles.py, definitions in tests/conformance/fhir/), and
against the R4B structures (fhir.resources).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from hub.reports.facts import (
    OID_INS_NIA,
    OID_INS_NIR,
    OID_RPPS,
    OID_STRUCTURE,
    ProfessionalFacts,
    ReportFacts,
    local_oid,
)
from hub.reports.fhir_audit import AccessFacts, audit_event
from hub.reports.fhir_common import (
    FR_CORE,
    FR_CORE_V2_0203,
    LOINC,
    RFC_3986,
    Json,
    meta_profile,
)
from hub.reports.fhir_common import coding as _coding
from hub.reports.fhir_common import concept as _concept
from hub.reports.fhir_common import instant as _instant
from hub.reports.fhir_vitals import vital_sign_observation, vital_signs
from hub.reports.xdm import confidentiality_codes

# Code systems and canonical URLs.
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
IHE_FORMAT_CODE = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
# NGAP acts (TCG, TC, TLL...), the code system the TLM-CR volet uses in its serviceEvent.
NGAP = "urn:oid:1.2.250.1.215.200.3.3"
# ANS nomenclatures (NOS).
TRE_A03_CLASSE_DOCUMENT = (
    "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
)
TRE_R13_COMMUNE_OM = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
# FR Core.
FR_CORE_IDENTITY_STATUS = FR_CORE + "CodeSystem/fr-core-cs-identity-status"
EXT_IDENTITY_RELIABILITY = FR_CORE + "StructureDefinition/fr-core-identity-reliability"
EXT_BIRTH_LIST_GIVEN_NAME = FR_CORE + "StructureDefinition/fr-core-patient-birth-list-given-name"
EXT_ADDRESS_INSEE_CODE = FR_CORE + "StructureDefinition/fr-core-address-insee-code"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"

# The TLM-CR document: LOINC type, XDS class (TRE_A03), and its IHE format (a PDF in a CDA
# wrapper, the XDS-SD template 1.3.6.1.4.1.19376.1.2.20 the volet declares).
DOCUMENT_TYPE = ("85208-7", "Compte-rendu d'acte de télémédecine")
DOCUMENT_CLASS = ("10", "Compte rendu")
CDA_FORMAT = ("urn:ihe:iti:xds-sd:pdf:2008", "PDF embedded in CDA per XDS-SD profile")
PDF_FORMAT = ("urn:ihe:iti:xds:2017:mimeTypeSufficient", "mimeType Sufficient")

GENDERS = {"F": "female", "M": "male", "I": "unknown"}
# OID -> (identifier use, FR Core type code, type display). FR Core 2.2 binds the use of both
# INS slices to official | old: an INS-NIA is the patient's official number while it lasts.
INS_KINDS = {
    OID_INS_NIR: ("official", "INS-NIR", "NIR définitif"),
    OID_INS_NIA: ("official", "INS-NIA", "NIR temporaire"),
}
IDENTITY_STATUSES = {  # hub status -> FR Core identity status (RNIV EXI SI 07)
    "provisoire": ("PROV", "Identité provisoire"),
    "recuperee": ("RECUP", "Identité récupérée"),
    "validee": ("VALI", "Identité validée"),
    "qualifiee": ("QUAL", "Identité qualifiée"),
}
CONFIDENTIALITIES = {"N": "normal", "R": "restricted", "V": "very restricted"}
ACT_LABELS = {
    "TCG": "Téléconsultation du médecin généraliste",
    "TC": "Téléconsultation du médecin spécialiste",
    "TLL": "Accompagnement infirmier d'une téléconsultation dans un lieu dédié",
    "TLS": "Accompagnement infirmier d'une téléconsultation lors d'un soin prévu",
    "TLD": "Accompagnement infirmier d'une téléconsultation à domicile",
}
# An INSEE commune code: 5 characters, Corsica as 2A/2B; 99xxx are countries, not communes.
INSEE_COMMUNE = re.compile(r"(?!99)(\d{2}|2[AB])\d{3}")
IDNST_DISPLAY = "Identification nationale de structure définie par l'ANS dans le CI_SIS"


def consultation_bundle(
    facts: ReportFacts,
    *,
    cda: bytes,
    pdf: bytes | None,
    accesses: Sequence[AccessFacts],
    base_url: str,
    generated_at: dt.datetime | None = None,
) -> dict[str, object]:
    """The FHIR R4B collection Bundle of a signed report, its measurements and its accesses.

    ``generated_at`` stamps the bundle; by default the latest event it holds (signature or
    access), so that the same inputs give the same bundle.
    """
    base_url = base_url.rstrip("/")
    urls = _Urls(base_url)
    tz = ZoneInfo(facts.timezone)
    entries: list[tuple[str, Json]] = []

    patient_url = urls.of("Patient", facts.patient.local_id)
    entries.append((patient_url, patient_resource(facts, base_url=base_url)))
    org_url = urls.of(
        "Organization", facts.place.organisation_siret or facts.place.organisation_name
    )
    entries.append((org_url, organization_resource(facts)))
    doctor_url = urls.of("Practitioner", str(facts.doctor.user_id))
    entries.append((doctor_url, practitioner_resource(facts.doctor)))
    nurse_url: str | None = None
    if facts.nurse is not None and facts.nurse.user_id != facts.doctor.user_id:
        nurse_url = urls.of("Practitioner", str(facts.nurse.user_id))
        entries.append((nurse_url, practitioner_resource(facts.nurse)))

    encounter_url = urls.of("Encounter", str(facts.consultation_id))
    refs = _Refs(
        patient=patient_url,
        organization=org_url,
        doctor=doctor_url,
        nurse=nurse_url,
        encounter=encounter_url,
    )
    entries.append((encounter_url, encounter_resource(facts, refs=refs, base_url=base_url, tz=tz)))
    for sign in vital_signs(facts.measurements):
        observation = vital_sign_observation(
            sign, patient=patient_url, encounter=encounter_url, performer=nurse_url, tz=tz
        )
        entries.append((urls.of("Observation", f"{facts.consultation_id}/{sign.key}"), observation))
    entries.append(
        (
            urls.of("DocumentReference", facts.document_oid),
            document_reference(facts, cda=cda, pdf=pdf, refs=refs, tz=tz),
        )
    )
    for index, access in enumerate(accesses):
        key = f"{facts.patient.local_id}/{index}/{access.at.isoformat()}/{access.action}"
        entries.append(
            (
                urls.of("AuditEvent", key),
                audit_event(access, patient=patient_url, base_url=base_url),
            )
        )

    stamp = generated_at or max([facts.signed_at, *(a.at for a in accesses)])
    bundle_key = f"{facts.document_oid}/{_instant(stamp, tz)}/{len(accesses)}"
    return {
        "resourceType": "Bundle",
        "identifier": {"system": RFC_3986, "value": urls.of("Bundle", bundle_key)},
        "type": "collection",
        "timestamp": _instant(stamp, tz),
        "entry": [{"fullUrl": url, "resource": resource} for url, resource in entries],
    }


@dataclass(frozen=True, slots=True)
class _Refs:
    patient: str
    organization: str
    doctor: str
    nurse: str | None
    encounter: str


class _Urls:
    """Deterministic ``urn:uuid`` fullUrls: uuid5 of the resource key under the hub's URL."""

    def __init__(self, base_url: str) -> None:
        self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, base_url)

    def of(self, resource_type: str, key: str) -> str:
        return f"urn:uuid:{uuid.uuid5(self._namespace, f'{resource_type}/{key}')}"


def patient_resource(facts: ReportFacts, *, base_url: str) -> Json:
    """The Patient: INS (only when set), local id, names, gender, birth date and place."""
    patient = facts.patient
    gender = GENDERS.get(patient.sex)
    if gender is None:
        raise ValueError(f"unknown sex code {patient.sex!r} (expected F, M or I)")
    identifiers: list[Json] = []
    if patient.ins is not None:
        kind = INS_KINDS.get(patient.ins_oid or "")
        if kind is None:
            raise ValueError(f"unknown INS authority OID {patient.ins_oid!r}")
        use, code, display = kind
        identifiers.append(
            {
                "use": use,
                "type": _concept(FR_CORE_V2_0203, code, display),
                "system": f"urn:oid:{patient.ins_oid}",
                "value": patient.ins,
            }
        )
    identifiers.append(
        {
            "use": "usual",
            "type": _concept(V2_0203, "PI", "Patient internal identifier"),
            "system": f"urn:oid:{local_oid(facts.place, 'patient')}",  # as in the CDA and XDM
            "value": patient.local_id,
        }
    )
    first_names = patient.first_names.split()
    given = first_names[:1]
    official: Json = {"use": "official", "family": patient.birth_name}
    if given:
        official["given"] = given
        official["extension"] = [
            {"url": EXT_BIRTH_LIST_GIVEN_NAME, "valueString": " ".join(first_names)}
        ]
    names: list[Json] = [official]
    if patient.used_name:
        usual: Json = {"use": "usual", "family": patient.used_name}
        if given:
            usual["given"] = given
        names.append(usual)

    resource: Json = {"resourceType": "Patient", "meta": meta_profile(patient_profile(facts))}
    extensions = _patient_extensions(patient.identity_status, patient.birth_place_code)
    if extensions:
        resource["extension"] = extensions
    resource |= {
        "identifier": identifiers,
        "name": names,
        "gender": gender,
        "birthDate": patient.birth_date.isoformat(),
    }
    telecom = [
        {"system": system, "value": value}
        for system, value in (("phone", patient.phone), ("email", patient.email))
        if value
    ]
    if telecom:
        resource["telecom"] = telecom
    return resource


def patient_profile(facts: ReportFacts) -> str:
    """``fr-core-patient-ins`` for a patient carrying the INS (only a qualified identity does)
    with everything that profile requires: the birth place's INSEE code, a first name and the
    identity status; else ``fr-core-patient``."""
    patient = facts.patient
    if (
        patient.ins is not None
        and INSEE_COMMUNE.fullmatch(patient.birth_place_code)
        and patient.first_names.split()
        and patient.identity_status in IDENTITY_STATUSES
    ):
        return "fr-core-patient-ins"
    return "fr-core-patient"


def _patient_extensions(identity_status: str, birth_place_code: str) -> list[Json]:
    extensions: list[Json] = []
    status = IDENTITY_STATUSES.get(identity_status)
    if status is not None:
        extensions.append(
            {
                "url": EXT_IDENTITY_RELIABILITY,
                "extension": [
                    {
                        "url": "identityStatus",
                        "valueCoding": _coding(FR_CORE_IDENTITY_STATUS, *status),
                    }
                ],
            }
        )
    if INSEE_COMMUNE.fullmatch(birth_place_code):
        extensions.append(
            {
                "url": EXT_BIRTH_PLACE,
                "valueAddress": {
                    "extension": [
                        {
                            "url": EXT_ADDRESS_INSEE_CODE,
                            "valueCoding": {"system": TRE_R13_COMMUNE_OM, "code": birth_place_code},
                        }
                    ]
                },
            }
        )
    return extensions


def practitioner_resource(professional: ProfessionalFacts) -> Json:
    """A Practitioner with the national identifier ("8" + RPPS) when the RPPS is known."""
    resource: Json = {"resourceType": "Practitioner", "meta": meta_profile("fr-core-practitioner")}
    if professional.rpps:
        resource["identifier"] = [
            {
                "use": "official",
                "type": _concept(
                    FR_CORE_V2_0203, "IDNPS", "Identifiant National de Professionnel de Santé"
                ),
                "system": f"urn:oid:{OID_RPPS}",
                "value": "8" + professional.rpps,
            }
        ]
    name: Json = {"use": "official", "family": professional.family_name}
    if professional.given_name:
        name["given"] = [professional.given_name]
    resource["name"] = [name]
    return resource


def organization_resource(facts: ReportFacts) -> Json:
    """The CPTS, with its national structure identifier ("3" + SIRET) when known."""
    place = facts.place
    resource: Json = {"resourceType": "Organization", "meta": meta_profile("fr-core-organization")}
    if place.organisation_siret:
        resource["identifier"] = [
            {
                "use": "official",
                "type": _concept(FR_CORE_V2_0203, "IDNST", IDNST_DISPLAY),
                "system": f"urn:oid:{OID_STRUCTURE}",
                "value": "3" + place.organisation_siret,
            }
        ]
    resource["active"] = True
    resource["name"] = place.organisation_name
    if place.organisation_phone:
        resource["telecom"] = [{"system": "phone", "value": place.organisation_phone}]
    return resource


def encounter_resource(facts: ReportFacts, *, refs: _Refs, base_url: str, tz: ZoneInfo) -> Json:
    """The teleconsultation: finished, virtual, typed by the NGAP acts of doctor and nurse."""
    acts = [facts.doctor_act] + ([facts.nurse_act] if facts.nurse_act else [])
    participants: list[Json] = [
        _participant("PPRF", "primary performer", refs.doctor, facts.doctor)
    ]
    if refs.nurse is not None and facts.nurse is not None:
        participants.append(_participant("SPRF", "secondary performer", refs.nurse, facts.nurse))
    resource: Json = {
        "resourceType": "Encounter",
        "identifier": [
            {"system": f"{base_url}/consultations", "value": str(facts.consultation_id)}
        ],
        "status": "finished",
        "class": _coding(V3_ACT_CODE, "VR", "virtual"),
        "type": [
            {"coding": [{"system": NGAP, "code": act}], "text": ACT_LABELS.get(act, act)}
            for act in acts
        ],
        "subject": {"reference": refs.patient},
        "participant": participants,
        "period": {"start": _instant(facts.started_at, tz), "end": _instant(facts.ended_at, tz)},
    }
    if facts.reason:
        resource["reasonCode"] = [{"text": facts.reason}]
    resource["serviceProvider"] = {"reference": refs.organization}
    return resource


def _participant(code: str, display: str, url: str, who: ProfessionalFacts) -> Json:
    return {
        "type": [_concept(V3_PARTICIPATION_TYPE, code, display)],
        "individual": {"reference": url, "display": _display_name(who)},
    }


def document_reference(
    facts: ReportFacts, *, cda: bytes, pdf: bytes | None, refs: _Refs, tz: ZoneInfo
) -> Json:
    """The CDA (and optionally its PDF) with its XDS metadata, as a DocumentReference."""
    confidentiality = CONFIDENTIALITIES.get(facts.confidentiality)
    if confidentiality is None:
        raise ValueError(f"unknown confidentiality code {facts.confidentiality!r}")
    signed = _instant(facts.signed_at, tz)
    content: list[Json] = [
        {
            "attachment": _attachment(cda, "text/xml", facts.title, signed),
            "format": _coding(IHE_FORMAT_CODE, *CDA_FORMAT),
        }
    ]
    if pdf is not None:
        content.append(
            {
                "attachment": _attachment(pdf, "application/pdf", facts.title, signed),
                "format": _coding(IHE_FORMAT_CODE, *PDF_FORMAT),
            }
        )
    resource: Json = {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": RFC_3986, "value": f"urn:oid:{facts.document_oid}"},
        "identifier": [
            {
                "use": "secondary",
                "type": {"text": "setId"},
                "system": RFC_3986,
                "value": f"urn:oid:{facts.set_oid}",
            }
        ],
        "status": "current",
        "docStatus": "final",
        "type": _concept(LOINC, *DOCUMENT_TYPE),
        "category": [_concept(TRE_A03_CLASSE_DOCUMENT, *DOCUMENT_CLASS)],
        "subject": {"reference": refs.patient},
        "date": signed,
        "author": [{"reference": refs.doctor, "display": _display_name(facts.doctor)}],
        "authenticator": {"reference": refs.doctor, "display": _display_name(facts.doctor)},
        "custodian": {"reference": refs.organization},
    }
    if facts.replaces_oid:
        resource["relatesTo"] = [
            {
                "code": "replaces",
                "target": {
                    "identifier": {"system": RFC_3986, "value": f"urn:oid:{facts.replaces_oid}"}
                },
            }
        ]
    resource |= {
        "description": facts.title,
        "securityLabel": [
            _concept(V3_CONFIDENTIALITY, facts.confidentiality, confidentiality),
            *(
                _concept(f"urn:oid:{system}", code, label)
                for code, label, system in confidentiality_codes(facts)[1:]
            ),
        ],
        "content": content,
        "context": {
            "encounter": [{"reference": refs.encounter}],
            "period": {
                "start": _instant(facts.started_at, tz),
                "end": _instant(facts.ended_at, tz),
            },
        },
    }
    return resource


def _attachment(data: bytes, content_type: str, title: str, creation: str) -> Json:
    return {
        "contentType": content_type,
        "language": "fr-FR",
        "data": base64.b64encode(data).decode("ascii"),
        "size": len(data),
        # FHIR wants the base64 of the binary SHA-1, not its hex digest.
        "hash": base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode(
            "ascii"
        ),
        "title": title,
        "creation": creation,
    }


def _display_name(who: ProfessionalFacts) -> str:
    return f"{who.given_name} {who.family_name}".strip()
