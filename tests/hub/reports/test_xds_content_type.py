"""The submission set of every XDM package says what activity it comes from: a contentTypeCode
of the ANS value set JDV_J59-ContentTypeCode-DMP, which a DMP or an MSSanté client requires
(CI-SIS: "requis"). Read back from the package and checked against the shipped ANS list."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from xml.etree import ElementTree as ET

from hub.reports import xdm
from hub.reports.facts import ReportFacts
from tests.support.reports import sample_facts, sample_patient
from tests.support.terminologie import (
    SUBMISSION_SET_CONTENT_TYPE,
    classifications,
    jdv_j59,
    submission_set_id,
)

CDA = b'<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>\n'
SENDER = "cpts-val-de-loire@cpts.mssante.fr"
MT = "paul.bernard@medecin.mssante.fr"
OID_TRE_R02 = "1.2.250.1.71.4.2.4"  # TRE_R02-SecteurActivite, as the ANS's CodeSystem names it


def metadata_of(facts: ReportFacts) -> bytes:
    package = xdm.build_xdm_zip(facts, CDA, sender=SENDER, recipient=MT)
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return archive.read("IHE_XDM/SUBSET01/METADATA.XML")


def test_the_submission_set_carries_a_content_type_of_the_ans_value_set() -> None:
    metadata = metadata_of(sample_facts())
    [content_type] = classifications(metadata, SUBMISSION_SET_CONTENT_TYPE)
    assert content_type.classified == submission_set_id(metadata)
    value_set = jdv_j59()
    assert (content_type.coding_scheme, content_type.code) in value_set
    assert content_type.display == value_set[(content_type.coding_scheme, content_type.code)]
    # A CPTS room: the CPTS's sector of activity, as in the document's healthcareFacilityTypeCode
    # (J59 has no teleconsultation activity; the telemedicine is the document's typeCode).
    assert (content_type.coding_scheme, content_type.code) == (OID_TRE_R02, "SA63")


def test_every_package_says_it_and_its_registry_objects_keep_distinct_ids() -> None:
    first = sample_facts()
    amendment = sample_facts(
        version=2,
        document_oid="2.25.118093125384279187345366093419826736101",
        replaces_oid=first.document_oid,
        amendment_reason="Posologie corrigée",
    )
    unqualified = sample_facts(
        patient=sample_patient(ins=None, ins_oid=None, identity_status="provisoire")
    )
    hidden = dataclasses.replace(first, hidden_from_patient=True, masked=True)
    for facts in (first, amendment, unqualified, hidden):
        metadata = metadata_of(facts)
        [content_type] = classifications(metadata, SUBMISSION_SET_CONTENT_TYPE)
        assert (content_type.coding_scheme, content_type.code) in jdv_j59()
        ids = [e.get("id") for e in ET.fromstring(metadata).iter() if e.get("id")]
        assert len(ids) == len(set(ids)), ids
