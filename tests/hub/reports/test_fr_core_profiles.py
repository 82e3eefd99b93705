"""The FHIR export against the FR Core profiles it claims: rules derived by hand from FR Core's
FSH sources (github.com/Interop-Sante/hl7.fhir.fr.core, ``input/fsh/``; the commit read is
named with each file) and from the HL7 R4 vital-signs profiles they derive from (``Parent:``
of each FSH file; http://hl7.org/fhir/R4/observation-vitalsigns.html). packages.fhir.org is
out of reach here, so no FHIR validator runs the StructureDefinitions themselves: every rule
below is one cardinality, fixed value or required code of those sources, applied to every
resource of the bundle that claims the profile.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from hub.reports.facts import MeasurementFacts
from hub.reports.fhir_export import consultation_bundle
from tests.support.reports import START, sample_facts, sample_patient

BASE = "https://hub.cpts-val-de-loire.example"
FR = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
FR_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

# The FSH files the rules come from (repository path @ commit read).
FSH = "Interop-Sante/hl7.fhir.fr.core:input/fsh/"
BP_FSH = FSH + "profiles/FRCoreObservationBloodPressureProfile.fsh@06030c61"
HEART_FSH = FSH + "profiles/FRCoreObservationHeartRateProfile.fsh@010190cc"
SPO2_FSH = FSH + "profiles/FRCoreObservationOxygenSaturationProfile.fsh@00d6bf3f"
TEMP_FSH = FSH + "profiles/FRCoreObservationBodyTemperatureProfile.fsh@13d5328f"
WEIGHT_FSH = FSH + "profiles/FRCoreObservationBodyWeightProfile.fsh@3dc47cbe"
PATIENT_FSH = FSH + "profiles/FRCorePatientProfile.fsh@0192d45c"
INS_FSH = FSH + "profiles/FRCorePatientINSProfile.fsh@18ddd2e1"
RELIABILITY_FSH = FSH + "extensions/FRCorePatientIdentityReliabilityExtension.fsh@09cbf83c"
PRACTITIONER_FSH = FSH + "profiles/FRCorePractitionerProfile.fsh@0492713c"
ORGANIZATION_FSH = FSH + "profiles/FRCoreOrganizationProfile.fsh@0fb6a28e"
CANONICAL = FSH.replace("input/fsh/", "") + "sushi-config.yaml@0492713c (canonical)"
# The HL7 parents (R4 4.0.1) the FR Core vital-sign profiles name in ``Parent:``.
VITALSIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns (parent of every vital sign)"
HL7_BP = "http://hl7.org/fhir/StructureDefinition/bp (Parent: of " + BP_FSH + ")"
HL7_HEART = "http://hl7.org/fhir/StructureDefinition/heartrate (Parent: $heartrate)"
HL7_SPO2 = "http://hl7.org/fhir/StructureDefinition/oxygensat (Parent: $oxygensat)"
HL7_TEMP = "http://hl7.org/fhir/StructureDefinition/bodytemp (Parent: $bodytemp)"
HL7_WEIGHT = "http://hl7.org/fhir/StructureDefinition/bodyweight (Parent: $bodyweight)"

Resource = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    profile: str  # the profile id the rule belongs to
    says: str  # the rule, as the source writes it
    source: str
    holds: Callable[[Resource], bool]


def codings(concept: Any) -> list[dict[str, Any]]:
    return list((concept or {}).get("coding", []))


def has_code(concept: Any, system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code for c in codings(concept))


def components(resource: Resource, code: str) -> list[Resource]:
    return [c for c in resource.get("component", []) if has_code(c.get("code"), LOINC, code)]


def quantity_ok(q: Any, units: set[str]) -> bool:
    """vitalsigns: valueQuantity.value, .unit, .system (= UCUM) and .code 1..1; code bound."""
    return (
        isinstance(q, dict)
        and isinstance(q.get("value"), int | float)
        and bool(q.get("unit"))
        and q.get("system") == UCUM
        and q.get("code") in units
    )


def extension(resource: Any, url: str) -> list[Resource]:
    return [e for e in (resource or {}).get("extension", []) if e.get("url") == url]


def identifiers(resource: Resource, system: str) -> list[Resource]:
    return [i for i in resource.get("identifier", []) if i.get("system") == system]


def official_names(patient: Resource) -> list[Resource]:
    return [n for n in patient.get("name", []) if n.get("use") == "official"]


def vital_sign_rules(profile: str, parent: str, fsh: str) -> list[Rule]:
    """What the HL7 vitalsigns profile (and FR Core's ``code.coding 1..``) asks of all."""
    return [
        Rule(profile, "status 1..1", VITALSIGNS, lambda r: bool(r.get("status"))),
        Rule(
            profile,
            "category contains VSCat 1..1 = observation-category#vital-signs",
            VITALSIGNS,
            lambda r: (
                sum(
                    has_code(
                        c,
                        "http://terminology.hl7.org/CodeSystem/observation-category",
                        "vital-signs",
                    )
                    for c in r.get("category", [])
                )
                == 1
            ),
        ),
        Rule(profile, "subject 1..1", VITALSIGNS, lambda r: "reference" in r.get("subject", {})),
        Rule(
            profile,
            "effective[x] 1..1, dateTime or Period",
            fsh if profile == "fr-core-observation-bp" else VITALSIGNS,
            lambda r: "effectiveDateTime" in r or "effectivePeriod" in r,
        ),
        Rule(profile, "code.coding 1..", fsh, lambda r: len(codings(r.get("code"))) >= 1),
        Rule(
            profile,
            "meta.profile[fr-canonical] = Canonical(" + profile + ")",
            CANONICAL + " + " + fsh,
            lambda r: FR + profile in r.get("meta", {}).get("profile", []),
        ),
    ]


RULES: list[Rule] = [
    # --- blood pressure panel --------------------------------------------------------------
    *vital_sign_rules("fr-core-observation-bp", HL7_BP, BP_FSH),
    Rule(
        "fr-core-observation-bp",
        "code.coding contains BPCode = LOINC#85354-9",
        HL7_BP,
        lambda r: has_code(r["code"], LOINC, "85354-9"),
    ),
    Rule(
        "fr-core-observation-bp",
        "value[x] ..0",
        BP_FSH,
        lambda r: not any(k.startswith("value") for k in r),
    ),
    Rule(
        "fr-core-observation-bp",
        "component[SystolicBP] 1..1, code LOINC#8480-6",
        HL7_BP,
        lambda r: len(components(r, "8480-6")) == 1,
    ),
    Rule(
        "fr-core-observation-bp",
        "component[DiastolicBP] 1..1, code LOINC#8462-4",
        HL7_BP,
        lambda r: len(components(r, "8462-4")) == 1,
    ),
    Rule(
        "fr-core-observation-bp",
        "component[MeanBP] 0..1, code LOINC#8478-0",
        BP_FSH,
        lambda r: len(components(r, "8478-0")) <= 1,
    ),
    Rule(
        "fr-core-observation-bp",
        "component.valueQuantity in mm[Hg] (UCUM)",
        HL7_BP,
        lambda r: all(
            quantity_ok(c.get("valueQuantity"), {"mm[Hg]"}) for c in r.get("component", [])
        ),
    ),
    Rule(
        "fr-core-observation-bp",
        "component[SystolicBP].code.coding 1..",
        BP_FSH,
        lambda r: all(len(codings(c["code"])) >= 1 for c in r.get("component", [])),
    ),
    # --- heart rate -------------------------------------------------------------------------
    *vital_sign_rules("fr-core-observation-heartrate", HL7_HEART, HEART_FSH),
    Rule(
        "fr-core-observation-heartrate",
        "code.coding contains HeartRateCode = LOINC#8867-4",
        HL7_HEART,
        lambda r: has_code(r["code"], LOINC, "8867-4"),
    ),
    Rule(
        "fr-core-observation-heartrate",
        "valueQuantity.code = /min",
        HL7_HEART,
        lambda r: quantity_ok(r.get("valueQuantity"), {"/min"}),
    ),
    # --- oxygen saturation ------------------------------------------------------------------
    *vital_sign_rules("fr-core-observation-saturation-oxygen", HL7_SPO2, SPO2_FSH),
    Rule(
        "fr-core-observation-saturation-oxygen",
        "code.coding contains OxygenSatCode = LOINC#2708-6",
        HL7_SPO2,
        lambda r: has_code(r["code"], LOINC, "2708-6"),
    ),
    Rule(
        "fr-core-observation-saturation-oxygen",
        "valueQuantity.code = %",
        HL7_SPO2,
        lambda r: quantity_ok(r.get("valueQuantity"), {"%"}),
    ),
    Rule(
        "fr-core-observation-saturation-oxygen",
        "partOf ..1",
        SPO2_FSH,
        lambda r: len(r.get("partOf", [])) <= 1,
    ),
    # --- body temperature -------------------------------------------------------------------
    *vital_sign_rules("fr-core-observation-body-temperature", HL7_TEMP, TEMP_FSH),
    Rule(
        "fr-core-observation-body-temperature",
        "code.coding contains BodyTempCode = LOINC#8310-5",
        HL7_TEMP,
        lambda r: has_code(r["code"], LOINC, "8310-5"),
    ),
    Rule(
        "fr-core-observation-body-temperature",
        "valueQuantity.code in Cel | [degF]",
        HL7_TEMP,
        lambda r: quantity_ok(r.get("valueQuantity"), {"Cel", "[degF]"}),
    ),
    # --- body weight ------------------------------------------------------------------------
    *vital_sign_rules("fr-core-observation-body-weight", HL7_WEIGHT, WEIGHT_FSH),
    Rule(
        "fr-core-observation-body-weight",
        "code.coding contains BodyWeightCode = LOINC#29463-7",
        HL7_WEIGHT,
        lambda r: has_code(r["code"], LOINC, "29463-7"),
    ),
    Rule(
        "fr-core-observation-body-weight",
        "valueQuantity.code in kg | g | [lb_av]",
        HL7_WEIGHT,
        lambda r: quantity_ok(r.get("valueQuantity"), {"kg", "g", "[lb_av]"}),
    ),
    # --- patient ----------------------------------------------------------------------------
    Rule(
        "fr-core-patient",
        "identifier[PI]: use = usual, type = v2-0203#PI, system 1.., value 1..",
        PATIENT_FSH,
        lambda r: any(
            i.get("use") == "usual"
            and has_code(i.get("type"), V2_0203, "PI")
            and i.get("system")
            and i.get("value")
            for i in r["identifier"]
        ),
    ),
    Rule(
        "fr-core-patient",
        "name[officialName]: use = official, family 1.., given 1..",
        PATIENT_FSH,
        lambda r: all(n.get("family") and n.get("given") for n in official_names(r)),
    ),
    Rule(
        "fr-core-patient",
        "extension[identityReliability].identityStatus from"
        " FRCoreValueSetIdentityStatus (required)",
        RELIABILITY_FSH,
        lambda r: all(
            s["valueCoding"]["code"] in {"PROV", "RECUP", "VALI", "QUAL"}
            for e in extension(r, FR + "fr-core-identity-reliability")
            for s in e["extension"]
            if s["url"] == "identityStatus"
        ),
    ),
    Rule(
        "fr-core-patient-ins",
        "identifier[INS-NIR]: use 1.., type = fr-core-v2-0203#INS-NIR,"
        " system = urn:oid:1.2.250.1.213.1.4.8, value 1..",
        INS_FSH,
        lambda r: any(
            i.get("use") in {"official", "old"}
            and has_code(i.get("type"), FR_V2_0203, "INS-NIR")
            and i.get("value")
            for i in identifiers(r, "urn:oid:1.2.250.1.213.1.4.8")
        ),
    ),
    Rule(
        "fr-core-patient-ins",
        "extension[identityReliability] 1..*",
        INS_FSH,
        lambda r: len(extension(r, FR + "fr-core-identity-reliability")) >= 1,
    ),
    Rule(
        "fr-core-patient-ins",
        "extension[birthPlace] 1..1, valueAddress.extension[inseeCode] 1..1",
        INS_FSH,
        lambda r: (
            [
                len(extension(e.get("valueAddress"), FR + "fr-core-address-insee-code"))
                for e in extension(r, "http://hl7.org/fhir/StructureDefinition/patient-birthPlace")
            ]
            == [1]
        ),
    ),
    Rule(
        "fr-core-patient-ins",
        "gender 1..1 from fr-core-vs-patient-gender-INS (male | female | unknown)",
        INS_FSH,
        lambda r: r.get("gender") in {"male", "female", "unknown"},
    ),
    Rule("fr-core-patient-ins", "birthDate 1..", INS_FSH, lambda r: bool(r.get("birthDate"))),
    Rule(
        "fr-core-patient-ins",
        "name[officialName] 1..1, given 1..1, extension[birth-list-given-name] 1..1",
        INS_FSH,
        lambda r: (
            len(official_names(r)) == 1
            and len(official_names(r)[0].get("given", [])) == 1
            and len(extension(official_names(r)[0], FR + "fr-core-patient-birth-list-given-name"))
            == 1
        ),
    ),
    # --- practitioner and organization -----------------------------------------------------
    Rule(
        "fr-core-practitioner",
        "identifier[idNatPs] 0..1: type = fr-core-v2-0203#IDNPS,"
        " system = urn:oid:1.2.250.1.71.4.2.1, value 1..",
        PRACTITIONER_FSH,
        lambda r: (
            len(ids := identifiers(r, "urn:oid:1.2.250.1.71.4.2.1")) <= 1
            and all(has_code(i.get("type"), FR_V2_0203, "IDNPS") and i.get("value") for i in ids)
        ),
    ),
    Rule(
        "fr-core-organization",
        "identifier.system 1.., identifier.value 1..",
        ORGANIZATION_FSH,
        lambda r: all(i.get("system") and i.get("value") for i in r.get("identifier", [])),
    ),
    Rule(
        "fr-core-organization",
        "identifier[idNatSt]: use = official, type = fr-core-v2-0203#IDNST",
        ORGANIZATION_FSH,
        lambda r: all(
            i.get("use") == "official" and has_code(i.get("type"), FR_V2_0203, "IDNST")
            for i in identifiers(r, "urn:oid:1.2.250.1.71.4.2.2")
        ),
    ),
]
# A profile derived from another inherits its rules.
PARENTS = {"fr-core-patient-ins": "fr-core-patient"}


def claimed(resource: Resource) -> set[str]:
    profiles = {p.removeprefix(FR) for p in resource.get("meta", {}).get("profile", [])}
    return profiles | {PARENTS[p] for p in profiles if p in PARENTS}


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
    return (
        MeasurementFacts(
            START + minute,
            "body_temperature",
            "Température",
            38.4,
            "Cel",
            "8310-5",
            "Thermomètre BLE n° TH-0042",
        ),
        MeasurementFacts(
            START + 2 * minute,
            "spo2",
            "Saturation en oxygène (SpO2)",
            95.0,
            "%",
            "59408-5",
            "Contec CMS50D n° 0015",
        ),
        MeasurementFacts(
            START + 2 * minute,
            "perfusion_index",
            "Indice de perfusion",
            4.1,
            "%",
            "61006-3",
            "Contec CMS50D n° 0015",
        ),
        MeasurementFacts(
            START + 3 * minute, "body_weight", "Poids", 71.5, "kg", "29463-7", "Balance n° 3"
        ),
        *cuff_reading(START + 4 * minute),
        *cuff_reading(START + 9 * minute),
    )


def bundle(**overrides: Any) -> dict[str, Any]:
    facts = sample_facts(measurements=every_vital_sign(), **overrides)
    return consultation_bundle(
        facts, cda=b"<ClinicalDocument/>", pdf=None, accesses=[], base_url=BASE
    )


def all_resources(b: dict[str, Any]) -> list[Resource]:
    return [e["resource"] for e in b["entry"]]


def of_type(b: dict[str, Any], kind: str) -> list[Resource]:
    return [r for r in all_resources(b) if r["resourceType"] == kind]


def broken_rules(resources: list[Resource]) -> list[str]:
    return [
        f"{r['resourceType']} {rule.profile}: {rule.says} ({rule.source})"
        for r in resources
        for rule in RULES
        if rule.profile in claimed(r) and not rule.holds(r)
    ]


@pytest.mark.parametrize("patient", ["qualified", "provisional"])
def test_every_claimed_profile_has_its_required_elements(patient: str) -> None:
    overrides = {}
    if patient == "provisional":
        overrides["patient"] = sample_patient(ins=None, ins_oid=None, identity_status="provisoire")
    resources = all_resources(bundle(**overrides))

    assert broken_rules(resources) == []
    for resource in resources:  # and the base R4B structure
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_each_profile_with_rules_is_claimed_by_the_export() -> None:
    """So that no rule above passes for want of a resource to check."""
    found = set().union(*(claimed(r) for r in all_resources(bundle())))
    assert {rule.profile for rule in RULES} <= found


def test_the_rules_catch_what_the_profiles_forbid() -> None:
    b = bundle()
    [panel, _] = [o for o in of_type(b, "Observation") if has_code(o["code"], LOINC, "85354-9")]
    spo2 = next(o for o in of_type(b, "Observation") if has_code(o["code"], LOINC, "59408-5"))
    [patient] = of_type(b, "Patient")

    as_two_observations = dict(panel, component=panel["component"][:1], valueQuantity={})
    without_2708 = dict(spo2, code={"coding": spo2["code"]["coding"][:1]})
    no_birth_place = dict(patient, extension=patient["extension"][:1])
    assert len(broken_rules([as_two_observations])) == 2
    assert len(broken_rules([without_2708])) == 1
    assert len(broken_rules([no_birth_place])) == 1


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
    [spo2] = [o for o in of_type(bundle(), "Observation") if has_code(o["code"], LOINC, "59408-5")]
    assert [c["code"] for c in codings(spo2["code"])] == ["59408-5", "2708-6"]
    assert FR + "fr-core-observation-saturation-oxygen" in spo2["meta"]["profile"]


def test_pressures_taken_in_kpa_are_exported_in_mmhg() -> None:
    reading = cuff_reading(START, unit="kPa", scale=0.133322)
    facts = sample_facts(measurements=tuple(reading))
    b = consultation_bundle(facts, cda=b"<x/>", pdf=None, accesses=[], base_url=BASE)
    [panel] = [o for o in of_type(b, "Observation") if has_code(o["code"], LOINC, "85354-9")]

    assert [c["valueQuantity"]["code"] for c in panel["component"]] == ["mm[Hg]"] * 3
    assert panel["component"][0]["valueQuantity"]["value"] == 128.0
    assert broken_rules([panel]) == []


def test_only_a_qualified_identity_claims_the_ins_profile() -> None:
    [qualified] = of_type(bundle(), "Patient")
    assert qualified["meta"]["profile"] == [FR + "fr-core-patient-ins"]

    for patient in (
        sample_patient(ins=None, ins_oid=None, identity_status="validee"),
        # A qualified identity born abroad: no commune code, so not the INS profile's 1..1.
        dataclasses.replace(sample_patient(), birth_place_code="99134"),
    ):
        [other] = of_type(bundle(patient=patient), "Patient")
        assert other["meta"]["profile"] == [FR + "fr-core-patient"]
    [unqualified] = of_type(
        bundle(patient=sample_patient(ins=None, ins_oid=None, identity_status="validee")),
        "Patient",
    )
    assert not identifiers(unqualified, "urn:oid:1.2.250.1.213.1.4.8")


def test_practitioners_claim_fr_core_with_their_idnps() -> None:
    practitioners = of_type(bundle(), "Practitioner")
    assert {p["meta"]["profile"][0] for p in practitioners} == {FR + "fr-core-practitioner"}
    doctor = practitioners[0]
    [idnps] = identifiers(doctor, "urn:oid:1.2.250.1.71.4.2.1")
    assert idnps["value"] == "810003456789"
    assert has_code(idnps["type"], FR_V2_0203, "IDNPS")
