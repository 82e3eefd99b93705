"""The FHIR export against the StructureDefinitions of the profiles it claims: FR Core's (as the
IG publisher wrote them) and the HL7 R4 vital-signs profiles they derive from, shipped under
tests/conformance/fhir/ (ORIGIN.md says from where) and read by ``tests.support.fhir_profiles``.
Every resource of the bundle is checked against each profile of its ``meta.profile`` and their
parents (FR Core bp → HL7 bp → HL7 vitalsigns): cardinalities, slices, fixed and pattern values,
required bindings. Then the base R4B structure (fhir.resources).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from hub.reports.facts import OID_INS_NIA, MeasurementFacts
from hub.reports.fhir_audit import AccessFacts
from hub.reports.fhir_export import consultation_bundle
from tests.support.fhir_profiles import Registry
from tests.support.reports import START, sample_access, sample_facts, sample_patient

BASE = "https://hub.cpts-val-de-loire.example"
FR = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
FR_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
LOINC = "http://loinc.org"
RELIABILITY = FR + "fr-core-identity-reliability"

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


def codings(concept: Any) -> list[dict[str, Any]]:
    return list((concept or {}).get("coding", []))


def has_code(concept: Any, system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code for c in codings(concept))


def identifiers(resource: Resource, system: str) -> list[Resource]:
    return [i for i in resource.get("identifier", []) if i.get("system") == system]


def cuff_reading(
    at: dt.datetime, unit: str = "mm[Hg]", scale: float = 1.0
) -> list[MeasurementFacts]:
    """One blood pressure reading as the cuff gives it: three pressures and the pulse."""
    device = "Tensiomètre Omron X4 n° BP-7"
    return [
        MeasurementFacts(at, kind, label, value * scale, u, loinc, device)
        for kind, label, value, u, loinc in (
            ("blood_pressure_systolic", "Pression artérielle systolique", 128.0, unit, "8480-6"),
            ("blood_pressure_diastolic", "Pression artérielle diastolique", 82.0, unit, "8462-4"),
            ("blood_pressure_mean", "Pression artérielle moyenne", 97.0, unit, "8478-0"),
            ("pulse_rate", "Fréquence cardiaque", 88.0, "/min", "8867-4"),
        )
    ]


def every_vital_sign() -> tuple[MeasurementFacts, ...]:
    minute = dt.timedelta(minutes=1)
    oximeter = "Contec CMS50D n° 0015"
    return (
        MeasurementFacts(
            START + minute, "body_temperature", "Température", 38.4, "Cel", "8310-5", "TH-0042"
        ),
        MeasurementFacts(
            START + 2 * minute,
            "spo2",
            "Saturation en oxygène (SpO2)",
            95.0,
            "%",
            "59408-5",
            oximeter,
        ),
        MeasurementFacts(
            START + 2 * minute,
            "perfusion_index",
            "Indice de perfusion",
            4.1,
            "%",
            "61006-3",
            oximeter,
        ),
        MeasurementFacts(
            START + 3 * minute, "body_weight", "Poids", 71.5, "kg", "29463-7", "Balance n° 3"
        ),
        *cuff_reading(START + 4 * minute),
        *cuff_reading(START + 9 * minute),
    )


def accesses() -> list[AccessFacts]:
    """The patient's audit trail: the doctor reading the record, a refused SAS request."""
    read = sample_access(at=START + dt.timedelta(days=1), actor_rpps="10003456789")
    refused = dataclasses.replace(
        read, actor_kind="api_client", actor_id=1, actor_name="Plateforme SAS", actor_rpps=""
    )
    return [read, dataclasses.replace(refused, action="sas.appointment", outcome="refused")]


def bundle(**overrides: Any) -> dict[str, Any]:
    facts = sample_facts(measurements=every_vital_sign(), **overrides)
    return consultation_bundle(
        facts, cda=b"<ClinicalDocument/>", pdf=None, accesses=accesses(), base_url=BASE
    )


def all_resources(b: dict[str, Any]) -> list[Resource]:
    return [e["resource"] for e in b["entry"]]


def of_type(b: dict[str, Any], kind: str) -> list[Resource]:
    return [r for r in all_resources(b) if r["resourceType"] == kind]


def observation(b: dict[str, Any], loinc: str) -> Resource:
    return next(o for o in of_type(b, "Observation") if has_code(o["code"], LOINC, loinc))


PATIENTS = {
    "qualified INS-NIR": sample_patient(),
    "qualified INS-NIA": sample_patient(ins="758036311301155", ins_oid=OID_INS_NIA),
    "validated, no INS": sample_patient(ins=None, ins_oid=None, identity_status="validee"),
    "provisional": sample_patient(ins=None, ins_oid=None, identity_status="provisoire"),
    "qualified, born abroad": dataclasses.replace(sample_patient(), birth_place_code="99134"),
}


@pytest.mark.parametrize("patient", PATIENTS.values(), ids=list(PATIENTS))
def test_the_export_satisfies_every_profile_it_claims(registry: Registry, patient: Any) -> None:
    resources = all_resources(bundle(patient=patient))

    assert [e for r in resources for e in registry.validate(r)] == []
    for resource in resources:  # and the base R4B structure
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_the_export_claims_the_fr_core_profiles_it_is_checked_against(registry: Registry) -> None:
    """So that no profile passes for want of a resource claiming it."""
    claimed = {
        profile: resource["resourceType"]
        for resource in all_resources(bundle())
        for profile in resource.get("meta", {}).get("profile", [])
    }
    assert claimed == {
        FR + "fr-core-patient-ins": "Patient",
        FR + "fr-core-organization": "Organization",
        FR + "fr-core-practitioner": "Practitioner",
        FR + "fr-core-observation-body-temperature": "Observation",
        FR + "fr-core-observation-saturation-oxygen": "Observation",
        FR + "fr-core-observation-body-weight": "Observation",
        FR + "fr-core-observation-bp": "Observation",
        FR + "fr-core-observation-heartrate": "Observation",
    }
    chains = {url: [p.url for p in registry.chain(url)] for url in claimed}
    assert chains[FR + "fr-core-observation-bp"] == [
        FR + "fr-core-observation-bp",
        "http://hl7.org/fhir/StructureDefinition/bp",
        "http://hl7.org/fhir/StructureDefinition/vitalsigns",
    ]
    assert chains[FR + "fr-core-patient-ins"] == [
        FR + "fr-core-patient-ins",
        FR + "fr-core-patient",
    ]


def test_the_rules_of_fr_core_sources_newer_than_the_shipped_build() -> None:
    """Two rules of FR Core's FSH sources (Interop-Sante/hl7.fhir.fr.core, input/fsh/) that the
    shipped 2.2.0-ballot-2 build does not state: the identity status bound (required) to the
    RNIV's four statuses (extensions/FRCorePatientIdentityReliabilityExtension.fsh@09cbf83c)
    and the structure's national identifier slice idNatSt
    (profiles/FRCoreOrganizationProfile.fsh@0fb6a28e, also in the 2.2.0-ballot)."""
    b = bundle()
    for name in ("qualified INS-NIR", "validated, no INS", "provisional"):
        [patient] = of_type(bundle(patient=PATIENTS[name]), "Patient")
        [reliability] = [e for e in patient["extension"] if e["url"] == RELIABILITY]
        [status] = [e for e in reliability["extension"] if e["url"] == "identityStatus"]
        assert status["valueCoding"]["code"] in {"PROV", "RECUP", "VALI", "QUAL"}, name
    [organization] = of_type(b, "Organization")
    [idnst] = identifiers(organization, "urn:oid:1.2.250.1.71.4.2.2")
    assert idnst["use"] == "official"
    assert has_code(idnst["type"], FR_V2_0203, "IDNST")


def _without_bp_code(panel: Resource) -> None:
    panel["code"]["coding"] = [c for c in panel["code"]["coding"] if c["code"] != "85354-9"]
    panel["code"]["coding"].append({"system": LOINC, "code": "55284-4"})


def _without_diastolic(panel: Resource) -> None:
    del panel["component"][1]


def _in_kpa(panel: Resource) -> None:
    panel["component"][0]["valueQuantity"] |= {"unit": "kPa", "code": "kPa", "value": 17.1}


def _with_a_value(panel: Resource) -> None:
    panel["valueQuantity"] = panel["component"][0]["valueQuantity"]


def _without_2708(spo2: Resource) -> None:
    spo2["code"]["coding"] = [c for c in spo2["code"]["coding"] if c["code"] != "2708-6"]


def _pulse_in_hertz(pulse: Resource) -> None:
    pulse["valueQuantity"] |= {"unit": "Hz", "code": "Hz"}


def _as_text(pulse: Resource) -> None:
    pulse["valueString"] = "88/min"
    del pulse["valueQuantity"]


def _without_category(temperature: Resource) -> None:
    temperature["category"] = [{"text": "Signes vitaux"}]


def _without_birth_place(patient: Resource) -> None:
    patient["extension"] = [e for e in patient["extension"] if "birthPlace" not in e["url"]]


def _ins_as_temporary(patient: Resource) -> None:
    patient["identifier"][0]["use"] = "temp"


def _two_official_names(patient: Resource) -> None:
    patient["name"].append(dict(patient["name"][0]))


def _local_id_as_official(patient: Resource) -> None:
    patient["identifier"][1]["use"] = "official"


BREAKAGES: dict[str, tuple[str, Callable[[Resource], None], list[str]]] = {
    "blood pressure without 85354-9": (
        "85354-9",
        _without_bp_code,
        ["bp: Observation.code.coding:BPCode at Observation.code: 0 found, at least 1 required"],
    ),
    "blood pressure without its diastolic": (
        "85354-9",
        _without_diastolic,
        ["bp: Observation.component:DiastolicBP at Observation: 0 found, at least 1 required"],
    ),
    "a pressure in kPa": (
        "85354-9",
        _in_kpa,
        [
            "bp: Observation.component:SystolicBP.value[x].code at "
            'Observation.component[0].valueQuantity.code: "kPa" is not the fixed "mm[Hg]"'
        ],
    ),
    "a panel with a value of its own": (
        "85354-9",
        _with_a_value,
        [
            "fr-core-observation-bp: Observation.value[x] at Observation: "
            "1 found, at most 0 allowed",
            "bp: Observation.value[x]:valueQuantity at Observation: 1 found, at most 0 allowed",
        ],
    ),
    "SpO2 without 2708-6": (
        "59408-5",
        _without_2708,
        [
            "oxygensat: Observation.code.coding:OxygenSatCode at Observation.code: "
            "0 found, at least 1 required"
        ],
    ),
    "a pulse in Hz": (
        "8867-4",
        _pulse_in_hertz,
        [
            "heartrate: Observation.value[x]:valueQuantity.code at "
            'Observation.valueQuantity.code: "Hz" is not the fixed "/min"'
        ],
    ),
    "a pulse as text": (
        "8867-4",
        _as_text,
        ["heartrate: Observation.value[x] at Observation.valueString: valueString is not one of"],
    ),
    "a temperature outside the vital signs category": (
        "8310-5",
        _without_category,
        ["vitalsigns: Observation.category:VSCat at Observation: 0 found, at least 1 required"],
    ),
    "a qualified patient without birth place": (
        "Patient",
        _without_birth_place,
        ["fr-core-patient-ins: Patient.extension:birthPlace at Patient: 0 found"],
    ),
    "an INS with a temporary use": (
        "Patient",
        _ins_as_temporary,
        [
            "fr-core-patient-ins: Patient.identifier:INS-NIR.use at Patient.identifier[0].use: "
            '"temp" is not in https://hl7.fr/ig/fhir/core/ValueSet/'
            "fr-core-vs-patient-identifier-use-ins"
        ],
    ),
    "a qualified patient with two birth names": (
        "Patient",
        _two_official_names,
        ["fr-core-patient-ins: Patient.name:officialName at Patient: 2 found, at most 1 allowed"],
    ),
    "a local identifier used as official": (
        "Patient",
        _local_id_as_official,
        ["fr-core-patient: Patient.identifier:PI.use at Patient.identifier[1].use"],
    ),
}


@pytest.mark.parametrize("target, breakage, expected", BREAKAGES.values(), ids=list(BREAKAGES))
def test_the_validator_catches_a_broken_resource(
    registry: Registry, target: str, breakage: Callable[[Resource], None], expected: list[str]
) -> None:
    b = bundle()
    resource = of_type(b, "Patient")[0] if target == "Patient" else observation(b, target)
    assert registry.validate(resource) == []
    broken = copy.deepcopy(resource)
    breakage(broken)

    errors = registry.validate(broken)
    for message in expected:
        assert [e for e in errors if e.startswith(message)], (message, errors)


def test_a_cuff_reading_is_one_panel_and_a_pulse() -> None:
    observations = of_type(bundle(), "Observation")

    panels = [o for o in observations if has_code(o["code"], LOINC, "85354-9")]
    assert len(panels) == 2  # two readings, five minutes apart
    first = panels[0]
    assert [
        (codings(c["code"])[0]["code"], c["valueQuantity"]["value"]) for c in first["component"]
    ] == [("8480-6", 128.0), ("8462-4", 82.0), ("8478-0", 97.0)]
    assert first["effectiveDateTime"] == "2026-11-20T10:34:00+01:00"
    pulses = [o for o in observations if has_code(o["code"], LOINC, "8867-4")]
    assert [p["valueQuantity"]["value"] for p in pulses] == [88.0, 88.0]
    assert not [
        o
        for o in observations
        if {"8480-6", "8462-4", "8478-0"} & {c["code"] for c in codings(o["code"])}
    ]
    # Perfusion index: a vital sign FR Core has no profile for, claiming none.
    [index] = [o for o in observations if has_code(o["code"], LOINC, "61006-3")]
    assert "meta" not in index


def test_spo2_carries_both_its_codes() -> None:
    spo2 = observation(bundle(), "59408-5")
    assert [c["code"] for c in codings(spo2["code"])] == ["59408-5", "2708-6"]
    assert FR + "fr-core-observation-saturation-oxygen" in spo2["meta"]["profile"]


def test_pressures_taken_in_kpa_are_exported_in_mmhg(registry: Registry) -> None:
    reading = cuff_reading(START, unit="kPa", scale=0.133322)
    facts = sample_facts(measurements=tuple(reading))
    b = consultation_bundle(facts, cda=b"<x/>", pdf=None, accesses=[], base_url=BASE)
    panel = observation(b, "85354-9")

    assert [c["valueQuantity"]["code"] for c in panel["component"]] == ["mm[Hg]"] * 3
    assert panel["component"][0]["valueQuantity"]["value"] == 128.0
    assert registry.validate(panel) == []


def test_only_a_qualified_identity_claims_the_ins_profile() -> None:
    [qualified] = of_type(bundle(), "Patient")
    assert qualified["meta"]["profile"] == [FR + "fr-core-patient-ins"]

    for name in ("validated, no INS", "qualified, born abroad"):
        [other] = of_type(bundle(patient=PATIENTS[name]), "Patient")
        assert other["meta"]["profile"] == [FR + "fr-core-patient"], name
    [unqualified] = of_type(bundle(patient=PATIENTS["validated, no INS"]), "Patient")
    assert not identifiers(unqualified, "urn:oid:1.2.250.1.213.1.4.8")


def test_practitioners_claim_fr_core_with_their_idnps() -> None:
    practitioners = of_type(bundle(), "Practitioner")
    assert {p["meta"]["profile"][0] for p in practitioners} == {FR + "fr-core-practitioner"}
    doctor = practitioners[0]
    [idnps] = identifiers(doctor, "urn:oid:1.2.250.1.71.4.2.1")
    assert idnps["value"] == "810003456789"
    assert has_code(idnps["type"], FR_V2_0203, "IDNPS")
