"""Scenario 6 in the hub: the facility's staff take the CPTS's mobile kit for a resident's
session; the kit's measurements then belong to that consultation, its commands are theirs,
and nobody of another site may take it for the facility's consultations."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from dataclasses import dataclass

import httpx
import websockets
from fastapi import FastAPI
from sqlalchemy import select

from devices.measurements import DeviceIdentity, Measurement, MeasurementKind, Unit
from hub.audit.models import AuditEvent
from hub.cabins import intake
from hub.cabins.presence import CabinDevice
from hub.cabins.routing import NOT_CONNECTED
from hub.config import Settings
from hub.consultation.cabins import cabins_of
from hub.consultation.media import CABIN_OFFLINE
from hub.consultation.models import Consultation, ConsultationEvent
from hub.context import AgentConnection, HubContext
from hub.identity import service as identity
from hub.identity.models import Cabin, Organisation, Role, Site
from hub.records.observations import Observation
from hub.wire import MeasurementBatch, MeasurementItem, MediaOffer, WireMeasurement
from tests.conftest import csrf_from, login, text
from tests.hub.consultation.test_media_signalling import fake_agent
from tests.support import factories as make
from tests.support.factories import FACILITY, MOBILE_KIT, Cpts, session_for
from tests.support.live import LiveHub


@dataclass(frozen=True)
class _Seed:
    """The mobile kit's cabin and its agent's token."""

    cabin_id: int
    cabin_token: str


async def _resident_arrived(
    client: httpx.AsyncClient, settings: Settings, cpts: Cpts, username: str = "etablissement"
) -> int:
    """A resident's session at the facility, welcomed by its staff; the consultation id.
    (Booking its reserved slots is scenario 6's other half, `tests/hub/scheduling`.)"""
    now = dt.datetime.now(dt.UTC)
    async with session_for(settings) as session:
        slot = await make.slot(
            session,
            site_id=cpts.site_ids[FACILITY],
            starts_at=now + dt.timedelta(minutes=5),
            minutes=30,
        )
        patient = await make.patient(
            session, organisation_id=cpts.organisation_id, today=now.date()
        )
        await session.commit()
        booking = await make.booking(session, slot_id=slot.id, patient_id=patient.id, now=now)
    await login(client, username)
    home = await client.get("/etablissement")
    arrived = await client.post(
        f"/salle/rdv/{booking.id}/accueil", data={"csrf_token": csrf_from(home.text)}
    )
    assert arrived.status_code == 303
    return int(arrived.headers["location"].rsplit("/", 1)[1])


async def _kit_id(settings: Settings, cpts: Cpts) -> int:
    async with session_for(settings) as session:
        return (
            await session.scalars(
                select(Cabin.id).where(Cabin.site_id == cpts.site_ids[MOBILE_KIT])
            )
        ).one()


async def test_the_facility_takes_the_kit_and_its_measurements_go_to_the_resident(
    app: FastAPI, client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    cid = await _resident_arrived(client, settings, cpts)
    kit_id = await _kit_id(settings, cpts)
    console = await client.get(f"/salle/consultations/{cid}")
    assert "Aucune cabine n'est rattachée à ce site" in text(console)
    assert "Utiliser ce kit pour la séance" in text(console)
    taken = await client.post(
        f"/salle/consultations/{cid}/kit",
        data={"csrf_token": csrf_from(console.text), "cabin_id": str(kit_id)},
    )
    assert taken.status_code == 303
    console = await client.get(f"/salle/consultations/{cid}")
    assert "Kit utilisé pour cette séance : <strong>Kit mobile</strong>" in text(console)
    assert "Aucune cabine n'est rattachée à ce site" not in text(console)
    async with session_for(settings) as session:
        consultation = await session.get(Consultation, cid)
        assert consultation is not None
        assert await cabins_of(
            session=session, consultation=consultation, now=dt.datetime.now(dt.UTC)
        ) == {kit_id}
        notes = await session.scalars(
            select(ConsultationEvent.note).where(ConsultationEvent.consultation_id == cid)
        )
        assert "Kit mobile « Kit mobile »" in list(notes)
        traced = await session.scalars(
            select(AuditEvent.target).where(AuditEvent.action == "consultation.kit")
        )
        assert list(traced) == [f"consultation:{cid}"]
        booking_id = consultation.booking_id

    # The kit's trolley measures a temperature: stored against the resident's booking.
    ctx: HubContext = app.state.hub
    reading = Measurement(
        MeasurementKind.BODY_TEMPERATURE,
        37.9,
        Unit.CELSIUS,
        dt.datetime.now(dt.UTC),
        DeviceIdentity("generic_gatt_thermometer", "T-1", None, "ACME"),
    )
    batch = MeasurementBatch(
        items=(
            MeasurementItem(
                seq=1, device="Thermomètre", measurement=WireMeasurement.from_measurement(reading)
            ),
        )
    )
    conn = AgentConnection(cabin_id=kit_id, site_id=cpts.site_ids[MOBILE_KIT])
    async with ctx.sessions() as session:
        ack = await intake.store_batch(ctx, session, conn, batch, dt.datetime.now(dt.UTC))
    assert ack.seqs == (1,)
    async with session_for(settings) as session:
        stored = (await session.scalars(select(Observation))).one()
    assert (stored.booking_id, stored.cabin_id, stored.value) == (booking_id, kit_id, 37.9)
    console = await client.get(f"/salle/consultations/{cid}")
    assert "37,9" in text(console) or "37.9" in text(console)


async def test_only_the_facility_s_staff_take_a_kit_and_only_a_mobile_kit(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    cid = await _resident_arrived(client, settings, cpts)
    console = await client.get(f"/salle/consultations/{cid}")
    # The Clos Mortier trolley is no mobile kit: refused, in words.
    refused = await client.post(
        f"/salle/consultations/{cid}/kit",
        data={"csrf_token": csrf_from(console.text), "cabin_id": str(cpts.cabin_id)},
    )
    assert refused.status_code == 422
    assert "Ce chariot n'est pas un kit mobile de la CPTS." in text(refused)
    # A nurse of another site cannot take the kit for the facility's resident.
    kit_id = await _kit_id(settings, cpts)
    await client.post("/deconnexion", data={"csrf_token": csrf_from(console.text)})
    await login(client, "infirmiere")
    home = await client.get("/infirmier")
    other = await client.post(
        f"/salle/consultations/{cid}/kit",
        data={"csrf_token": csrf_from(home.text), "cabin_id": str(kit_id)},
    )
    assert other.status_code == 403
    async with session_for(settings) as session:
        consultation = await session.get(Consultation, cid)
        assert consultation is not None
        assert (
            await cabins_of(session=session, consultation=consultation, now=dt.datetime.now(dt.UTC))
            == frozenset()
        )


async def test_the_room_screen_s_media_go_to_the_kit_lent_to_the_session(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    """At the facility (no cabin of its own) the room's screen reaches the kit's trolley once
    the kit is taken for the session; before, it is told the room's cabin is not connected."""
    kit_id = await _kit_id(settings, cpts)
    now = dt.datetime.now(dt.UTC)
    async with session_for(settings) as session:
        slot = await make.slot(
            session, site_id=cpts.site_ids[FACILITY], starts_at=now + dt.timedelta(minutes=5)
        )
        patient = await make.patient(
            session, organisation_id=cpts.organisation_id, today=now.date()
        )
        await session.commit()
        booking = await make.booking(session, slot_id=slot.id, patient_id=patient.id, now=now)
        cid = (await make.consultation(session, booking=booking)).id
        kit = await session.get(Cabin, kit_id)
        assert kit is not None
        token = await identity.issue_cabin_token(session=session, cabin=kit)
        await session.commit()
    offers: list[MediaOffer] = []
    connected, closed = asyncio.Event(), asyncio.Event()
    seed = _Seed(kit_id, token)
    agent = asyncio.create_task(fake_agent(live_hub, seed, offers, connected, closed))
    try:
        async with httpx.AsyncClient(base_url=live_hub.url) as client:
            await login(client, "etablissement")
            cookie = f"cpts_session={client.cookies['cpts_session']}"
            await asyncio.wait_for(connected.wait(), 5)
            url = live_hub.ws_url.replace("/agent/ws", f"/ws/consultations/{cid}/room")
            async with websockets.connect(url, additional_headers={"Cookie": cookie}) as room:
                refused = json.loads(await room.recv())
            assert refused == {"type": "error", "message": CABIN_OFFLINE}
            console = await client.get(f"/salle/consultations/{cid}")
            taken = await client.post(
                f"/salle/consultations/{cid}/kit",
                data={"csrf_token": csrf_from(console.text), "cabin_id": str(kit_id)},
            )
            assert taken.status_code == 303
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as room:
            assert json.loads(await room.recv())["type"] == "ice_servers"
            await room.send(json.dumps({"type": "offer", "sdp": "v=0 offer"}))
            answer = json.loads(await asyncio.wait_for(room.recv(), 5))
            assert answer == {"type": "answer", "sdp": "v=0 answer"}
    finally:
        agent.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await agent
    assert [o.sdp for o in offers] == ["v=0 offer"]


async def test_a_facility_nurse_commands_the_kit_only_once_taken_for_her_session(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    """A nurse of the facility only (not of the kit's own site) may command the kit's
    devices once it is lent to a session of her facility, not before."""
    kit_id = await _kit_id(settings, cpts)
    async with session_for(settings) as session:
        org = await session.get(Organisation, cpts.organisation_id)
        facility = await session.get(Site, cpts.site_ids[FACILITY])
        assert org is not None and facility is not None
        await make.user(
            session,
            organisation=org,
            username="soignante",
            role=Role.FACILITY_STAFF,
            sites=[facility],
        )
        session.add(CabinDevice(cabin_id=kit_id, name="Thermomètre", kind="thermometer"))
        await session.commit()
    cid = await _resident_arrived(client, settings, cpts, username="soignante")
    console = await client.get(f"/salle/consultations/{cid}")
    csrf = csrf_from(console.text)

    async def measure() -> httpx.Response:
        return await client.post(
            f"/api/v1/cabines/{kit_id}/commandes",
            json={"device": "Thermomètre", "action": "measure"},
            headers={"X-CSRF-Token": csrf},
        )

    before = await measure()
    assert before.status_code == 403
    assert "Cette cabine est sur un site pour lequel vous n'agissez pas." in text(before)
    taken = await client.post(
        f"/salle/consultations/{cid}/kit", data={"csrf_token": csrf, "cabin_id": str(kit_id)}
    )
    assert taken.status_code == 303
    after = await measure()
    # Taken: the command goes to the kit, whose trolley is switched off here.
    assert after.status_code == 409
    assert NOT_CONNECTED in text(after)
