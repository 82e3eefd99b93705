"""The CDA R2 document of a signed report: CI-SIS volet TLM-CR (compte rendu de télémédecine).

A level 1 document (LOINC 85208-7): the ANS "structuration minimale" header, and the report PDF
as the non-structured body. ``build_tlm_cr`` is pure: the same facts and PDF give the same bytes.
The header follows the ANS example ``TLM-CR_2022.01.xml`` and passes the ANS test kit
(``tests/conformance/validate_cda.py``: CDA_extended.xsd, TLM-CR, StrucMin and IHE schematrons).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import unicodedata
from zoneinfo import ZoneInfo

from lxml import etree

from hub.reports.facts import (
    OID_RPPS,
    OID_STRUCTURE,
    PatientFacts,
    PlaceFacts,
    ProfessionalFacts,
    ReportFacts,
    local_oid,
)
from hub.reports.models import ACT_LABELS

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_NSMAP = {None: HL7, "xsi": XSI}

LOINC = "2.16.840.1.113883.6.1"
TLM_CR_CODE = "85208-7"
TLM_CR_DISPLAY = "CR de télémédecine"
# Header templates: HL7 France, CI-SIS, and the one every non-structured CI-SIS document carries
# in place of its volet's (StrucMin admits exactly these three with a nonXMLBody).
TEMPLATE_IDS = ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1", "1.3.6.1.4.1.19376.1.2.20")

OID_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
OID_GENDER = "2.16.840.1.113883.5.1"
OID_PROFESSION = "1.2.250.1.213.1.1.4.5"  # TRE_G15 profession / TRE_R38 speciality pairs
OID_PRACTICE_SETTING = "1.2.250.1.213.1.1.4.9"
OID_FACILITY_TYPE = "1.2.250.1.71.4.2.4"  # TRE_R02 secteur d'activité
OID_NGAP = "1.2.250.1.215.200.3.3"
OID_ACT_CODE = "2.16.840.1.113883.5.4"
OID_FUNCTION = "2.16.840.1.113883.5.88"

CONFIDENTIALITY_LABELS = {"N": "Normal", "R": "Restreint", "V": "Très restreint"}
# PatientFacts.sex -> JDV_J143_AdministrativeGender_CISIS.
GENDERS = {"F": ("F", "Féminin"), "M": ("M", "Masculin"), "I": ("UN", "Inconnu")}
PROFESSION_LABELS = {"10": "Médecin", "60": "Infirmier"}

# The organisation is a CPTS whose professionals work outside hospitals.
PRACTICE_SETTING = ("AMBULATOIRE", "Ambulatoire")
FACILITY_TYPE = (
    "SA63",
    "Communauté professionnelle territoriale de santé et équipe de soins spécialisés",
)
ENCOUNTER_TYPE = ("AMB", "Ambulatoire (hors établissement)")


def build_tlm_cr(facts: ReportFacts, pdf: bytes) -> bytes:
    """Return the UTF-8 XML of the TLM-CR CDA document of ``facts``, with ``pdf`` as its body."""
    tz = ZoneInfo(facts.timezone)
    doc = etree.Element(f"{{{HL7}}}ClinicalDocument", nsmap=_NSMAP)
    _sub(doc, "realmCode", code="FR")
    _sub(doc, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for template in TEMPLATE_IDS:
        _sub(doc, "templateId", root=template)
    _sub(doc, "id", root=facts.document_oid)
    _sub(
        doc,
        "code",
        code=TLM_CR_CODE,
        displayName=TLM_CR_DISPLAY,
        codeSystem=LOINC,
        codeSystemName="LOINC",
    )
    _sub(doc, "title", text=facts.title)
    _sub(doc, "effectiveTime", value=_ts(facts.signed_at, tz))
    _sub(
        doc,
        "confidentialityCode",
        code=facts.confidentiality,
        displayName=CONFIDENTIALITY_LABELS[facts.confidentiality],
        codeSystem=OID_CONFIDENTIALITY,
        codeSystemName="Confidentiality",
    )
    _sub(doc, "languageCode", code="fr-FR")
    _sub(doc, "setId", root=facts.set_oid)
    _sub(doc, "versionNumber", value=str(facts.version))
    _add_record_target(doc, facts)
    _add_author(doc, facts, tz)
    _add_custodian(doc, facts.place)
    _add_information_recipient(doc, facts)
    legal = _sub(doc, "legalAuthenticator")
    _sub(legal, "time", value=_ts(facts.signed_at, tz))
    _sub(legal, "signatureCode", code="S")
    _add_assigned_entity(legal, "assignedEntity", facts.doctor, facts)
    _add_medecin_traitant(doc, facts)
    if facts.nurse is not None:
        _add_nurse(doc, facts, tz, facts.nurse)
    _add_service_event(doc, facts, tz, facts.doctor_act, facts.doctor)
    if facts.nurse_act is not None:
        _add_service_event(doc, facts, tz, facts.nurse_act, facts.nurse)
    if facts.replaces_oid is not None:
        related = _sub(doc, "relatedDocument", typeCode="RPLC")
        parent = _sub(related, "parentDocument")
        _sub(parent, "id", root=facts.replaces_oid)
        # StrucMin's parentDocument holds only id and versionNumber (the set is this one's).
        if facts.version > 1:
            _sub(parent, "versionNumber", value=str(facts.version - 1))
    _add_encounter(doc, facts, tz)
    body = _sub(_sub(doc, "component"), "nonXMLBody")
    _sub(
        body,
        "text",
        text=base64.b64encode(pdf).decode("ascii"),
        mediaType="application/pdf",
        representation="B64",
    )
    xml = etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return bytes(xml)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{HL7}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _ts(moment: dt.datetime, tz: ZoneInfo) -> str:
    if moment.tzinfo is None:
        raise ValueError("CDA times need an aware datetime")
    return moment.astimezone(tz).strftime("%Y%m%d%H%M%S%z")


def _add_record_target(doc: etree._Element, facts: ReportFacts) -> None:
    patient = facts.patient
    role = _sub(_sub(doc, "recordTarget"), "patientRole")
    if patient.ins is not None:
        if patient.ins_oid is None:
            raise ValueError("an INS needs its OID (INS-NIR or INS-NIA)")
        if not patient.birth_place_code:
            raise ValueError("an INS-qualified identity needs its birth place code (COG)")
        _sub(role, "id", root=patient.ins_oid, extension=patient.ins)
    _sub(role, "id", root=local_oid(facts.place, "patient"), extension=patient.local_id)
    if patient.phone:
        _sub(role, "telecom", value=f"tel:{_compact(patient.phone)}")
    if patient.email:
        _sub(role, "telecom", value=f"mailto:{patient.email}")
    person = _sub(role, "patient", classCode="PSN")
    _add_patient_name(person, patient)
    code, label = GENDERS.get(patient.sex, GENDERS["I"])
    _sub(person, "administrativeGenderCode", code=code, displayName=label, codeSystem=OID_GENDER)
    _sub(person, "birthTime", value=patient.birth_date.strftime("%Y%m%d"))
    if patient.birth_place_code:
        place = _sub(_sub(person, "birthplace"), "place")
        _sub(_sub(place, "addr"), "county", text=patient.birth_place_code)


def ins_trait(text: str) -> str:
    """A name trait as INSi returns it: upper case, no diacritics ("LEFÈVRE" → "LEFEVRE";
    hyphens, apostrophes and spaces kept)."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.upper().split())


def _add_patient_name(person: etree._Element, patient: PatientFacts) -> None:
    """Birth name and first names (INS traits: BR qualifiers, written as INSi returns them when
    the document carries the INS), then the used name (CL)."""
    trait = ins_trait if patient.ins is not None else str.strip
    name = _sub(person, "name")
    _sub(name, "family", text=trait(patient.birth_name), qualifier="BR")
    first_names = trait(patient.first_names).split()
    if not first_names:
        raise ValueError("the patient's first names are missing")
    _sub(name, "given", text=" ".join(first_names))
    _sub(name, "given", text=first_names[0], qualifier="BR")
    if patient.used_name and patient.used_name != patient.birth_name:
        _sub(name, "family", text=patient.used_name, qualifier="CL")


def _add_author(doc: etree._Element, facts: ReportFacts, tz: ZoneInfo) -> None:
    author = _sub(doc, "author")
    _sub(author, "time", value=_ts(facts.signed_at, tz))
    _add_assigned_entity(author, "assignedAuthor", facts.doctor, facts)


def _add_assigned_entity(
    parent: etree._Element, tag: str, pro: ProfessionalFacts, facts: ReportFacts
) -> etree._Element:
    """A professional as author, legal authenticator, performer or responsible party."""
    entity = _sub(parent, tag)
    _add_professional_id(entity, pro, facts.place)
    code, label = _profession(pro)
    _sub(entity, "code", code=code, displayName=label, codeSystem=OID_PROFESSION)
    _add_person_name(_sub(entity, "assignedPerson"), pro)
    _add_organisation(_sub(entity, "representedOrganization"), facts.place)
    return entity


def _add_professional_id(entity: etree._Element, pro: ProfessionalFacts, place: PlaceFacts) -> None:
    if pro.rpps:
        _sub(entity, "id", root=OID_RPPS, extension=f"8{pro.rpps}")
    else:
        _sub(entity, "id", root=local_oid(place, "user"), extension=str(pro.user_id))


def _profession(pro: ProfessionalFacts) -> tuple[str, str]:
    """The JDV_J01_XdsAuthorSpecialty_CISIS code and label of a professional."""
    profession = PROFESSION_LABELS.get(pro.profession_code, pro.speciality_label)
    if pro.speciality_code:
        return (
            f"G15_{pro.profession_code}/{pro.speciality_code}",
            f"{profession} - {pro.speciality_label}",
        )
    return f"G15_{pro.profession_code}", profession


def _add_person_name(person: etree._Element, pro: ProfessionalFacts) -> None:
    name = _sub(person, "name")
    if pro.given_name:
        _sub(name, "given", text=pro.given_name)
    _sub(name, "family", text=pro.family_name)
    if pro.role == "doctor":
        _sub(name, "suffix", text="DR")


def _add_organisation(org: etree._Element, place: PlaceFacts) -> None:
    if place.organisation_siret:
        _sub(org, "id", root=OID_STRUCTURE, extension=f"3{place.organisation_siret}")
    _sub(org, "name", text=place.organisation_name)
    if place.organisation_phone:
        _sub(org, "telecom", value=f"tel:{_compact(place.organisation_phone)}", use="WP")
    code, label = PRACTICE_SETTING
    _sub(
        org,
        "standardIndustryClassCode",
        code=code,
        displayName=label,
        codeSystem=OID_PRACTICE_SETTING,
        codeSystemName="practiceSettingCode",
    )


def _add_custodian(doc: etree._Element, place: PlaceFacts) -> None:
    """The CPTS keeps the document. Without a SIRET its id is the bare structures root, the
    only value StrucMin admits besides the one reserved for documents the patient produces."""
    org = _sub(
        _sub(_sub(doc, "custodian"), "assignedCustodian"), "representedCustodianOrganization"
    )
    if place.organisation_siret:
        _sub(org, "id", root=OID_STRUCTURE, extension=f"3{place.organisation_siret}")
    else:
        _sub(org, "id", root=OID_STRUCTURE)
    _sub(org, "name", text=place.organisation_name)
    if place.organisation_phone:
        _sub(org, "telecom", value=f"tel:{_compact(place.organisation_phone)}", use="WP")


def medecin_traitant_names(facts: ReportFacts) -> tuple[str, str, bool]:
    """The médecin traitant's family and given names and whether to title them Dr: from the
    structured fields, else (older rows) split from the free text."""
    if facts.medecin_traitant_family_name:
        return facts.medecin_traitant_family_name, facts.medecin_traitant_given_name, True
    return split_name(facts.medecin_traitant_name)


def _add_medecin_traitant_id(entity: etree._Element, facts: ReportFacts) -> None:
    """The médecin traitant's national identifier (IDNPS, "8" + RPPS), when known."""
    if facts.medecin_traitant_rpps:
        _sub(entity, "id", root=OID_RPPS, extension=f"8{facts.medecin_traitant_rpps}")


def _add_medecin_traitant(doc: etree._Element, facts: ReportFacts) -> None:
    """The patient's médecin traitant (general practitioner of record), when named."""
    family, given, is_doctor = medecin_traitant_names(facts)
    if not family:
        return
    participant = _sub(doc, "participant", typeCode="INF")
    _sub(
        participant,
        "functionCode",
        code="PCP",
        displayName="Médecin traitant",
        codeSystem=OID_FUNCTION,
    )
    _sub(participant, "time", nullFlavor="UNK")
    entity = _sub(participant, "associatedEntity", classCode="PROV")
    _add_medecin_traitant_id(entity, facts)
    if facts.medecin_traitant_mssante:
        _sub(entity, "telecom", value=f"mailto:{facts.medecin_traitant_mssante}")
    _add_name(_sub(entity, "associatedPerson"), family, given, is_doctor)


def _add_information_recipient(doc: etree._Element, facts: ReportFacts) -> None:
    """The médecin traitant, to whom the report is sent (primary recipient), when named."""
    family, given, is_doctor = medecin_traitant_names(facts)
    if not family:
        return
    recipient = _sub(_sub(doc, "informationRecipient", typeCode="PRCP"), "intendedRecipient")
    _add_medecin_traitant_id(recipient, facts)
    if facts.medecin_traitant_mssante:
        _sub(recipient, "telecom", value=f"mailto:{facts.medecin_traitant_mssante}")
    _add_name(_sub(recipient, "informationRecipient"), family, given, is_doctor)


def _add_nurse(
    doc: etree._Element, facts: ReportFacts, tz: ZoneInfo, nurse: ProfessionalFacts
) -> None:
    """The nurse who assisted the patient in the room: a performer of the teleconsultation."""
    participant = _sub(doc, "participant", typeCode="PRF")
    period = _sub(participant, "time")
    _sub(period, "low", value=_ts(facts.started_at, tz))
    _sub(period, "high", value=_ts(facts.ended_at, tz))
    entity = _sub(participant, "associatedEntity", classCode="PROV")
    _add_professional_id(entity, nurse, facts.place)
    code, label = _profession(nurse)
    _sub(entity, "code", code=code, displayName=label, codeSystem=OID_PROFESSION)
    name = _sub(_sub(entity, "associatedPerson"), "name")
    if nurse.given_name:
        _sub(name, "given", text=nurse.given_name)
    _sub(name, "family", text=nurse.family_name)
    _add_organisation(_sub(entity, "scopingOrganization"), facts.place)


def _add_name(parent: etree._Element, family: str, given: str, is_doctor: bool) -> None:
    name = _sub(parent, "name")
    if given:
        _sub(name, "given", text=given)
    _sub(name, "family", text=family)
    if is_doctor:
        _sub(name, "suffix", text="DR")


_ASIDE = re.compile(r"\([^)]*\)|\[[^\]]*\]")


def split_name(text: str) -> tuple[str, str, bool]:
    """Split a name as people write it ("Dr Paul BERNARD") into family, given and is-doctor.

    Remarks in brackets are dropped ("Dr Henri Lacombe (remplaçant)"). The family name is the
    run of upper-case words (French usage), else the last word.
    """
    words = _ASIDE.sub(" ", text).split()
    is_doctor = bool(words) and words[0].rstrip(".").lower() in {"dr", "docteur"}
    if is_doctor:
        words = words[1:]
    upper = [w for w in words if w.isupper() and len(w) > 1]
    if upper:
        given = [w for w in words if w not in upper]
        return " ".join(upper), " ".join(given), is_doctor
    if not words:
        return "", "", is_doctor
    return words[-1], " ".join(words[:-1]), is_doctor


def _add_service_event(
    doc: etree._Element,
    facts: ReportFacts,
    tz: ZoneInfo,
    act: str,
    performer: ProfessionalFacts | None,
) -> None:
    """One documented act (NGAP code) and the professional who performed it."""
    event = _sub(_sub(doc, "documentationOf"), "serviceEvent", classCode="ACT")
    _sub(
        event,
        "code",
        code=act,
        displayName=ACT_LABELS[act],
        codeSystem=OID_NGAP,
        codeSystemName="NGAP",
    )
    period = _sub(event, "effectiveTime")
    _sub(period, "low", value=_ts(facts.started_at, tz))
    _sub(period, "high", value=_ts(facts.ended_at, tz))
    if performer is not None:
        _add_assigned_entity(
            _sub(event, "performer", typeCode="PRF"), "assignedEntity", performer, facts
        )


def _add_encounter(doc: etree._Element, facts: ReportFacts, tz: ZoneInfo) -> None:
    encounter = _sub(_sub(doc, "componentOf"), "encompassingEncounter")
    code, label = ENCOUNTER_TYPE
    _sub(encounter, "code", code=code, displayName=label, codeSystem=OID_ACT_CODE)
    period = _sub(encounter, "effectiveTime")
    _sub(period, "low", value=_ts(facts.started_at, tz))
    _sub(period, "high", value=_ts(facts.ended_at, tz))
    if facts.doctor.rpps:  # StrucMin wants the responsible party identified by RPPS
        _add_assigned_entity(
            _sub(encounter, "responsibleParty"), "assignedEntity", facts.doctor, facts
        )
    facility = _sub(_sub(encounter, "location"), "healthCareFacility")
    code, label = FACILITY_TYPE
    _sub(
        facility,
        "code",
        code=code,
        displayName=label,
        codeSystem=OID_FACILITY_TYPE,
        codeSystemName="healthCareFacilityTypeCode",
    )
    site = _sub(facility, "location")
    place = facts.place
    _sub(site, "name", text=place.site_name)
    addr = _sub(site, "addr")
    if place.site_address:
        _sub(addr, "streetAddressLine", text=place.site_address)
    _sub(addr, "streetAddressLine", text=f"{place.site_postcode} {place.site_city}".strip())


def _compact(phone: str) -> str:
    return "".join(phone.split())
