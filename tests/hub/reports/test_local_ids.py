"""One OID names the CPTS's local patient ids, the same in the CDA, the XDM and FHIR."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from xml.etree import ElementTree as ET

import pytest
from lxml import etree
from pydantic import ValidationError

from hub.config import Environment, Settings
from hub.reports import xdm
from hub.reports.cda import build_tlm_cr
from hub.reports.facts import ReportFacts, local_oid
from hub.reports.fhir_export import patient_resource
from tests.support.reports import sample_facts, sample_patient

NS = {"h": "urn:hl7-org:v3"}
UNQUALIFIED = sample_patient(ins=None, ins_oid=None, identity_status="validee")


def with_root(facts: ReportFacts, root: str) -> ReportFacts:
    place = dataclasses.replace(facts.place, organisation_id=5, oid_root=root)
    return dataclasses.replace(facts, place=place)


def oids_in_documents(facts: ReportFacts) -> tuple[str, str, str]:
    """The local patient id's OID in the CDA, the XDM metadata and the FHIR Patient."""
    cda = build_tlm_cr(facts, b"%PDF-1.4")
    [in_cda] = etree.fromstring(cda).xpath(
        "//h:patientRole/h:id[@extension=$id]/@root", namespaces=NS, id=facts.patient.local_id
    )
    package = xdm.build_xdm_zip(facts, cda, sender="cpts@cpts.mssante.fr", recipient="a@b.fr")
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        metadata = ET.fromstring(archive.read(xdm.METADATA_PATH))
    [in_xdm] = [
        e.get("value", "")
        for e in metadata.iter(f"{{{xdm.RIM}}}ExternalIdentifier")
        if e.get("identificationScheme") == xdm.DE_PATIENT_ID
    ]
    [in_fhir] = [
        str(i["system"])
        for i in patient_resource(facts, base_url="https://hub.example")["identifier"]  # type: ignore[union-attr]
        if i["value"] == facts.patient.local_id
    ]
    return str(in_cda), in_xdm.split("&")[1], in_fhir.removeprefix("urn:oid:")


def test_the_same_oid_everywhere_derived_when_none_is_configured() -> None:
    facts = sample_facts(patient=UNQUALIFIED)
    expected = local_oid(facts.place, "patient")
    assert expected.startswith("2.25.")
    assert oids_in_documents(facts) == (expected, expected, expected)


def test_the_same_oid_everywhere_under_the_configured_root() -> None:
    facts = with_root(sample_facts(patient=UNQUALIFIED), "1.2.250.1.999")
    assert oids_in_documents(facts) == ("1.2.250.1.999.5.1",) * 3
    assert local_oid(facts.place, "user") == "1.2.250.1.999.5.2"


@pytest.mark.parametrize("bad", ["1.2.x", "3.1", "1..2", "1.02"])
def test_a_malformed_root_is_refused_at_start(bad: str) -> None:
    with pytest.raises(ValidationError, match="HUB_OID_ROOT"):
        Settings(environment=Environment.DEVELOPMENT, oid_root=bad)
