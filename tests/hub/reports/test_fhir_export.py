"""FHIR R4B export of a consultation, checked with fhir.resources' R4B models."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from hub.reports.facts import OID_INS_NIA, local_oid
from hub.reports.fhir_audit import audit_action
from hub.reports.fhir_export import consultation_bundle
from tests.support.reports import sample_access, sample_facts, sample_patient

BASE = "https://hub.cpts-val-de-loire.example"
CDA = b'<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>\n'
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"
INS_SYSTEMS = {"urn:oid:1.2.250.1.213.1.4.8", "urn:oid:1.2.250.1.213.1.4.9"}


def codes(text: str) -> set[str]:
    return set(text.split())


# Required bindings of R4B for the coded elements the export fills: fhir.resources checks the
# structure, cardinalities and primitive formats, not value sets (gender "woman" passes it).
REQUIRED_CODES: dict[tuple[str, str], set[str]] = {
    ("Patient", "gender"): codes("male female other unknown"),
    ("Encounter", "status"): codes(
        "planned arrived triaged in-progress onleave finished cancelled entered-in-error unknown"
    ),
    ("Observation", "status"): codes(
        "registered preliminary final amended corrected cancelled entered-in-error unknown"
    ),
    ("DocumentReference", "status"): codes("current superseded entered-in-error"),
    ("DocumentReference", "docStatus"): codes("preliminary final amended entered-in-error"),
    ("AuditEvent", "action"): codes("C R U D E"),
    ("AuditEvent", "outcome"): codes("0 4 8 12"),
}


def export(facts: Any = None, **kwargs: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "cda": CDA,
        "pdf": PDF,
        "accesses": [sample_access()],
        "base_url": BASE,
    }
    arguments.update(kwargs)
    return consultation_bundle(facts or sample_facts(), **arguments)


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == resource_type
    ]


def only(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    [resource] = resources(bundle, resource_type)
    return resource


def references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def binding_errors(bundle: dict[str, Any]) -> list[str]:
    errors = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for (kind, element), codes in REQUIRED_CODES.items():
            value = resource.get(element) if resource["resourceType"] == kind else None
            if value is not None and value not in codes:
                errors.append(f"{kind}.{element} = {value!r}")
    return errors


def test_every_resource_and_the_whole_bundle_are_valid_r4b() -> None:
    bundle = export(
        accesses=[sample_access(), sample_access(outcome="refused", action="report.update")]
    )

    assert json.loads(json.dumps(bundle)) == bundle  # plain JSON, nothing else
    for entry in bundle["entry"]:
        model = get_fhir_model_class(entry["resource"]["resourceType"])
        model.model_validate(entry["resource"])
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    assert bundle["timestamp"] and bundle["identifier"]["value"].startswith("urn:uuid:")
    assert binding_errors(bundle) == []
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert sorted(kinds) == sorted(
        ["Patient", "Organization", "Practitioner", "Practitioner", "Encounter"]
        + ["Observation"] * 3
        + ["DocumentReference", "AuditEvent", "AuditEvent"]
    )


def test_the_validation_step_rejects_broken_resources() -> None:
    bundle = export()
    observation = copy.deepcopy(resources(bundle, "Observation")[0])
    del observation["status"]
    with pytest.raises(ValidationError, match="status"):
        Observation.model_validate(observation)

    broken = copy.deepcopy(bundle)
    resources(broken, "Observation")[0].pop("status")
    with pytest.raises(ValidationError, match="status"):
        Bundle.model_validate(broken)

    patient = copy.deepcopy(only(bundle, "Patient"))
    patient["birthDate"] = "14/03/1958"
    with pytest.raises(ValidationError, match="birthDate"):
        Patient.model_validate(patient)
    patient = copy.deepcopy(only(bundle, "Patient"))
    patient["sex"] = "female"  # not an element of Patient
    with pytest.raises(ValidationError, match="sex"):
        Patient.model_validate(patient)

    # A code outside a required value set is caught by the binding check, not by the models.
    woman = copy.deepcopy(bundle)
    only(woman, "Patient")["gender"] = "woman"
    Bundle.model_validate(woman)
    assert binding_errors(woman) == ["Patient.gender = 'woman'"]


def test_a_qualified_identity_carries_the_ins_nir() -> None:
    patient = only(export(), "Patient")

    [ins] = [i for i in patient["identifier"] if i["system"] in INS_SYSTEMS]
    assert ins["system"] == "urn:oid:1.2.250.1.213.1.4.8"
    assert ins["value"] == "258036311301155"
    assert ins["use"] == "official"
    assert ins["type"]["coding"][0]["code"] == "INS-NIR"
    [reliability] = [
        e for e in patient["extension"] if e["url"].endswith("/fr-core-identity-reliability")
    ]
    assert reliability["extension"][0]["valueCoding"]["code"] == "QUAL"


def test_an_ins_nia_has_its_own_authority() -> None:
    """FR Core 2.2 binds an INS-NIA's use to official | old: it is the official number while
    the patient has no NIR (a "temp" use breaks fr-core-patient-ins)."""
    facts = sample_facts(patient=sample_patient(ins="158036311301155", ins_oid=OID_INS_NIA))
    patient = only(export(facts), "Patient")

    [ins] = [i for i in patient["identifier"] if i["system"] in INS_SYSTEMS]
    assert (ins["system"], ins["use"]) == ("urn:oid:1.2.250.1.213.1.4.9", "official")
    assert ins["type"]["coding"][0]["code"] == "INS-NIA"


def test_an_identity_that_is_not_qualified_has_no_ins() -> None:
    facts = sample_facts(
        patient=sample_patient(ins=None, ins_oid=None, identity_status="provisoire")
    )
    patient = only(export(facts), "Patient")

    # The CPTS's local ids: the same OID as in the CDA and the XDM.
    assert [i["system"] for i in patient["identifier"]] == [
        f"urn:oid:{local_oid(facts.place, 'patient')}"
    ]
    assert patient["identifier"][0]["value"] == "42"
    assert "258036311301155" not in json.dumps(patient)
    [reliability] = [
        e for e in patient["extension"] if e["url"].endswith("/fr-core-identity-reliability")
    ]
    assert reliability["extension"][0]["valueCoding"]["code"] == "PROV"
    Patient.model_validate(patient)


def test_names_gender_birth_date_and_birth_place() -> None:
    patient = only(export(), "Patient")

    official, usual = patient["name"]
    assert (official["use"], official["family"], official["given"]) == (
        "official",
        "LEFÈVRE",
        ["Hélène"],
    )
    assert official["extension"][0]["valueString"] == "Hélène Marie"
    assert (usual["use"], usual["family"]) == ("usual", "MARTIN")
    assert (patient["gender"], patient["birthDate"]) == ("female", "1958-03-14")
    [birth_place] = [e for e in patient["extension"] if e["url"].endswith("patient-birthPlace")]
    assert birth_place["valueAddress"]["extension"][0]["valueCoding"]["code"] == "63113"

    unknown = only(
        export(sample_facts(patient=sample_patient(sex="I", birth_place_code=""))), "Patient"
    )
    assert unknown["gender"] == "unknown"
    assert not [e for e in unknown["extension"] if e["url"].endswith("patient-birthPlace")]
    with pytest.raises(ValueError, match="sex"):
        export(sample_facts(patient=sample_patient(sex="X")))


def test_observations_speak_loinc_and_ucum_at_the_sites_time() -> None:
    observations = resources(export(), "Observation")

    assert [o["code"]["coding"][0]["code"] for o in observations] == [
        "8310-5",
        "59408-5",
        "85354-9",  # the lone systolic pressure of the sample is still a panel's component
    ]
    for observation in observations:
        Observation.model_validate(observation)
        assert observation["status"] == "final"
        assert observation["code"]["coding"][0]["system"] == "http://loinc.org"
        assert observation["category"][0]["coding"][0]["code"] == "vital-signs"
    temperature = observations[0]
    assert temperature["valueQuantity"] == {
        "value": 38.4,
        "unit": "Cel",
        "system": "http://unitsofmeasure.org",
        "code": "Cel",
    }
    # 09:33 UTC is 10:33 in Paris in November.
    assert temperature["effectiveDateTime"] == "2026-11-20T10:33:00+01:00"
    assert temperature["device"] == {"display": "Thermomètre BLE n° TH-0042"}


def test_every_reference_resolves_inside_the_bundle() -> None:
    bundle = export(accesses=[sample_access(), sample_access(actor_id=None, actor_kind="system")])
    full_urls = [entry["fullUrl"] for entry in bundle["entry"]]
    found = list(references(bundle))

    assert len(set(full_urls)) == len(full_urls)
    assert all(url.startswith("urn:uuid:") for url in full_urls)
    # Encounter 4 (subject, 2 participants, provider), observations 3 x 3 (subject, encounter,
    # performer), document 5 (subject, author, authenticator, custodian, encounter), audits 2.
    assert len(found) == 4 + 9 + 5 + 2
    assert set(found) <= set(full_urls)
    encounter = only(bundle, "Encounter")
    practitioners = {
        entry["fullUrl"]: entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "Practitioner"
    }
    doctor = practitioners[encounter["participant"][0]["individual"]["reference"]]
    assert doctor["identifier"][0] == {
        "use": "official",
        "type": doctor["identifier"][0]["type"],
        "system": "urn:oid:1.2.250.1.71.4.2.1",
        "value": "810003456789",
    }
    assert encounter["class"]["code"] == "VR"
    assert [t["coding"][0]["code"] for t in encounter["type"]] == ["TCG", "TLL"]
    organization = only(bundle, "Organization")
    assert organization["identifier"][0]["value"] == "390123456700018"


def test_the_export_is_deterministic() -> None:
    assert export() == export()
    other_hub = export(base_url="https://autre-hub.example")
    assert {e["fullUrl"] for e in other_hub["entry"]}.isdisjoint(
        {e["fullUrl"] for e in export()["entry"]}
    )


def test_the_cda_travels_whole_with_its_sha1() -> None:
    document = only(export(), "DocumentReference")

    cda, pdf = (content["attachment"] for content in document["content"])
    assert cda["contentType"] == "text/xml"
    assert base64.b64decode(cda["data"]) == CDA
    assert cda["size"] == len(CDA)
    assert base64.b64decode(cda["hash"]) == hashlib.sha1(CDA).digest()
    assert pdf["contentType"] == "application/pdf"
    assert base64.b64decode(pdf["data"]) == PDF
    assert document["masterIdentifier"]["value"] == (
        "urn:oid:2.25.329800735698586629295641978511506172918"
    )
    assert document["identifier"][0]["value"] == (
        "urn:oid:2.25.211055312467438409733227329128456701122"
    )
    assert document["type"]["coding"][0]["code"] == "85208-7"
    assert document["securityLabel"][0]["coding"][0]["code"] == "N"
    assert (document["status"], document["docStatus"]) == ("current", "final")
    assert "relatesTo" not in document

    without_pdf = only(export(pdf=None), "DocumentReference")
    assert len(without_pdf["content"]) == 1


def test_an_amendment_replaces_the_previous_version() -> None:
    facts = sample_facts(
        version=2,
        document_oid="2.25.1234",
        replaces_oid="2.25.329800735698586629295641978511506172918",
        amendment_reason="Erreur de posologie",
        confidentiality="R",
    )
    document = only(export(facts), "DocumentReference")

    assert document["relatesTo"] == [
        {
            "code": "replaces",
            "target": {
                "identifier": {
                    "system": "urn:ietf:rfc:3986",
                    "value": "urn:oid:2.25.329800735698586629295641978511506172918",
                }
            },
        }
    ]
    assert document["securityLabel"][0]["coding"][0]["code"] == "R"
    get_fhir_model_class("DocumentReference").model_validate(document)


def test_visibility_in_the_shared_record_travels_as_security_labels() -> None:
    document = only(
        export(sample_facts(hidden_from_patient=True, masked=True)), "DocumentReference"
    )
    assert [
        (c["system"], c["code"]) for label in document["securityLabel"] for c in label["coding"]
    ] == [
        ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N"),
        ("urn:oid:1.2.250.1.213.1.1.4.13", "INVISIBLE_PATIENT"),
        ("urn:oid:1.2.250.1.213.1.1.4.13", "MASQUE_PS"),
    ]
    get_fhir_model_class("DocumentReference").model_validate(document)


def test_accesses_become_audit_events() -> None:
    refused = sample_access(outcome="refused", action="sas.refused", actor_name="Plateforme SAS")
    bundle = export(accesses=[sample_access(), refused])
    read, denied = resources(bundle, "AuditEvent")

    assert (read["action"], read["outcome"]) == ("R", "0")
    assert denied["outcome"] == "4"
    assert denied["agent"][0]["who"]["display"] == "Plateforme SAS"
    assert read["agent"][0]["role"] == [{"text": "Médecin téléconsultant"}]
    assert read["agent"][0]["requestor"] is True
    assert read["recorded"] == "2026-11-21T11:30:00+00:00"
    assert read["type"]["code"] == "110110"
    assert read["entity"][0]["what"]["reference"] == bundle["entry"][0]["fullUrl"]
    assert (audit_action("sas.appointment_read"), audit_action("report.update")) == ("R", "U")


def test_a_professionals_access_names_them_by_rpps() -> None:
    program = sample_access(actor_kind="api_client", actor_id=2, actor_name="Plateforme SAS")
    bundle = export(accesses=[sample_access(actor_rpps="10003456789"), program, sample_access()])
    doctor, platform, unknown_rpps = resources(bundle, "AuditEvent")

    assert doctor["agent"][0]["who"]["identifier"] == {
        "use": "official",
        "type": doctor["agent"][0]["who"]["identifier"]["type"],
        "system": "urn:oid:1.2.250.1.71.4.2.1",
        "value": "810003456789",
    }
    assert doctor["agent"][0]["type"]["coding"][0]["code"] == "humanuser"
    assert platform["agent"][0]["type"]["coding"][0]["code"] == "110150"
    assert platform["agent"][0]["who"]["identifier"]["value"] == "2"
    assert unknown_rpps["agent"][0]["who"]["identifier"]["system"] == f"{BASE}/users"
    assert [audit_action(a) for a in ("dmp.list", "sas.appointment", "dmp.deposit")] == [
        "E",
        "C",
        "C",
    ]
    Bundle.model_validate(bundle)
