"""A SAS regulator books a slot for a feverish caller; the hub records and reports it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import select

from hub import db
from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.identity import service as identity
from hub.identity.models import Site, SiteKind
from hub.notify.models import OutboundMessage
from hub.records.patients import Patient
from hub.scheduling import booking as bk
from hub.scheduling.changes import cancel_booking
from hub.scheduling.lookups import find_by_reference
from hub.scheduling.models import Booking, BookingStatus, Channel, Reservation, Slot
from tests.hub.interop.conftest import SasAccess, make_sas_client
from tests.hub.interop.support import PARIS, next_weekday, resources, rows, search, search_url

FRIDAY = 4
OPERATOR = "http://interopsante.org/fhir/StructureDefinition/FrAppointmentOperator"


def appointment(slot_id: int | str, **changes: Any) -> dict[str, Any]:
    """A regulator's Appointment: Léa Durand, fever, booked by Dr Anne Roux (RPPS)."""
    body: dict[str, Any] = {
        "resourceType": "Appointment",
        "status": "booked",
        "created": "2026-01-09T17:05:00+01:00",
        "extension": [
            {
                "url": OPERATOR,
                "valueReference": {
                    "display": "Dr Anne Roux",
                    "identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810002909371"},
                },
            }
        ],
        "contained": [
            {
                "resourceType": "Patient",
                "id": "p",
                "name": [{"use": "official", "family": "Durand", "given": ["Léa", "Marie"]}],
                "birthDate": "1990-03-04",
                "gender": "female",
                "telecom": [
                    {"system": "phone", "value": "06 11 22 33 44"},
                    {"system": "email", "value": "lea@example.org"},
                ],
            }
        ],
        "participant": [{"actor": {"reference": "#p"}, "status": "accepted"}],
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "description": "Fièvre à 39 °C depuis 48 h",
    }
    body.update(changes)
    return body


async def _sas_slot_ids(client: httpx.AsyncClient, sas: SasAccess) -> list[int]:
    friday = next_weekday(FRIDAY)
    bundle = await search(client, sas.headers, search_url(friday, friday))
    return [
        int(s["id"])
        for s in resources(bundle, "Slot")
        if {c["code"] for c in s["meta"]["security"]} == {"SNP", "CPTS"}
    ]


async def test_regulator_books_a_sas_slot_which_leaves_the_search(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    slot_id = (await _sas_slot_ids(client, sas))[0]
    response = await client.post(
        "/fhir/Appointment", headers=sas.headers, json=appointment(slot_id)
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    created = response.json()
    assert created["resourceType"] == "Appointment" and created["status"] == "booked"
    assert response.headers["location"] == f"{settings.base_url}/fhir/Appointment/{created['id']}"
    assert created["slot"] == [{"reference": f"Slot/{slot_id}"}]
    assert created["extension"][0]["valueReference"]["display"] == "Dr Anne Roux"
    [booking] = await rows(settings, Booking)
    assert booking.reference == created["id"] and booking.slot_id == slot_id
    assert booking.channel is Channel.SAS and booking.status is BookingStatus.BOOKED
    assert booking.booked_by_label == "Dr Anne Roux"
    assert booking.care_requested_at == dt.datetime(2026, 1, 9, 16, 5, tzinfo=dt.UTC)
    assert booking.reason == "Fièvre à 39 °C depuis 48 h"
    [patient] = await rows(settings, Patient)
    assert (patient.birth_name, patient.first_names) == ("DURAND", "Léa Marie")
    assert patient.phone == "0611223344" and patient.birth_date == dt.date(1990, 3, 4)
    sent = await rows(
        settings,
        OutboundMessage,
        OutboundMessage.related_id == booking.id,
        OutboundMessage.purpose == "booking_confirmation",
    )
    assert {m.recipient for m in sent} == {"+33611223344", "lea@example.org"}
    # The slot is no longer offered, and a second regulator cannot take it.
    assert slot_id not in await _sas_slot_ids(client, sas)
    again = await client.post(
        "/fhir/Appointment",
        headers=sas.headers,
        json=appointment(
            slot_id,
            contained=[
                {
                    "resourceType": "Patient",
                    "name": [{"family": "Martin", "given": ["Paul"]}],
                    "birthDate": "1950-01-01",
                    "gender": "male",
                }
            ],
        ),
    )
    assert again.status_code == 422  # the guide: a rule of the application refuses it
    outcome = again.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "conflict"
    assert "vient d'être pris" in outcome["issue"][0]["diagnostics"]
    assert len(await rows(settings, Booking)) == 1
    assert len(await rows(settings, Patient)) == 1  # the refused caller was not registered
    events = await rows(settings, AuditEvent, AuditEvent.action == "sas.appointment")
    assert [(e.outcome, e.actor_kind, e.actor_id) for e in events] == [
        ("success", "api_client", sas.client_id),
        ("refused", "api_client", sas.client_id),
    ]
    assert events[0].target == booking.reference and "810002909371" in events[0].detail


async def test_a_public_slot_can_be_booked_by_a_regulator_too(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    friday = next_weekday(FRIDAY)
    bundle = await search(client, sas.headers, search_url(friday, friday))
    public = next(s for s in resources(bundle, "Slot") if "comment" in s)
    body = appointment(
        public["id"],
        participant=[{"actor": {"reference": "#p"}}, {"actor": {"display": "Marc Régulateur"}}],
    )
    del body["extension"], body["created"]
    response = await client.post("/fhir/Appointment", headers=sas.headers, json=body)
    assert response.status_code == 201, response.text
    [booking] = await rows(settings, Booking)
    assert booking.booked_by_label == "Marc Régulateur" and booking.channel is Channel.SAS
    assert booking.care_requested_at == booking.created_at


async def test_read_back_follows_cancellation_and_no_show(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    first, second = (await _sas_slot_ids(client, sas))[:2]
    made = [
        (
            await client.post("/fhir/Appointment", headers=sas.headers, json=appointment(slot_id))
        ).json()["id"]
        for slot_id in (first, second)
    ]
    read = await client.get(f"/fhir/Appointment/{made[0]}", headers=sas.headers)
    assert read.status_code == 200 and read.json()["status"] == "booked"
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            cancelled = await find_by_reference(session=session, reference=made[0])
            await cancel_booking(
                session=session,
                booking=cancelled,
                reason="patient guéri",
                now=dt.datetime.now(dt.UTC),
            )
            missed = await find_by_reference(session=session, reference=made[1])
            missed.status = BookingStatus.NO_SHOW  # marking needs the time to have passed
            await session.commit()
    finally:
        await engine.dispose()
    read = (await client.get(f"/fhir/Appointment/{made[0]}", headers=sas.headers)).json()
    assert read["status"] == "cancelled"
    assert read["cancelationReason"] == {"text": "patient guéri"}
    assert (await client.get(f"/fhir/Appointment/{made[1]}", headers=sas.headers)).json()[
        "status"
    ] == "noshow"
    assert first in await _sas_slot_ids(client, sas)  # the cancelled slot is offered again
    reads = await rows(settings, AuditEvent, AuditEvent.action == "sas.appointment_read")
    assert len(reads) == 3 and all(e.actor_id == sas.client_id for e in reads)


async def test_only_the_clients_cpts_sas_bookings_and_room_slots_are_reachable(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            other = await identity.create_organisation(
                session=session, name="CPTS Autre", slug="cpts-autre"
            )
            await session.commit()
            facility_slot = await session.scalar(
                select(Slot.id).where(Slot.reserved_for == Reservation.FACILITY).limit(1)
            )
            room = await session.scalar(
                select(Site.id).where(Site.kind == SiteKind.TELECONSULTATION_ROOM).limit(1)
            )
    finally:
        await engine.dispose()
    assert other.id != sas.organisation_id and room is not None and facility_slot is not None
    outsider = await make_sas_client(settings, "cpts-autre", finess=None)
    slot_id = (await _sas_slot_ids(client, sas))[0]
    for headers, target in [
        (outsider.headers, slot_id),
        (sas.headers, facility_slot),
        (sas.headers, 10**9),
    ]:
        response = await client.post("/fhir/Appointment", headers=headers, json=appointment(target))
        assert response.status_code == 404, response.text
        assert "n'existe pas dans cette CPTS" in response.json()["issue"][0]["diagnostics"]
    made = await client.post("/fhir/Appointment", headers=sas.headers, json=appointment(slot_id))
    reference = made.json()["id"]
    assert (
        await client.get(f"/fhir/Appointment/{reference}", headers=outsider.headers)
    ).status_code == 404
    # A booking made by phone is not the SAS's to read.
    free = (await _sas_slot_ids(client, sas))[0]
    [patient] = await rows(settings, Patient)
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            now = dt.datetime.now(dt.UTC)
            phone = await bk.book_slot(
                session=session,
                now=now,
                may_use=frozenset({None, Reservation.SAS}),
                request=bk.BookingRequest(
                    slot_id=free,
                    patient_id=patient.id,
                    channel=Channel.PHONE,
                    reason="Toux",
                    care_requested_at=now,
                ),
            )
    finally:
        await engine.dispose()
    assert (
        await client.get(f"/fhir/Appointment/{phone.reference}", headers=sas.headers)
    ).status_code == 404


async def test_unusable_appointments_are_refused_with_reasons(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    slot_id = (await _sas_slot_ids(client, sas))[0]
    patient = appointment(slot_id)["contained"][0]
    cases: list[tuple[Any, int, str]] = [
        ({"resourceType": "Patient"}, 400, "ressource Appointment"),
        (appointment(slot_id, slot=[]), 400, "un et un seul créneau"),
        (appointment(slot_id, slot=[{"reference": "Schedule/3"}]), 400, "un et un seul créneau"),
        (appointment(slot_id, contained=[]), 400, "ressource Patient contenue"),
        (
            appointment(slot_id, contained=[{**patient, "name": [{"family": "Durand"}]}]),
            400,
            "prénom (given)",
        ),
        (
            appointment(slot_id, contained=[{**patient, "birthDate": "04/03/1990"}]),
            400,
            "date de naissance",
        ),
        (appointment(slot_id, contained=[{**patient, "gender": "F"}]), 400, "sexe du patient"),
        (appointment(slot_id, extension=[], participant=[]), 400, "régulateur"),
        (appointment(slot_id, created="2026-01-09T17:05:00"), 400, "fuseau"),
        (appointment(slot_id, status="cancelled"), 400, "impossible pour un nouveau"),
        (
            appointment(
                slot_id, contained=[{**patient, "telecom": [{"system": "phone", "value": "12"}]}]
            ),
            422,
            "Numéro de téléphone invalide",
        ),
    ]
    for body, status, phrase in cases:
        response = await client.post("/fhir/Appointment", headers=sas.headers, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/fhir+json")
        assert phrase in response.json()["issue"][0]["diagnostics"], response.text
    broken = await client.post(
        "/fhir/Appointment",
        content=b"{not json",
        headers={**sas.headers, "Content-Type": "application/fhir+json"},
    )
    assert broken.status_code == 400
    assert "pas du JSON valide" in broken.json()["issue"][0]["diagnostics"]
    assert await rows(settings, Booking) == [] and await rows(settings, Patient) == []
    refused = await rows(settings, AuditEvent, AuditEvent.action == "sas.appointment")
    assert len(refused) == len(cases) + 1 and {e.outcome for e in refused} == {"refused"}
    missing = await client.get("/fhir/Appointment/RDV-ZZZZZZ", headers=sas.headers)
    assert missing.status_code == 404 and missing.json()["issue"][0]["code"] == "not-found"


async def test_the_regulator_cancels_by_conditional_update(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    slot_id = (await _sas_slot_ids(client, sas))[0]
    made = (
        await client.post("/fhir/Appointment", headers=sas.headers, json=appointment(slot_id))
    ).json()
    url = f"/fhir/Appointment?identifier={made['identifier'][0]['system']}|{made['id']}"
    same = await client.put(url, headers=sas.headers, json=made)
    assert same.status_code == 200 and same.json()["status"] == "booked"  # nothing to change
    moved = await client.put(
        url, headers=sas.headers, json={**made, "start": "2030-01-04T10:00:00+01:00"}
    )
    assert moved.status_code == 422 and "annulez-le puis réservez" in moved.text
    cancelled = {
        **made,
        "status": "cancelled",
        "cancelationReason": {"text": "patient aux urgences"},
    }
    response = await client.put(url, headers=sas.headers, json=cancelled)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.headers["location"].endswith(f"/fhir/Appointment/{made['id']}")
    assert response.json()["status"] == "cancelled"
    [booking] = await rows(settings, Booking)
    assert booking.status is BookingStatus.CANCELLED
    assert booking.cancel_reason == "annulé par la régulation du SAS : patient aux urgences"
    told = await rows(
        settings,
        OutboundMessage,
        OutboundMessage.related_id == booking.id,
        OutboundMessage.purpose == "booking_cancelled",
    )
    assert {m.recipient for m in told} == {"+33611223344", "lea@example.org"}
    assert slot_id in await _sas_slot_ids(client, sas)  # offered again
    [event] = await rows(settings, AuditEvent, AuditEvent.action == "sas.appointment_cancel")
    assert (event.actor_id, event.target) == (sas.client_id, booking.reference)

    again = await client.put(url, headers=sas.headers, json={**made, "status": "booked"})
    assert again.status_code == 422
    assert "seule l'annulation" in again.json()["issue"][0]["diagnostics"]
    for bad_url, body, status in [
        ("/fhir/Appointment", cancelled, 400),  # no identifier
        ("/fhir/Appointment?identifier=RDV-ZZZZZZ", cancelled, 404),
        (url, {**made, "status": "noshow"}, 400),
        (url, {"resourceType": "Patient"}, 400),
    ]:
        refused = await client.put(bad_url, headers=sas.headers, json=body)
        assert refused.status_code == status, refused.text
        assert refused.json()["resourceType"] == "OperationOutcome"


async def test_a_slot_reads_free_then_busy(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    slot_id = (await _sas_slot_ids(client, sas))[0]
    read = await client.get(f"/fhir/Slot/{slot_id}", headers=sas.headers)
    assert read.status_code == 200, read.text
    assert read.headers["content-type"].startswith("application/fhir+json")
    assert (read.json()["id"], read.json()["status"]) == (str(slot_id), "free")
    await client.post("/fhir/Appointment", headers=sas.headers, json=appointment(slot_id))
    assert (await client.get(f"/fhir/Slot/{slot_id}", headers=sas.headers)).json()[
        "status"
    ] == "busy"
    for missing in ("999999999", "1" * 40):
        response = await client.get(f"/fhir/Slot/{missing}", headers=sas.headers)
        assert response.status_code == 404 and response.json()["issue"][0]["code"] == "not-found"
    malformed = await client.get("/fhir/Slot/abc", headers=sas.headers)
    assert malformed.status_code == 400 and malformed.json()["resourceType"] == "OperationOutcome"
    assert (await client.get(f"/fhir/Slot/{slot_id}")).status_code == 401


async def test_metadata_and_unknown_paths_speak_fhir(client: httpx.AsyncClient) -> None:
    capability = await client.get("/fhir/metadata")
    assert capability.status_code == 200
    assert capability.headers["content-type"].startswith("application/fhir+json")
    statement = capability.json()
    assert statement["resourceType"] == "CapabilityStatement"
    kinds = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {i["code"] for i in kinds["Slot"]["interaction"]} == {"read", "search-type"}
    assert {i["code"] for i in kinds["Appointment"]["interaction"]} == {"create", "read", "update"}
    for method, path, status, code in [
        ("GET", "/fhir/Practitioner/1", 404, "not-found"),
        ("DELETE", "/fhir/Appointment/RDV-AAAAAA", 405, "not-supported"),
        ("PATCH", "/fhir/Slot", 405, "not-supported"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == status, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/fhir+json")
        assert response.json()["issue"][0]["code"] == code
    page = await client.get("/page-qui-n-existe-pas")
    assert page.status_code == 404 and "OperationOutcome" not in page.text


def test_paris_friday_evening_is_sas_time() -> None:
    """The tests' SAS opening is Friday 18:00–19:00 Paris time (guards the tests' assumptions)."""
    from tests.support.factories import CLOS_MORTIER, OPENINGS

    assert (CLOS_MORTIER, FRIDAY, "18:00", "19:00", 20, 1, Reservation.SAS) in OPENINGS
    assert PARIS.key == "Europe/Paris"
