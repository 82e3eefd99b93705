"""FHIR search dates and regulators' Appointments, parsed without a database."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.interop.fhir import (
    FhirInvalid,
    SlotSearch,
    e164,
    parse_fhir_date,
    parse_slot_search,
)
from hub.interop.fhir_actors import parse_practitioner_tokens
from hub.interop.fhir_appointment import parse_appointment
from hub.records.patients import Sex

UTC = dt.UTC


def test_date_precision_gives_the_range_it_covers() -> None:
    """2026-03-29 is the day Paris goes to summer time: 23 hours long."""
    low, high = parse_fhir_date("2026-03-29")
    assert (low, high) == (
        dt.datetime(2026, 3, 28, 23, tzinfo=UTC),
        dt.datetime(2026, 3, 29, 22, tzinfo=UTC),
    )
    assert parse_fhir_date("2026-12") == (
        dt.datetime(2026, 11, 30, 23, tzinfo=UTC),
        dt.datetime(2026, 12, 31, 23, tzinfo=UTC),
    )
    assert parse_fhir_date("2024-06-12T16:20:00.000+02:00") == (
        dt.datetime(2024, 6, 12, 14, 20, tzinfo=UTC),
        dt.datetime(2024, 6, 12, 14, 20, 0, 1, tzinfo=UTC),
    )
    assert parse_fhir_date("2024-06-12T16:20Z")[1] == dt.datetime(2024, 6, 12, 16, 21, tzinfo=UTC)
    assert parse_fhir_date("2024-06-12T16:20:00 02:00")[0] == dt.datetime(
        2024, 6, 12, 14, 20, tzinfo=UTC
    )


def test_the_guides_example_query_is_understood() -> None:
    params = [
        ("_include", "Slot:schedule"),
        ("_include:iterate", "Schedule:actor"),
        ("_include", "Slot:service-type-reference"),
        ("_include:iterate", "HealthcareService:organization"),
        ("start", "ge2024-06-12T16:20:00.000 02:00"),
        ("start", "le2024-06-15T16:20:00.000 02:00"),
        (
            "schedule.actor:Practitioner.identifier",
            "urn:oid:1.2.250.1.71.4.2.1|810002909371,urn:oid:1.2.250.1.71.4.2.1|810001288385",
        ),
        ("status", "free"),
    ]
    assert parse_slot_search(params) == SlotSearch(
        start_from=dt.datetime(2024, 6, 12, 14, 20, tzinfo=UTC),
        start_until=dt.datetime(2024, 6, 15, 14, 20, 0, 1, tzinfo=UTC),
        includes=frozenset(
            {
                "Slot:schedule",
                "Schedule:actor",
                "Slot:service-type-reference",
                "HealthcareService:organization",
            }
        ),
        practitioners=(
            "urn:oid:1.2.250.1.71.4.2.1|810002909371,urn:oid:1.2.250.1.71.4.2.1|810001288385",
        ),
    )
    # The two doctors the search names, by national identifier ("8" + RPPS).
    assert parse_practitioner_tokens(parse_slot_search(params).practitioners or ()) == {
        "810002909371",
        "810001288385",
    }


def test_practitioner_tokens_of_another_system_match_nobody_and_bad_ones_are_refused() -> None:
    assert parse_practitioner_tokens(["810002909371", "urn:oid:1.2.3|810002909371"]) == {
        "810002909371",
        "urn:oid:1.2.3|810002909371",
    }
    for bad in (
        "urn:oid:1.2.250.1.71.4.2.1|10002909371",
        "8100029093X1",
        ",".join(["8" * 12] * 26),
    ):
        with pytest.raises(FhirInvalid):
            parse_practitioner_tokens([bad])


@given(st.text(max_size=40))
def test_any_text_gives_a_range_or_a_french_refusal(value: str) -> None:
    try:
        low, high = parse_fhir_date(value)
    except FhirInvalid as exc:
        assert "Date" in exc.message or "date" in exc.message
    else:
        assert low < high and low.tzinfo is not None


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["start", "status", "_include", "_format", "x"]), st.text(max_size=30)
        ),
        max_size=6,
    )
)
def test_any_parameters_give_a_search_or_a_refusal(params: list[tuple[str, str]]) -> None:
    try:
        search = parse_slot_search(params)
    except FhirInvalid as exc:
        assert exc.message
    else:
        assert search.start_from < search.start_until


def test_appointment_traits_maiden_name_and_regulator_identifier() -> None:
    wanted = parse_appointment(
        {
            "resourceType": "Appointment",
            "slot": [{"reference": "https://sas.example/fhir/Slot/42"}],
            "contained": [
                {
                    "resourceType": "Patient",
                    "gender": "other",
                    "birthDate": "1961-07-14",
                    "name": [
                        {"use": "official", "family": "Martin", "given": ["Anne"]},
                        {"use": "maiden", "family": "Leroy", "given": ["Anne"]},
                    ],
                    "telecom": [{"system": "email", "value": "anne@example.org"}],
                }
            ],
            "participant": [
                {
                    "actor": {
                        "reference": "Practitioner/9",
                        "identifier": {"system": "urn:oid:1.2.250.1.213.3.6", "value": "3f2b-uuid"},
                    }
                }
            ],
        }
    )
    assert (wanted.slot_id, wanted.birth_name, wanted.used_name) == (42, "Leroy", "Martin")
    assert wanted.sex is Sex.UNKNOWN and wanted.email == "anne@example.org" and not wanted.phone
    assert wanted.regulator_label == "Régulateur SAS 3f2b-uuid"
    assert wanted.created is None and wanted.reason == "Patient orienté par la régulation du SAS"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "resourceType",
                        "slot",
                        "contained",
                        "name",
                        "given",
                        "family",
                        "birthDate",
                        "gender",
                        "reference",
                        "participant",
                        "actor",
                        "display",
                        "created",
                        "status",
                    ]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=20,
    )
)
def test_any_json_gives_a_request_or_a_refusal(body: object) -> None:
    try:
        wanted = parse_appointment(body)
    except FhirInvalid as exc:
        assert exc.message
    else:
        assert wanted.slot_id >= 0 and wanted.regulator_label


def test_phone_numbers_in_international_form() -> None:
    assert e164("03 25 00 00 00") == "+33325000000"
    assert e164("+33 3 25 00 00 00") == "+33325000000"
