"""The consultation as a state machine, driven from the nurse's and the doctor's consoles."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import httpx
from sqlalchemy import select

from hub import db
from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.consultation.models import Consultation, ConsultationEvent, State
from hub.identity.models import Cabin, Site
from hub.notify.models import OutboundMessage
from hub.records.observations import Observation
from hub.records.patients import IdentityStatus, Patient
from hub.scheduling.models import Booking
from tests.conftest import csrf_from, login, text
from tests.support.factories import CLOS_MORTIER, Cpts
from tests.support.live import LiveHub
from tests.support.scenario import booking_now


async def _observe(settings: Settings, booking_id: int, kind: str, value: float, unit: str) -> None:
    """A measurement of the room's trolley attached to the booking, as the gateway stores it."""
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        cabin = (
            await session.scalars(select(Cabin).where(Cabin.site_id == booking.site_id))
        ).first()
        assert cabin is not None
        session.add(
            Observation(
                cabin_id=cabin.id,
                seq=1,
                site_id=booking.site_id,
                booking_id=booking.id,
                device_name="Oxymètre",
                kind=kind,
                value=value,
                unit=unit,
                measured_at=dt.datetime.now(dt.UTC),
            )
        )
        await session.commit()
    await engine.dispose()


async def _rows(settings: Settings, query: object) -> list:  # type: ignore[type-arg]
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        rows = list(await session.scalars(query))  # type: ignore[call-overload]
    await engine.dispose()
    return rows


WRONG_SEX_NIR = "158066311300166"  # a valid key, but "1" says a man


async def _post(
    client: httpx.AsyncClient, url: str, page: httpx.Response, **data: str
) -> httpx.Response:
    return await client.post(url, data={"csrf_token": csrf_from(page.text), **data})


async def test_from_check_in_to_reporting(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    assert "LAMBERT Odile" in text(agenda) and "Accueillir" in text(agenda)
    arrived = await _post(client, f"/salle/rdv/{booking_id}/accueil", agenda)
    assert arrived.status_code == 303
    room_url = arrived.headers["location"]
    cid = int(room_url.rsplit("/", 1)[1])
    room = await client.get(room_url)
    assert "arrivé" in text(room)

    # Not ready before identity and consent.
    start = await _post(
        client, f"/salle/consultations/{cid}/etat", room, action="start_preconsultation"
    )
    assert start.status_code == 303
    early = await _post(client, f"/salle/consultations/{cid}/etat", room, action="mark_ready")
    assert early.status_code == 409
    assert "vérifier l'identité et recueillir le consentement" in text(early)

    licence = await _post(
        client, f"/salle/consultations/{cid}/identite", room, document="permis", traits_match="oui"
    )
    assert licence.status_code == 422 and "haut niveau de confiance" in text(licence)
    no_place = await _post(
        client, f"/salle/consultations/{cid}/identite", room, document="cni", traits_match="oui"
    )
    assert no_place.status_code == 422 and "lieu de naissance (code INSEE)" in text(no_place)
    wrong_sex = await _post(
        client,
        f"/salle/consultations/{cid}/identite",
        room,
        document="cni",
        traits_match="oui",
        birth_place_code="63113",
        nir=WRONG_SEX_NIR,
    )
    assert wrong_sex.status_code == 422 and "ne correspond pas au sexe" in text(wrong_sex)
    checked = await _post(
        client,
        f"/salle/consultations/{cid}/identite",
        room,
        document="cni",
        traits_match="oui",
        birth_place_code="63113",
        nir="2 58 06 63 113 001 16",
    )
    assert checked.status_code == 303
    [patient] = await _rows(settings, select(Patient).where(Patient.birth_name == "LAMBERT"))
    # Checked against a high-trust document: validated. Typed from the card, the number is
    # kept but the identity is not qualified (that takes the INSi teleservice).
    assert patient.identity_status is IdentityStatus.VALIDATED
    assert (patient.birth_place_code, patient.nir) == ("63113", "258066311300116")

    no_dmp = await _post(
        client, f"/salle/consultations/{cid}/consentement", room, teleconsultation="oui"
    )
    assert no_dmp.status_code == 422 and "dossier médical partagé" in text(no_dmp)
    assert (
        await _post(
            client,
            f"/salle/consultations/{cid}/consentement",
            room,
            teleconsultation="oui",
            dmp="opposes",
        )
    ).status_code == 303

    partial = await _post(
        client,
        f"/salle/consultations/{cid}/preconsultation",
        room,
        reason="Toux fébrile",
        phq9_1="2",
    )
    assert partial.status_code == 422 and "Répondez aux 9 questions" in text(partial)
    scales = {f"phq9_{i}": "1" for i in range(1, 10)} | {f"gad7_{i}": "2" for i in range(1, 8)}
    saved = await _post(
        client,
        f"/salle/consultations/{cid}/preconsultation",
        room,
        reason="Toux fébrile depuis 3 jours",
        history="Asthme",
        treatments="Ventoline",
        allergies="Pénicilline",
        **scales,
    )
    assert saved.status_code == 303
    room = await client.get(room_url)
    assert "9 / 27 — dépression légère" in text(room) and "14 / 21 — anxiété modérée" in text(room)
    ready = await _post(client, f"/salle/consultations/{cid}/etat", room, action="mark_ready")
    assert ready.status_code == 303
    assert "Le patient attend le médecin." in text(await client.get(room_url))
    # The nurse cannot play the doctor.
    assert (
        await _post(client, f"/salle/consultations/{cid}/etat", room, action="join")
    ).status_code == 403

    await _observe(settings, booking_id, "spo2", 96.0, "%")
    client.cookies.clear()
    await login(client, "medecin")
    waiting = await client.get("/medecin")
    assert "LAMBERT Odile" in text(waiting) and "Toux fébrile depuis 3 jours" in text(waiting)
    assert "SpO2 96 %" in text(waiting)  # the vitals the nurse already took
    joined = await _post(client, f"/medecin/consultations/{cid}/rejoindre", waiting)
    assert joined.status_code == 303
    console = await client.get(joined.headers["location"])
    assert "en consultation" in text(console) and "Pénicilline" in text(console)
    assert "Ventoline" in text(console) and "s'oppose au dépôt" in text(console)
    ended = await _post(client, f"/medecin/consultations/{cid}/etat", console, action="end")
    assert ended.status_code == 303
    [consultation] = await _rows(settings, select(Consultation))
    assert consultation.state is State.REPORTING and consultation.doctor_id is not None
    actions = [
        e.action
        for e in await _rows(settings, select(ConsultationEvent).order_by(ConsultationEvent.id))
    ]
    assert actions == [
        "check_in",
        "start_preconsultation",
        "verify_identity",
        "consent",
        "preconsultation",
        "mark_ready",
        "join",
        "end",
    ]
    audited = {a.action for a in await _rows(settings, select(AuditEvent))}
    assert {"consultation.join", "consultation.end", "consultation.verify_identity"} <= audited


async def test_a_redirection_needs_its_reason(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    room_url = (await _post(client, f"/salle/rdv/{booking_id}/accueil", agenda)).headers["location"]
    cid = room_url.rsplit("/", 1)[1]
    room = await client.get(room_url)
    missing = await _post(client, f"/salle/consultations/{cid}/etat", room, action="redirect")
    assert missing.status_code == 422 and "Indiquez le motif." in text(missing)
    done = await _post(
        client,
        f"/salle/consultations/{cid}/etat",
        room,
        action="redirect",
        note="Douleur thoracique : adressée aux urgences",
    )
    assert done.status_code == 303
    [consultation] = await _rows(settings, select(Consultation))
    assert consultation.state is State.REDIRECTED
    assert consultation.exit_reason == "Douleur thoracique : adressée aux urgences"
    again = await _post(client, f"/salle/consultations/{cid}/etat", room, action="mark_ready")
    assert again.status_code == 409 and "la consultation est « redirected »" in text(again)


async def test_the_emergency_button_reaches_the_doctors_console_live(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)
    async with (
        httpx.AsyncClient(base_url=live_hub.url) as doctor,
        httpx.AsyncClient(base_url=live_hub.url) as nurse,
    ):
        await login(doctor, "medecin")
        await login(nurse, "infirmiere")
        agenda = await nurse.get("/infirmier")
        room_url = (await _post(nurse, f"/salle/rdv/{booking_id}/accueil", agenda)).headers[
            "location"
        ]
        cid = room_url.rsplit("/", 1)[1]
        room = await nurse.get(room_url)

        received: list[dict[str, object]] = []
        subscribed = asyncio.Event()

        async def listen() -> None:
            async with doctor.stream("GET", "/api/v1/evenements") as stream:
                kind = ""
                async for line in stream.aiter_lines():
                    if line == ": connecté":  # the hub sends it once the console is subscribed
                        subscribed.set()
                    elif line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: ") and kind == "consultation.emergency":
                        received.append(json.loads(line.removeprefix("data: ")))
                        return

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(subscribed.wait(), 5)
        alarm = await _post(nurse, f"/salle/consultations/{cid}/urgence", room, note="Malaise")
        assert alarm.status_code == 303
        await asyncio.wait_for(listener, 5)
    [event] = received
    assert event["site_name"] == CLOS_MORTIER
    assert event["phone"] == "03 25 00 00 01"
    notes = [
        e.note
        for e in await _rows(
            settings, select(ConsultationEvent).where(ConsultationEvent.action == "emergency")
        )
    ]
    assert notes == ["Malaise"]


async def test_opening_a_patients_data_is_traced(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    room_url = (await _post(client, f"/salle/rdv/{booking_id}/accueil", agenda)).headers["location"]
    await client.get(room_url)
    [patient] = await _rows(settings, select(Patient).where(Patient.birth_name == "LAMBERT"))
    client.cookies.clear()
    await login(client, "secretariat")
    await client.get(f"/secretariat/patients/{patient.id}")
    reads = await _rows(
        settings, select(AuditEvent).where(AuditEvent.action == "patient_data.read")
    )
    assert [r.target for r in reads] == [f"patient:{patient.id}"] * 2
    assert len({r.actor_id for r in reads}) == 2  # the nurse, then the secretary


async def test_the_emergency_button_texts_a_mobile_on_call_contact(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        site = (await session.scalars(select(Site).where(Site.name == CLOS_MORTIER))).one()
        site.emergency_contact_phone = "06 98 76 54 32"
        await session.commit()
    await engine.dispose()
    booking_id = await booking_now(settings)
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    room_url = (await _post(client, f"/salle/rdv/{booking_id}/accueil", agenda)).headers["location"]
    room = await client.get(room_url)
    cid = room_url.rsplit("/", 1)[1]
    alarm = await _post(client, f"/salle/consultations/{cid}/urgence", room, note="Malaise")
    assert alarm.status_code == 303
    page = await client.get(alarm.headers["location"])
    assert "Urgence signalée" in text(page) and "06 98 76 54 32" in text(page)
    [sms] = await _rows(
        settings, select(OutboundMessage).where(OutboundMessage.purpose == "emergency")
    )
    assert sms.recipient == "+33698765432"
    assert sms.body_text == f"URGENCE au {CLOS_MORTIER} : Julie Petit demande un médecin sur place."
    assert "LAMBERT" not in sms.body_text  # no patient data in a text message


async def test_a_patient_without_medecin_traitant_leaves_with_a_relay_doctor(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await login(client, "coordination")
    directory = await client.get("/coordination/medecins-relais")
    empty = await _post(client, "/coordination/medecins-relais", directory, name="Dr X")
    assert empty.status_code == 422 and "téléphone ou une adresse e-mail" in text(empty)
    for name, email in (
        ("Dr Claire Fabre", "c.fabre@example.org"),
        ("Dr Marc Petit", "l.m@example.org"),
    ):
        added = await _post(
            client,
            "/coordination/medecins-relais",
            directory,
            name=name,
            city="Saint-Dizier",
            email=email,
        )
        assert added.status_code == 303
    page = await client.get("/coordination/medecins-relais")
    row = page.text.split("Dr Marc Petit")[1]
    full_id = re.search(r"/coordination/medecins-relais/(\d+)/disponibilite", row).group(1)  # type: ignore[union-attr]
    await _post(client, f"/coordination/medecins-relais/{full_id}/disponibilite", page)

    booking_id = await booking_now(settings)  # Odile Lambert has no médecin traitant
    client.cookies.clear()
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    room_url = (await _post(client, f"/salle/rdv/{booking_id}/accueil", agenda)).headers["location"]
    cid = int(room_url.rsplit("/", 1)[1])
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        c = await session.get(Consultation, cid)
        assert c is not None
        c.state = State.REPORTING  # the doctor has ended the teleconsultation
        await session.commit()
    await engine.dispose()
    room = await client.get(room_url)
    assert "Dr Claire Fabre" in text(room) and "Dr Marc Petit" not in text(room)  # full
    anne = re.search(r'<option value="(\d+)">Dr Claire Fabre', room.text).group(1)  # type: ignore[union-attr]
    referred = await _post(
        client, f"/salle/consultations/{cid}/medecin-relais", room, doctor_id=anne
    )
    assert referred.status_code == 303
    after = await client.get(referred.headers["location"])
    assert "Orienté vers <strong>Dr Claire Fabre</strong>" in text(after)
    [mail] = await _rows(
        settings, select(OutboundMessage).where(OutboundMessage.purpose == "referral")
    )
    assert mail.recipient == "c.fabre@example.org"
    assert "LAMBERT" not in mail.body_text and "Toux" not in mail.body_text  # no health data
