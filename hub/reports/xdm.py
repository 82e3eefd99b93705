"""The IHE XDM package a signed report travels in (IHE ITI TF-1 §16 "Cross-Enterprise
Document Media Interchange", ITI-32 "Distribute Document Set on Media", zipped as
``IHE_XDM.ZIP`` the way the ANS asks for documents in MSSanté messages): ``README.TXT`` and
``INDEX.HTM`` at the root, and one submission set in ``IHE_XDM/SUBSET01`` (``METADATA.XML``, an
ebRS 3.0 SubmitObjectsRequest, and ``DOC0001.XML``, the CDA).

Coded metadata follow the CI-SIS value sets: classCode from TRE_A03-ClasseDocument, typeCode
LOINC, formatCode from ASS_A12 (a level 1 CDA with a PDF body: ``urn:ihe:iti:xds-sd:pdf:2008``;
the TLM-CR volet has no structured-body format code in ASS_A11), practiceSettingCode and
healthcareFacilityTypeCode as in the CDA header; the submission set's contentTypeCode from
JDV_J59-ContentTypeCode-DMP (``content_type``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import re
import uuid
import zipfile
from email.utils import parseaddr
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from hub.reports import cda
from hub.reports.content_type import CPTS as CONTENT_TYPE
from hub.reports.facts import (
    OID_RPPS,
    OID_STRUCTURE,
    PatientFacts,
    ProfessionalFacts,
    ReportFacts,
    local_oid,
)

# --- what the package and the message say ----------------------------------------------------

XDM_FILENAME = "IHE_XDM.ZIP"
README_PATH = "README.TXT"
INDEX_PATH = "INDEX.HTM"
METADATA_PATH = "IHE_XDM/SUBSET01/METADATA.XML"
DOCUMENT_PATH = "IHE_XDM/SUBSET01/DOC0001.XML"
DOCUMENT_URI = "DOC0001.XML"


CDA_TYPE_CODE = cda.TLM_CR_CODE
CDA_TYPE_LABEL = cda.TLM_CR_DISPLAY
OID_LOINC = "2.16.840.1.113883.6.1"
CLASS_CODE = ("10", "Compte rendu", "1.2.250.1.213.1.1.4.1")  # TRE_A03-ClasseDocument
FORMAT_CODE = ("urn:ihe:iti:xds-sd:pdf:2008", "Document à corps non structuré en PDF")
OID_IHE_FORMAT_CODES = "1.3.6.1.4.1.19376.1.2.3"
# The same codes as the CDA header (practice setting, healthCareFacility/code).
PRACTICE_SETTING = (*cda.PRACTICE_SETTING, cda.OID_PRACTICE_SETTING)
FACILITY_TYPE = (*cda.FACILITY_TYPE, cda.OID_FACILITY_TYPE)
OID_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
OID_PROFESSION = "1.2.250.1.213.1.1.4.5"  # TRE_G15-ProfessionSante (with TRE_R38 speciality)
CONFIDENTIALITY_LABELS = {"N": "Normal", "R": "Restreint", "V": "Très restreint"}
# The DMP's visibility codes (code system 1.2.250.1.213.1.1.4.13), added to the HL7 code in
# XDSDocumentEntry.confidentialityCode.
OID_VISIBILITY = "1.2.250.1.213.1.1.4.13"
HIDDEN_FROM_PATIENT = ("INVISIBLE_PATIENT", "Non visible par le patient")
MASKED_FROM_PROFESSIONALS = ("MASQUE_PS", "Masqué aux professionnels de santé")


# --- ebRIM identifiers (IHE ITI TF-3 §4.2.5) ---------------------------------------------------

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OBJECT_CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
OBJECT_EXTERNAL_ID = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
OBJECT_ASSOCIATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"
STATUS_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
REPLACES = "urn:ihe:iti:2007:AssociationType:RPLC"

DOCUMENT_ENTRY_STABLE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY_TYPE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE_SETTING = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"

ET.register_namespace("rim", RIM)
ET.register_namespace("lcm", LCM)


# --- identifiers -------------------------------------------------------------------------------


def _oid_for(seed: str) -> str:
    """A stable OID under 2.25 (ITU-T X.667: a UUID as an integer), name-based on ``seed``."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, seed).int}"


def _urn_uuid(facts: ReportFacts, role: str) -> str:
    return _entry_uuid(facts.document_oid, role)


def _entry_uuid(document_oid: str, role: str) -> str:
    """The entryUUID of one of a document's registry objects: derived from the document's
    OID, so a later version can name the entry of the one it replaces."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'urn:oid:{document_oid}#{role}')}"


def cpts_oid(facts: ReportFacts) -> str:
    """The OID naming this CPTS as the source of its submissions (``local_oid``)."""
    return local_oid(facts.place, "source")


def patient_id(facts: ReportFacts) -> str:
    """The patient's id as an HL7 CX: the INS when the identity is qualified
    (``<ins>^^^&1.2.250.1.213.1.4.8&ISO^NH``), else the CPTS's local id (type PI)."""
    patient = facts.patient
    if patient.ins and patient.ins_oid:
        return f"{patient.ins}^^^&{patient.ins_oid}&ISO^NH"
    return f"{_hl7(patient.local_id)}^^^&{local_oid(facts.place, 'patient')}&ISO^PI"


def carries_qualified_ins(facts: ReportFacts) -> bool:
    """Whether the package carries an INS (the facts hold one only for a qualified identity)."""
    return bool(facts.patient.ins and facts.patient.ins_oid)


_HL7_SPECIALS = re.compile(r"[\^|&~\\\r\n]")


def _hl7(text: str) -> str:
    """A value safe inside an HL7 v2 data type (its separators removed)."""
    return _HL7_SPECIALS.sub(" ", text).strip()


def _ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def _xcn(person: ProfessionalFacts) -> str:
    family, given = _hl7(person.family_name), _hl7(person.given_name)
    if person.rpps:
        return f"8{person.rpps}^{family}^{given}^^^^^^&{OID_RPPS}&ISO^D^^^IDNPS"
    return f"^{family}^{given}"


def _xon(facts: ReportFacts) -> str:
    place = facts.place
    name = _hl7(place.organisation_name)
    if place.organisation_siret:
        return f"{name}^^^^^&{OID_STRUCTURE}&ISO^IDNST^^^3{place.organisation_siret}"
    return name


def _specialty(person: ProfessionalFacts) -> str:
    code = f"G15_{person.profession_code}"
    if person.speciality_code:
        code += f"/{person.speciality_code}"
    return f"{code}^{_hl7(person.speciality_label)}^{OID_PROFESSION}"


def _patient_info(facts: ReportFacts) -> list[str]:
    patient: PatientFacts = facts.patient
    trait = cda.ins_trait if carries_qualified_ins(facts) else str.strip  # as INSi writes them
    first, _, others = trait(patient.first_names).partition(" ")
    sex = patient.sex if patient.sex in ("F", "M") else "U"
    return [
        f"PID-3|{patient_id(facts)}",
        f"PID-5|{_hl7(trait(patient.birth_name))}^{_hl7(first)}^{_hl7(others)}^^^^L",
        f"PID-7|{patient.birth_date.strftime('%Y%m%d')}",
        f"PID-8|{sex}",
    ]


# --- METADATA.XML ------------------------------------------------------------------------------


def _slot(parent: ET.Element, name: str, *values: str) -> None:
    slot = ET.SubElement(parent, f"{{{RIM}}}Slot", name=name)
    value_list = ET.SubElement(slot, f"{{{RIM}}}ValueList")
    for value in values:
        ET.SubElement(value_list, f"{{{RIM}}}Value").text = value


def _name(parent: ET.Element, text: str) -> None:
    name = ET.SubElement(parent, f"{{{RIM}}}Name")
    ET.SubElement(
        name, f"{{{RIM}}}LocalizedString", {XML_LANG: "fr-FR", "charset": "UTF-8", "value": text}
    )


def _code(
    parent: ET.Element,
    facts: ReportFacts,
    *,
    scheme: str,
    target: str,
    code: str,
    label: str,
    system: str,
    nth: int = 0,
) -> None:
    suffix = f"#{nth}" if nth else ""  # a scheme with several codes (confidentiality)
    element = ET.SubElement(
        parent,
        f"{{{RIM}}}Classification",
        classificationScheme=scheme,
        classifiedObject=target,
        id=_urn_uuid(facts, f"classification:{scheme}{suffix}"),
        nodeRepresentation=code,
        objectType=OBJECT_CLASSIFICATION,
    )
    _slot(element, "codingScheme", system)
    _name(element, label)


def _external_id(
    parent: ET.Element, facts: ReportFacts, *, scheme: str, target: str, value: str, name: str
) -> None:
    element = ET.SubElement(
        parent,
        f"{{{RIM}}}ExternalIdentifier",
        id=_urn_uuid(facts, f"identifier:{scheme}"),
        identificationScheme=scheme,
        objectType=OBJECT_EXTERNAL_ID,
        registryObject=target,
        value=value,
    )
    _name(element, name)


def _author(
    parent: ET.Element, facts: ReportFacts, *, scheme: str, target: str, telecom: str = ""
) -> None:
    element = ET.SubElement(
        parent,
        f"{{{RIM}}}Classification",
        classificationScheme=scheme,
        classifiedObject=target,
        id=_urn_uuid(facts, f"classification:{scheme}"),
        nodeRepresentation="",
        objectType=OBJECT_CLASSIFICATION,
    )
    _slot(element, "authorPerson", _xcn(facts.doctor))
    _slot(element, "authorInstitution", _xon(facts))
    _slot(element, "authorSpecialty", _specialty(facts.doctor))
    address = parseaddr(telecom)[1]  # "CPTS <cpts@x.mssante.fr>" → the address alone
    if address:
        _slot(element, "authorTelecommunication", f"^^Internet^{_hl7(address)}")


def _document_entry(root: ET.Element, facts: ReportFacts, cda: bytes, doc_id: str) -> None:
    entry = ET.SubElement(
        root,
        f"{{{RIM}}}ExtrinsicObject",
        id=doc_id,
        mimeType="text/xml",
        objectType=DOCUMENT_ENTRY_STABLE,
        status=STATUS_APPROVED,
    )
    _slot(entry, "creationTime", _ts(facts.signed_at))
    _slot(entry, "hash", hashlib.sha1(cda, usedforsecurity=False).hexdigest())
    _slot(entry, "languageCode", "fr-FR")
    _slot(entry, "legalAuthenticator", _xcn(facts.doctor))
    _slot(entry, "serviceStartTime", _ts(facts.started_at))
    _slot(entry, "serviceStopTime", _ts(facts.ended_at))
    _slot(entry, "size", str(len(cda)))
    _slot(entry, "sourcePatientId", patient_id(facts))
    _slot(entry, "sourcePatientInfo", *_patient_info(facts))
    _slot(entry, "URI", DOCUMENT_URI)
    _name(entry, facts.title)
    _author(entry, facts, scheme=DE_AUTHOR, target=doc_id)
    for nth, (code, label, system) in enumerate(confidentiality_codes(facts)):
        _code(
            entry,
            facts,
            scheme=DE_CONFIDENTIALITY,
            target=doc_id,
            code=code,
            label=label,
            system=system,
            nth=nth,
        )
    codes = (
        (DE_CLASS_CODE, *CLASS_CODE),
        (DE_FORMAT_CODE, *FORMAT_CODE, OID_IHE_FORMAT_CODES),
        (DE_FACILITY_TYPE, *FACILITY_TYPE),
        (DE_PRACTICE_SETTING, *PRACTICE_SETTING),
        (DE_TYPE_CODE, CDA_TYPE_CODE, CDA_TYPE_LABEL, OID_LOINC),
    )
    for scheme, code, label, system in codes:
        _code(entry, facts, scheme=scheme, target=doc_id, code=code, label=label, system=system)
    _external_id(
        entry,
        facts,
        scheme=DE_PATIENT_ID,
        target=doc_id,
        value=patient_id(facts),
        name="XDSDocumentEntry.patientId",
    )
    _external_id(
        entry,
        facts,
        scheme=DE_UNIQUE_ID,
        target=doc_id,
        value=facts.document_oid,
        name="XDSDocumentEntry.uniqueId",
    )


def confidentiality_codes(facts: ReportFacts) -> list[tuple[str, str, str]]:
    """XDSDocumentEntry.confidentialityCode: the HL7 code of the CDA, then the DMP's
    visibility codes the report's state calls for."""
    codes = [
        (
            facts.confidentiality,
            CONFIDENTIALITY_LABELS.get(facts.confidentiality, facts.confidentiality),
            OID_CONFIDENTIALITY,
        )
    ]
    if facts.hidden_from_patient:
        codes.append((*HIDDEN_FROM_PATIENT, OID_VISIBILITY))
    if facts.masked:
        codes.append((*MASKED_FROM_PROFESSIONALS, OID_VISIBILITY))
    return codes


def _recipient_xcn(name: str) -> str:
    """A recipient's name as an XCN without id: ``^FAMILY^Given^^^DR`` (prefix as title)."""
    family, given, is_doctor = cda.split_name(name)
    if not family:
        return ""
    return f"^{_hl7(family)}^{_hl7(given)}^^^{'DR' if is_doctor else ''}".rstrip("^")


def _medecin_traitant_xcn(facts: ReportFacts) -> str:
    """The médecin traitant as an XCN: their IDNPS ("8" + RPPS) when known, names from the
    structured fields (else split from the free text)."""
    family, given, is_doctor = cda.medecin_traitant_names(facts)
    if not family:
        return ""
    prefix = "DR" if is_doctor else ""
    if facts.medecin_traitant_rpps:
        return (
            f"8{facts.medecin_traitant_rpps}^{_hl7(family)}^{_hl7(given)}^^^{prefix}^^^"
            f"&{OID_RPPS}&ISO^D^^^IDNPS"
        )
    return f"^{_hl7(family)}^{_hl7(given)}^^^{prefix}".rstrip("^")


def _submission_set(
    root: ET.Element,
    facts: ReportFacts,
    set_id: str,
    *,
    sender: str,
    recipient: str,
    recipient_name: str,
) -> None:
    package = ET.SubElement(root, f"{{{RIM}}}RegistryPackage", id=set_id)
    _slot(package, "submissionTime", _ts(facts.signed_at))
    if recipient and recipient == facts.medecin_traitant_mssante:
        person = _medecin_traitant_xcn(facts)
    else:
        person = _recipient_xcn(recipient_name)
    _slot(package, "intendedRecipient", f"|{person}|^^Internet^{_hl7(recipient)}")
    _name(package, facts.title)
    _author(package, facts, scheme=SS_AUTHOR, target=set_id, telecom=sender)
    _code(
        package,
        facts,
        scheme=SS_CONTENT_TYPE,
        target=set_id,
        code=CONTENT_TYPE.code,
        label=CONTENT_TYPE.display,
        system=CONTENT_TYPE.coding_scheme,
    )
    identifiers = (
        (SS_UNIQUE_ID, _oid_for(f"urn:oid:{facts.document_oid}#submission"), "uniqueId"),
        (SS_SOURCE_ID, cpts_oid(facts), "sourceId"),
        (SS_PATIENT_ID, patient_id(facts), "patientId"),
    )
    for scheme, value, label in identifiers:
        _external_id(
            package,
            facts,
            scheme=scheme,
            target=set_id,
            value=value,
            name=f"XDSSubmissionSet.{label}",
        )
    ET.SubElement(
        root,
        f"{{{RIM}}}Classification",
        classificationNode=SUBMISSION_SET_NODE,
        classifiedObject=set_id,
        id=_urn_uuid(facts, "classification:submission-set"),
        objectType=OBJECT_CLASSIFICATION,
    )


def build_metadata(
    facts: ReportFacts, cda: bytes, *, sender: str, recipient: str, recipient_name: str = ""
) -> bytes:
    """The XDM ``METADATA.XML``: a SubmitObjectsRequest with one submission set holding the
    report's CDA as its only document entry (which replaces the previous version's entry,
    for an amendment)."""
    request = ET.Element(f"{{{LCM}}}SubmitObjectsRequest")
    objects = ET.SubElement(request, f"{{{RIM}}}RegistryObjectList")
    doc_id = _urn_uuid(facts, "document-entry")
    set_id = _urn_uuid(facts, "submission-set")
    _document_entry(objects, facts, cda, doc_id)
    _submission_set(
        objects, facts, set_id, sender=sender, recipient=recipient, recipient_name=recipient_name
    )
    association = ET.SubElement(
        objects,
        f"{{{RIM}}}Association",
        associationType=HAS_MEMBER,
        id=_urn_uuid(facts, "association"),
        objectType=OBJECT_ASSOCIATION,
        sourceObject=set_id,
        targetObject=doc_id,
    )
    _slot(association, "SubmissionSetStatus", "Original")
    if facts.replaces_oid is not None:
        ET.SubElement(
            objects,
            f"{{{RIM}}}Association",
            associationType=REPLACES,
            id=_urn_uuid(facts, "association:replaces"),
            objectType=OBJECT_ASSOCIATION,
            sourceObject=doc_id,
            targetObject=_entry_uuid(facts.replaces_oid, "document-entry"),
        )
    ET.indent(request)
    xml: bytes = ET.tostring(request, encoding="utf-8", xml_declaration=True)
    return xml


# --- README.TXT and INDEX.HTM ------------------------------------------------------------------


def _local(moment: dt.datetime, facts: ReportFacts) -> dt.datetime:
    return moment.astimezone(ZoneInfo(facts.timezone))


def date_fr(moment: dt.datetime, facts: ReportFacts) -> str:
    return _local(moment, facts).strftime("%d/%m/%Y")


def doctor_name(person: ProfessionalFacts) -> str:
    return f"Dr {person.given_name} {person.family_name}"


def _readme(facts: ReportFacts, *, sender: str) -> bytes:
    place = facts.place
    lines = [
        "IHE XDM - Cross-Enterprise Document Media Interchange",
        "",
        f"Expéditeur : {place.organisation_name}",
        f"Lieu : {place.site_name}, {place.site_address}, {place.site_postcode} {place.site_city}",
        f"Téléphone : {place.organisation_phone}",
        f"Messagerie : {sender}",
        "Logiciel : cpts-telecabine (téléconsultation accompagnée)",
        "",
        "Contenu : un compte rendu de téléconsultation (CDA R2, volet CI-SIS TLM-CR),",
        f"  {DOCUMENT_PATH}, décrit par {METADATA_PATH}.",
        "Ouvrez INDEX.HTM pour la liste des documents.",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


def _index(facts: ReportFacts) -> bytes:
    patient = facts.patient
    esc = html.escape
    who = esc(f"{patient.birth_name} {patient.first_names}")
    return (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
        f"<title>{esc(facts.title)}</title></head><body>\n"
        f"<h1>{esc(facts.place.organisation_name)}</h1>\n"
        f'<p><a href="{README_PATH}">README.TXT</a> : expéditeur et contenu.</p>\n'
        "<ul>\n"
        f'<li><a href="{DOCUMENT_PATH}">{esc(facts.title)}</a> — {who}, '
        f"{esc(date_fr(facts.started_at, facts))}, {esc(doctor_name(facts.doctor))}</li>\n"
        "</ul>\n</body></html>\n"
    ).encode()


# --- the package -------------------------------------------------------------------------------


def build_xdm_zip(
    facts: ReportFacts, cda: bytes, *, sender: str, recipient: str, recipient_name: str = ""
) -> bytes:
    """The ``IHE_XDM.ZIP`` package of the report's CDA, byte for byte the same for the same
    inputs (entries stamped with the signing time, in the site's time zone)."""
    stamp = _local(facts.signed_at, facts).timetuple()[:6]
    entries = (
        (README_PATH, _readme(facts, sender=sender)),
        (INDEX_PATH, _index(facts)),
        (
            METADATA_PATH,
            build_metadata(
                facts, cda, sender=sender, recipient=recipient, recipient_name=recipient_name
            ),
        ),
        (DOCUMENT_PATH, cda),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in entries:
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            archive.writestr(info, content)
    return buffer.getvalue()
