"""The doctors behind a room's slots, as the SAS sees them: the search by their national
identifier (``schedule.actor:Practitioner.identifier``), the Practitioner and PractitionerRole
of the Bundle, and a regulator's booking with a doctor (ANS SAS guide, flows INT_R04 and
INT_R05)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.appointment import Appointment as R4BAppointment
from fhir.resources.R4B.bundle import Bundle as R4BBundle
from sqlalchemy import select

from hub.config import Settings
from hub.identity.models import Organisation, Role, Site
from hub.interop.models import SasAppointment
from hub.scheduling.models import Booking, BookingStatus
from tests.hub.interop.conftest import DEMO_FINESS, SasAccess
from tests.hub.interop.support import (
    next_weekday,
    resources,
    rows,
    search,
    search_url,
)
from tests.hub.interop.test_sas_appointments import appointment
from tests.support.factories import CLOS_MORTIER, LA_NOUE, Cpts, session_for, user

IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
ROUX, PETIT, GONE, NURSE = "10002909371", "10001288385", "10007777777", "10005555555"
SAS = "http://sas.fr/fhir/StructureDefinition/"


@pytest.fixture
async def doctors(settings: Settings, cpts: Cpts) -> dict[str, int]:
    """Dr Anne Roux serves Clos Mortier, Dr Marc Petit La Noue; a doctor who left (inactive)
    and a nurse have an RPPS at Clos Mortier too. The tests' own doctor has no RPPS."""
    async with session_for(settings) as session:
        sites = {s.name: s for s in await session.scalars(select(Site))}
        org = await session.get(Organisation, cpts.organisation_id)
        assert org is not None
        made = {}
        for username, name, role, rpps, site, active in (
            ("roux", "Dr Anne Roux", Role.DOCTOR, ROUX, CLOS_MORTIER, True),
            ("petit", "Dr Marc Petit", Role.DOCTOR, PETIT, LA_NOUE, True),
            ("parti", "Dr Jean Parti", Role.DOCTOR, GONE, CLOS_MORTIER, False),
            ("ide", "Lise Martin", Role.NURSE, NURSE, CLOS_MORTIER, True),
        ):
            person = await user(
                session,
                organisation=org,
                username=username,
                role=role,
                sites=[sites[site]],
                full_name=name,
            )
            person.rpps, person.active = rpps, active
            made[username] = person
        await session.commit()
        return {name: person.id for name, person in made.items()}


def two_weeks() -> tuple[dt.date, dt.date]:
    first = next_weekday(0)
    return first, first + dt.timedelta(days=13)


def with_doctors(url: str, *tokens: str) -> str:
    return url + "".join(f"&schedule.actor:Practitioner.identifier={t}" for t in tokens)


async def slot_ids(client: httpx.AsyncClient, sas: SasAccess, *tokens: str) -> set[int]:
    bundle = await search(client, sas.headers, with_doctors(search_url(*two_weeks()), *tokens))
    assert bundle["total"] == len(resources(bundle, "Slot"))
    return {int(s["id"]) for s in resources(bundle, "Slot")}


async def site_of(settings: Settings, ids: set[int]) -> set[str]:
    from hub.scheduling.models import Slot

    slots = await rows(settings, Slot, Slot.id.in_(ids))
    sites = {s.id: s.name for s in await rows(settings, Site)}
    return {sites[s.site_id] for s in slots}


async def test_the_search_keeps_the_rooms_the_named_doctors_serve(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings, doctors: dict[str, int]
) -> None:
    everything = await slot_ids(client, sas)
    roux = await slot_ids(client, sas, f"{IDNPS}|8{ROUX}")
    petit = await slot_ids(client, sas, f"8{PETIT}")

    assert await site_of(settings, roux) == {CLOS_MORTIER}
    assert await site_of(settings, petit) == {LA_NOUE}
    assert roux | petit == everything and not roux & petit
    # Two doctors: the slots of either; the guide's comma-separated form says the same.
    assert await slot_ids(client, sas, f"{IDNPS}|8{ROUX}", f"{IDNPS}|8{PETIT}") == everything
    assert await slot_ids(client, sas, f"{IDNPS}|8{ROUX},{IDNPS}|8{PETIT}") == everything
    # Nobody we know: no slot — not all of them.
    for stranger in (
        f"{IDNPS}|810000000000",  # an RPPS nobody of the CPTS has
        f"{IDNPS}|8{GONE}",  # a doctor who no longer works here
        f"{IDNPS}|8{NURSE}",  # a nurse: the teleconsultations are the doctors'
        f"urn:oid:1.2.250.1.213.1.1.1|8{ROUX}",  # another identifier system
    ):
        bundle = await search(client, sas.headers, with_doctors(search_url(*two_weeks()), stranger))
        assert bundle["total"] == 0 and bundle.get("entry", []) == [], stranger


async def test_the_bundle_names_the_doctor_and_the_room_behind_each_slot(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings, doctors: dict[str, int]
) -> None:
    friday = next_weekday(4)
    bundle = await search(
        client, sas.headers, with_doctors(search_url(friday, friday), f"{IDNPS}|8{ROUX}")
    )
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}

    [schedule] = resources(bundle, "Schedule")
    assert (
        {a["reference"] for a in schedule["actor"]}
        == {
            f"Practitioner/{doctors['roux']}",
            f"PractitionerRole/{schedule['id']}-{doctors['roux']}",
        }
        <= present
    )
    [doctor] = resources(bundle, "Practitioner")
    assert doctor["meta"]["profile"] == [SAS + "FrPractitionerAgregateur"]
    assert doctor["identifier"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://interopsante.org/fhir/CodeSystem/fr-v2-0203",
                        "code": "IDNPS",
                    }
                ]
            },
            "system": IDNPS,
            "value": "8" + ROUX,
        }
    ]
    assert doctor["name"] == [{"family": "Roux", "given": ["Anne"]}]
    [role] = resources(bundle, "PractitionerRole")
    assert role["meta"]["profile"] == [SAS + "FrPractitionerRoleExerciceAgregateur"]
    assert role["practitioner"]["reference"] in present
    [room] = role["contained"]
    assert role["location"] == [{"reference": f"#{room['id']}"}]
    assert room["resourceType"] == "Location" and room["name"] == CLOS_MORTIER
    assert room["meta"]["profile"] == [SAS + "FrLocationAgregateur"]
    assert role["organization"]["identifier"]["value"] == "1" + DEMO_FINESS
    # The room's Location travels inside the role, not as the Schedule's actor.
    assert resources(bundle, "Location") == []
    for slot in resources(bundle, "Slot"):
        assert slot["schedule"]["reference"] in present
    R4BBundle.model_validate(bundle)  # the structures (R4B's, as close to R4 as these go)


async def test_rooms_without_a_doctor_with_an_rpps_keep_their_location(
    client: httpx.AsyncClient, sas: SasAccess, cpts: Cpts
) -> None:
    """No RPPS is made up: the tests' own doctor has none, so the room stays the actor."""
    friday = next_weekday(4)
    bundle = await search(client, sas.headers, search_url(friday, friday))
    [schedule] = resources(bundle, "Schedule")
    assert schedule["actor"] == [{"reference": f"Location/{schedule['id']}"}]
    assert resources(bundle, "Practitioner") == resources(bundle, "PractitionerRole") == []
    assert len(resources(bundle, "Location")) == 1


def booked_with(slot_id: int, rpps: str, **changes: Any) -> dict[str, Any]:
    """The guide's Appointment: the regulator in the operator extension (IDNPS), the
    platform's own identifier, the doctor as the participant."""
    body = appointment(
        slot_id,
        identifier=[{"system": "urn:oid:1.1.111.1.11.1.1.1", "value": "b6e39355-8a61-4556"}],
        participant=[
            {"actor": {"identifier": {"system": IDNPS, "value": "8" + rpps}}, "status": "accepted"}
        ],
    )
    body["extension"][0]["valueReference"]["identifier"]["type"] = {
        "coding": [
            {"system": "http://interopsante.org/fhir/CodeSystem/fr-v2-0203", "code": "IDNPS"}
        ]
    }
    body.update(changes)
    return body


async def roux_slot(client: httpx.AsyncClient, sas: SasAccess) -> int:
    friday = next_weekday(4)
    bundle = await search(
        client, sas.headers, with_doctors(search_url(friday, friday), f"{IDNPS}|8{ROUX}")
    )
    return int(resources(bundle, "Slot")[0]["id"])


async def test_a_booking_with_a_doctor_keeps_who_booked_and_for_whom(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings, doctors: dict[str, int]
) -> None:
    slot_id = await roux_slot(client, sas)
    response = await client.post(
        "/fhir/Appointment", headers=sas.headers, json=booked_with(slot_id, ROUX)
    )
    assert response.status_code == 201, response.text
    made = response.json()

    [booking] = await rows(settings, Booking)
    [kept] = await rows(settings, SasAppointment)
    assert kept.booking_id == booking.id
    assert (kept.operator_type, kept.operator_system, kept.operator_value) == (
        "IDNPS",
        IDNPS,
        "810002909371",
    )
    assert (kept.caller_system, kept.caller_value) == (
        "urn:oid:1.1.111.1.11.1.1.1",
        "b6e39355-8a61-4556",
    )
    assert kept.practitioner_idnps == "8" + ROUX
    # What the SAS reads back: the FrAppointmentSAS profile, complete.
    read = (await client.get(f"/fhir/Appointment/{made['id']}", headers=sas.headers)).json()
    for appointment_json in (made, read):
        assert appointment_json["meta"]["profile"] == [SAS + "FrAppointmentSAS"]
        operator = appointment_json["extension"][0]["valueReference"]
        assert operator["identifier"]["value"] == "810002909371"
        assert operator["identifier"]["type"]["coding"][0]["code"] == "IDNPS"
        assert appointment_json["identifier"] == [
            {"system": "urn:oid:1.1.111.1.11.1.1.1", "value": "b6e39355-8a61-4556"}
        ]
        [doctor] = appointment_json["participant"]
        assert doctor["actor"]["identifier"]["value"] == "8" + ROUX
        assert doctor["actor"]["identifier"]["system"] == IDNPS
        assert doctor["status"] == "accepted"
        refs = [i["reference"] for i in appointment_json["supportingInformation"]]
        assert refs == ["#patient", f"Location/{booking.site_id}"]
        R4BAppointment.model_validate(appointment_json)
    # The platform cancels by its own identifier, as the guide's conditional update does.
    url = "/fhir/Appointment?identifier=urn:oid:1.1.111.1.11.1.1.1|b6e39355-8a61-4556"
    cancelled = await client.put(url, headers=sas.headers, json={**made, "status": "cancelled"})
    assert cancelled.status_code == 200, cancelled.text
    [booking] = await rows(settings, Booking)
    assert booking.status is BookingStatus.CANCELLED


async def test_a_doctor_who_does_not_serve_the_room_is_refused(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings, doctors: dict[str, int]
) -> None:
    slot_id = await roux_slot(client, sas)
    for rpps in (PETIT, GONE, "10000000000"):
        response = await client.post(
            "/fhir/Appointment", headers=sas.headers, json=booked_with(slot_id, rpps)
        )
        assert response.status_code == 422, response.text
        assert "n'assure pas les téléconsultations" in response.json()["issue"][0]["diagnostics"]
    assert await rows(settings, Booking) == []


async def test_without_a_doctor_the_appointment_claims_no_profile(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings, doctors: dict[str, int]
) -> None:
    """The regulator's identifier is still kept; the caller and the room stay participants."""
    slot_id = await roux_slot(client, sas)
    made = (
        await client.post("/fhir/Appointment", headers=sas.headers, json=appointment(slot_id))
    ).json()
    assert "meta" not in made
    assert made["extension"][0]["valueReference"]["identifier"]["value"] == "810002909371"
    assert made["participant"][0]["actor"]["reference"] == "#patient"
    [kept] = await rows(settings, SasAppointment)
    assert (kept.operator_type, kept.practitioner_idnps, kept.caller_value) == ("IDNPS", "", "")
