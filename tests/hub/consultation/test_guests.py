"""A third party in a consultation: the doctor invites them by e-mail or SMS, the one-time link
opens the guest's page in one browser only, the guest joins the consultation's Janus room (a
real Janus), the doctor removes them, and the end of the consultation closes the room. The
guest's link reaches nothing of the record, the report or the vitals."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from cabin_agent.agent import CabinAgent
from cabin_agent.media_sfu import SfuSubscriber
from hub import db
from hub.audit.models import AuditEvent
from hub.config import Environment, Settings
from hub.consultation.guest_link import SILENT_FOR
from hub.consultation.guests import LINK_VALID_FOR
from hub.consultation.idle_rooms import close_idle_rooms
from hub.consultation.models import Consultation, Guest, GuestStatus, State
from hub.consultation.sfu import SfuRooms
from hub.jobs import JobRunner
from hub.notify.models import Channel, OutboundMessage
from hub.wire.janus import CORE_UNAUTHORIZED, JanusError, SfuGrant
from tests.conftest import TEST_SECRET, csrf_from, login, text
from tests.hub.consultation.test_sfu import join as join_room
from tests.support.factories import Cpts, session_for
from tests.support.janus import ThrowawayJanus
from tests.support.live import LiveHub
from tests.support.postgres import free_port
from tests.support.scenario import agent_config, booking_now, in_consultation
from tests.support.waiting import eventually

LINK = re.compile(r"/invitation/([A-Za-z0-9_-]+)")


@pytest.fixture
def settings(database_url: str, janus_server: ThrowawayJanus) -> Settings:
    """The hub's settings, with the session's Janus as its SFU."""
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        secret_key=TEST_SECRET,
        port=free_port(),
        jobs_enabled=False,
        janus_url=janus_server.url,
        janus_admin_url=janus_server.admin_url,
        janus_admin_secret=janus_server.admin_secret,
    )


@pytest.fixture
async def rooms(settings: Settings) -> AsyncIterator[SfuRooms]:
    client = SfuRooms(settings)
    yield client
    await client.aclose()


@pytest.fixture
async def guest_browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The guest's own browser (no account)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _rows(settings: Settings, query: object) -> list:  # type: ignore[type-arg]
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        rows = list(await session.scalars(query))  # type: ignore[call-overload]
    await engine.dispose()
    return rows


async def _consultation(client: httpx.AsyncClient, settings: Settings) -> int:
    cid = await in_consultation(settings, await booking_now(settings), "medecin")
    await login(client, "medecin")
    return cid


async def _invite(
    client: httpx.AsyncClient, cid: int, *, role: str, name: str, contact: str
) -> httpx.Response:
    console = await client.get(f"/medecin/consultations/{cid}")
    return await client.post(
        f"/medecin/consultations/{cid}/tiers",
        data={
            "csrf_token": csrf_from(console.text),
            "role": role,
            "name": name,
            "contact": contact,
        },
    )


async def _link_of(settings: Settings, recipient: str) -> str:
    """The invitation link the outbox holds for this recipient."""
    (message,) = await _rows(
        settings, select(OutboundMessage).where(OutboundMessage.recipient == recipient)
    )
    match = LINK.search(message.body_text)
    assert match, message.body_text
    return f"/invitation/{match.group(1)}"


async def _actions(settings: Settings) -> list[str]:
    return [e.action for e in await _rows(settings, select(AuditEvent).order_by(AuditEvent.id))]


async def _join(browser: httpx.AsyncClient, link: str, name: str) -> httpx.Response:
    page = await browser.get(link)
    return await browser.post(
        f"{link}/rejoindre",
        json={"name": name},
        headers={"x-csrf-token": csrf_from(page.text), "accept": "application/json"},
    )


async def publishing(agent: CabinAgent, consultation_id: int) -> bool:
    """Whether the agent's trolley is up in the consultation's room."""
    publication = (await agent.media.publications()).get(consultation_id)
    return publication is not None and publication.connection_state == "connected"


async def _end(client: httpx.AsyncClient, cid: int) -> None:
    console = await client.get(f"/medecin/consultations/{cid}")
    ended = await client.post(
        f"/medecin/consultations/{cid}/etat",
        data={"csrf_token": csrf_from(console.text), "action": "end"},
    )
    assert ended.status_code == 303


async def test_the_doctor_invites_an_interpreter_by_email_and_the_room_opens(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, rooms: SfuRooms
) -> None:
    cid = await _consultation(client, settings)
    console = await client.get(f"/medecin/consultations/{cid}")
    assert "Inviter un tiers" in text(console) and "Personne d'autre n'est invité" in text(console)
    invited = await _invite(
        client, cid, role="interpreter", name="Amina Haddad", contact="amina@interpretes.fr"
    )
    assert invited.status_code == 303
    console = await client.get(f"/medecin/consultations/{cid}")
    assert "Amina Haddad" in text(console) and "invité, lien envoyé" in text(console)
    (message,) = await _rows(settings, select(OutboundMessage))
    assert message.channel is Channel.EMAIL and message.recipient == "amina@interpretes.fr"
    assert "interprète" in message.body_text and "/invitation/" in message.body_text
    (guest,) = await _rows(settings, select(Guest))
    assert LINK.search(message.body_text).group(1) not in guest.token_hash  # type: ignore[union-attr]
    assert "consultation.guest_invited" in await _actions(settings)
    assert await rooms.exists(cid)
    await _end(client, cid)
    assert not await rooms.exists(cid), "the end of the consultation closes its room"
    (guest,) = await _rows(settings, select(Guest))
    assert guest.status is GuestStatus.ENDED


async def test_an_sms_invitation_goes_to_the_mobile(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    cid = await _consultation(client, settings)
    invited = await _invite(
        client, cid, role="medecin_traitant", name="Dr Morel", contact="06 12 34 56 78"
    )
    assert invited.status_code == 303
    (message,) = await _rows(settings, select(OutboundMessage))
    assert message.channel is Channel.SMS and message.recipient == "+33612345678"
    assert "/invitation/" in message.body_text
    await _end(client, cid)


async def test_a_bad_invitation_is_refused_field_by_field(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    cid = await _consultation(client, settings)
    refused = await _invite(client, cid, role="cousin", name="  ", contact="pas-un-numero")
    assert refused.status_code == 422
    page = text(refused)
    assert "Choisissez qui vous invitez" in page
    assert "Indiquez le nom de la personne invitée" in page
    assert "Numéro de portable invalide : pas-un-numero" in page
    assert 'value="pas-un-numero"' in page, "what was typed is kept"
    assert await _rows(settings, select(OutboundMessage)) == []
    assert await _rows(settings, select(Guest)) == []


async def test_a_name_too_long_comes_back_next_to_its_field_as_typed(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    cid = await _consultation(client, settings)
    refused = await _invite(client, cid, role="interpreter", name="A" * 400, contact="a@")
    assert refused.status_code == 422
    page = text(refused)
    assert "Demande refusée" not in page and "« name »" not in page
    assert "Nom : 120 caractères au plus (vous en avez saisi 400)." in page
    assert "Adresse e-mail invalide : a@" in page, "every problem at once"
    assert 'id="guest-name-error"' in refused.text
    assert 'value="' + "A" * 400 + '"' in refused.text, "what was typed is kept"
    assert await _rows(settings, select(Guest)) == []


async def test_the_link_opens_once_in_one_browser_then_joins_and_leaves(
    client: httpx.AsyncClient,
    cpts: Cpts,
    settings: Settings,
    app: FastAPI,
    guest_browser: httpx.AsyncClient,
) -> None:
    cid = await _consultation(client, settings)
    await _invite(client, cid, role="specialist", name="Dr Petit", contact="petit@chu.fr")
    link = await _link_of(settings, "petit@chu.fr")
    page = await guest_browser.get(link)
    assert page.status_code == 200 and "spécialiste" in text(page)
    assert "LAMBERT" not in text(page), "the guest's page shows nothing of the patient"
    again = await guest_browser.get(link)
    assert again.status_code == 200, "the same browser opens it again"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        stolen = await other.get(link)
    assert stolen.status_code == 410
    assert "déjà été ouvert dans un autre navigateur" in text(stolen)
    assert (await guest_browser.get("/invitation/pas-un-lien")).status_code == 404

    joined = await _join(guest_browser, link, "Dr Hélène Petit")
    assert joined.status_code == 200, joined.text
    grant = SfuGrant(**joined.json()["grant"])
    assert grant.room == cid
    assert (await join_room(grant))["videoroom"] == "joined", "Janus lets the guest in"
    console = await client.get(f"/medecin/consultations/{cid}")
    assert "Dr Hélène Petit" in text(console) and "présent" in text(console)
    left = await guest_browser.post(
        f"{link}/quitter", headers={"x-csrf-token": csrf_from(page.text)}
    )
    assert left.status_code == 204
    actions = await _actions(settings)
    assert actions.index("consultation.guest_joined") < actions.index("consultation.guest_left")
    await _end(client, cid)
    ended = await guest_browser.get(link)
    assert ended.status_code == 410 and "La consultation est terminée" in text(ended)


async def test_an_expired_link_says_so(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, guest_browser: httpx.AsyncClient
) -> None:
    cid = await _consultation(client, settings)
    await _invite(client, cid, role="interpreter", name="Amina", contact="amina@interpretes.fr")
    link = await _link_of(settings, "amina@interpretes.fr")
    async with session_for(settings) as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        await session.execute(update(Guest).values(expires_at=past))
        await session.commit()
    expired = await guest_browser.get(link)
    assert expired.status_code == 410 and "a expiré" in text(expired)
    await _end(client, cid)


async def test_the_guest_reaches_no_record_report_or_vitals(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, guest_browser: httpx.AsyncClient
) -> None:
    cid = await _consultation(client, settings)
    await _invite(client, cid, role="interpreter", name="Amina", contact="amina@interpretes.fr")
    link = await _link_of(settings, "amina@interpretes.fr")
    assert (await _join(guest_browser, link, "Amina")).status_code == 200
    assert guest_browser.cookies, "the guest's browser holds its invitation cookie"
    patient_id = (await _rows(settings, select(Guest)))[0].consultation_id
    for path in (
        f"/medecin/consultations/{cid}",
        f"/salle/consultations/{cid}",
        f"/dossier-partage/patients/{patient_id}",
        "/comptes-rendus/1.pdf",
    ):
        refused = await guest_browser.get(path)
        assert refused.status_code == 303, path
        assert refused.headers["location"].startswith("/connexion"), path
    vitals = await guest_browser.get(f"/api/v1/consultations/{cid}/mesures")
    assert vitals.status_code == 401
    await _end(client, cid)


async def test_the_doctor_removes_a_guest(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, guest_browser: httpx.AsyncClient
) -> None:
    cid = await _consultation(client, settings)
    await _invite(client, cid, role="interpreter", name="Amina", contact="amina@interpretes.fr")
    link = await _link_of(settings, "amina@interpretes.fr")
    grant = SfuGrant(**(await _join(guest_browser, link, "Amina")).json()["grant"])
    (guest,) = await _rows(settings, select(Guest))
    console = await client.get(f"/medecin/consultations/{cid}")
    removed = await client.post(
        f"/medecin/consultations/{cid}/tiers/{guest.id}/retirer",
        data={"csrf_token": csrf_from(console.text)},
    )
    assert removed.status_code == 303
    gone = await guest_browser.get(link)
    assert gone.status_code == 410 and "mis fin à votre participation" in text(gone)
    with pytest.raises(JanusError) as refused:
        await join_room(grant)
    assert refused.value.code == CORE_UNAUTHORIZED, "Janus refuses the removed guest"
    assert "consultation.guest_removed" in await _actions(settings)
    await _end(client, cid)


async def test_a_guest_of_another_consultation_cannot_be_removed_here(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    cid = await _consultation(client, settings)
    await _invite(client, cid, role="interpreter", name="Amina", contact="amina@interpretes.fr")
    (guest,) = await _rows(settings, select(Guest))
    other = await in_consultation(settings, await booking_now(settings, minutes=25), "medecin")
    console = await client.get(f"/medecin/consultations/{other}")
    refused = await client.post(
        f"/medecin/consultations/{other}/tiers/{guest.id}/retirer",
        data={"csrf_token": csrf_from(console.text)},
    )
    assert refused.status_code == 404
    assert (await _rows(settings, select(Guest)))[0].status is GuestStatus.INVITED
    await _end(client, cid)


async def test_the_cabin_publishes_into_the_room_until_the_consultation_ends(
    cpts: Cpts, settings: Settings, live_hub: LiveHub, tmp_path: Path, rooms: SfuRooms
) -> None:
    """The first invitation tells the cabin agent (wire: sfu_publish) to publish its trolley
    into the room; the guest subscribes to the cabin's feed and receives the room camera, the
    otoscope and the stethoscope; a cabin that connects again is told again; the end of the
    consultation stops the cabin (sfu_stop)."""
    cid = await in_consultation(settings, await booking_now(settings), "medecin")
    agent = CabinAgent(agent_config(live_hub, cpts, tmp_path), simulate=True)
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.link.online.wait(), 15)
        async with httpx.AsyncClient(base_url=live_hub.url) as client:
            await login(client, "medecin")
            await _invite(client, cid, role="interpreter", name="Amina", contact="a@b.fr")
            await eventually(
                lambda: publishing(agent, cid), "the cabin publishing into the room", timeout=30
            )
            feed = (await agent.media.publications())[cid].feed
            assert feed is not None
            viewer = SfuSubscriber(rooms.grant(cid, "doctor"))
            try:
                tracks = await viewer.subscribe(feed)
                await eventually(lambda: len(tracks) == 3, "the trolley's three tracks")
                assert set(tracks) == {"room", "otoscope", "stethoscope"}
            finally:
                await viewer.close()
            # The agent restarts: once connected again, it is told to publish again.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert not await agent.media.publications()
            agent = CabinAgent(agent_config(live_hub, cpts, tmp_path), simulate=True)
            task = asyncio.create_task(agent.run())
            await eventually(
                lambda: publishing(agent, cid), "the restarted cabin publishing again", timeout=30
            )
            await _end(client, cid)
        await eventually(
            lambda: agent.media.process is None, "the cabin stopping (its media process ended)"
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_doctor_joins_the_room_only_once_guests_take_part(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    cid = await _consultation(client, settings)
    url = f"/api/v1/consultations/{cid}/visio-tiers"
    before = await client.get(url)
    assert before.status_code == 409
    assert "Aucun tiers ne participe" in before.json()["detail"]
    await _invite(client, cid, role="specialist", name="Dr Petit", contact="petit@chu.fr")
    granted = await client.get(url)
    assert granted.status_code == 200
    grant = SfuGrant(**granted.json()["grant"])
    assert (await join_room(grant))["videoroom"] == "joined", "Janus lets the doctor in"
    await _end(client, cid)
    assert (await client.get(url)).status_code == 409


async def test_the_room_screen_joins_the_room_to_show_the_guests(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, app: FastAPI
) -> None:
    cid = await _consultation(client, settings)
    await _invite(client, cid, role="interpreter", name="Amina", contact="amina@interpretes.fr")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as nurse:
        await login(nurse, "infirmiere")
        granted = await nurse.get(f"/api/v1/consultations/{cid}/visio-tiers/salle")
        assert granted.status_code == 200
        grant = SfuGrant(**granted.json()["grant"])
        assert (await join_room(grant))["videoroom"] == "joined"
        refused = await nurse.get(f"/api/v1/consultations/{cid}/visio-tiers")
        assert refused.status_code == 403, "the doctor's grant is the doctor's"
    await _end(client, cid)


async def _run_jobs_at(app: FastAPI, moment: dt.datetime) -> None:
    """One round of the hub's periodic jobs, as run `moment` (the clock injected)."""
    runner = JobRunner(dataclasses.replace(app.state.hub, clock=lambda: moment))
    try:
        await runner.run_once()
    finally:
        await runner.stop()


@contextlib.contextmanager
def _hub_clock_at(app: FastAPI, moment: dt.datetime) -> Iterator[None]:
    """The hub answers requests as if it were `moment`."""
    real = app.state.hub
    app.state.hub = dataclasses.replace(real, clock=lambda: moment)
    try:
        yield
    finally:
        app.state.hub = real


async def test_a_guest_whose_page_went_silent_is_shown_gone(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, app: FastAPI
) -> None:
    """A guest's browser died (or their network dropped) without saying goodbye: once their
    page has stopped asking for `SILENT_FOR`, the doctor sees them gone (traced), while a guest
    whose page keeps asking stays present; the silent page, if it comes back, learns it left."""
    cid = await _consultation(client, settings)
    await _invite(client, cid, role="interpreter", name="Amina", contact="amina@interp.fr")
    await _invite(client, cid, role="specialist", name="Dr Petit", contact="petit@chu.fr")
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as amina,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as petit,
    ):
        amina_link = await _link_of(settings, "amina@interp.fr")
        petit_link = await _link_of(settings, "petit@chu.fr")
        assert (await _join(amina, amina_link, "Amina Haddad")).status_code == 200
        assert (await _join(petit, petit_link, "Dr Hélène Petit")).status_code == 200
        joined = dt.datetime.now(dt.UTC)
        with _hub_clock_at(app, joined + SILENT_FOR * 2 / 3):
            asked = await amina.get(f"{amina_link}/etat")  # Amina's page is still open
            assert asked.json() == {"status": "joined"}
        await _run_jobs_at(app, joined + SILENT_FOR * 2 / 3)
        assert {g.status for g in await _rows(settings, select(Guest))} == {GuestStatus.JOINED}
        await _run_jobs_at(app, joined + SILENT_FOR + dt.timedelta(seconds=5))
        statuses = {g.shown_name: g.status for g in await _rows(settings, select(Guest))}
        assert statuses == {"Amina Haddad": GuestStatus.JOINED, "Dr Hélène Petit": GuestStatus.LEFT}
        console = text(await client.get(f"/medecin/consultations/{cid}"))
        assert re.search(r"Dr Hélène Petit.*parti", console), console
        assert re.search(r"Amina Haddad.*présent", console), console
        assert (await _actions(settings)).count("consultation.guest_lost") == 1
        back = await petit.get(f"{petit_link}/etat")
        assert back.json() == {"status": "left"}, "her page, back, learns it is out"
        rejoined = await _join(petit, petit_link, "Dr Hélène Petit")
        assert rejoined.status_code == 200, "reopening the link brings her back"
    await _run_jobs_at(app, dt.datetime.now(dt.UTC) + SILENT_FOR / 2)
    assert {g.status for g in await _rows(settings, select(Guest))} == {GuestStatus.JOINED}
    await _end(client, cid)


async def test_a_room_janus_cannot_close_is_reported_once_then_closed_when_janus_is_back(
    client: httpx.AsyncClient,
    cpts: Cpts,
    settings: Settings,
    rooms: SfuRooms,
    app: FastAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The consultation ended while Janus was out of reach: the periodic jobs say once in the
    log that its room could not be closed (not at every round), and close it once Janus
    answers again."""
    cid = await _consultation(client, settings)
    await _invite(client, cid, role="interpreter", name="Amina", contact="a@interp.fr")
    async with session_for(settings) as session:
        await session.execute(
            update(Consultation).where(Consultation.id == cid).values(state=State.CLOSED)
        )
        await session.commit()
    dead = settings.model_copy(update={"janus_url": f"http://127.0.0.1:{free_port()}/janus"})
    unreachable = dataclasses.replace(app.state.hub, settings=dead)
    with caplog.at_level(logging.DEBUG, logger="hub.consultation"):
        for _round in range(3):
            assert await close_idle_rooms(unreachable) == []
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 2, warned  # Janus is out of reach; this room is not closed
    assert "unreachable" in warned[0] and f"consultation {cid} not closed" in warned[1]
    assert await rooms.exists(cid)
    assert await close_idle_rooms(app.state.hub) == [cid]
    assert not await rooms.exists(cid)


async def _state_of(settings: Settings, cid: int) -> State:
    (consultation,) = await _rows(settings, select(Consultation).where(Consultation.id == cid))
    return State(consultation.state)


async def test_a_room_left_empty_closes_but_the_consultation_goes_on(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, rooms: SfuRooms, app: FastAPI
) -> None:
    """The doctor closed the tab and nobody ended the consultation: the periodic jobs close
    its Janus room once nobody came for `sfu_room_idle_minutes`, not before; the consultation
    stays running, and inviting again opens a new room."""
    cid = await _consultation(client, settings)
    await _invite(client, cid, role="interpreter", name="Amina Haddad", contact="a@interp.fr")
    assert await rooms.exists(cid)
    now = dt.datetime.now(dt.UTC)
    idle = dt.timedelta(minutes=settings.sfu_room_idle_minutes)
    await _run_jobs_at(app, now + idle / 2)
    assert await rooms.exists(cid), "a room in its first idle minutes stays"
    waited = max(idle, LINK_VALID_FOR)
    await _run_jobs_at(app, now + waited - dt.timedelta(minutes=1))
    assert await rooms.exists(cid), "the interpreter's link is still valid: she may come"
    await _run_jobs_at(app, now + waited + dt.timedelta(minutes=1))
    assert not await rooms.exists(cid), "an idle room is closed"
    assert await _state_of(settings, cid) is State.IN_CONSULTATION, "never ended by a timer"
    (guest,) = await _rows(settings, select(Guest))
    assert guest.status is GuestStatus.ENDED
    assert "consultation.sfu_room_closed" in await _actions(settings)
    again = await _invite(client, cid, role="specialist", name="Dr Petit", contact="p@chu.fr")
    assert again.status_code == 303
    assert await rooms.exists(cid), "the next invitation opens the room again"
    await _end(client, cid)


async def test_a_room_with_a_guest_in_it_stays_until_its_consultation_is_over(
    client: httpx.AsyncClient,
    cpts: Cpts,
    settings: Settings,
    rooms: SfuRooms,
    app: FastAPI,
    guest_browser: httpx.AsyncClient,
) -> None:
    """A guest in the room keeps it open however long; once the consultation is no longer
    running (its exit could not reach Janus), the next round closes the room."""
    cid = await _consultation(client, settings)
    await _invite(client, cid, role="specialist", name="Dr Petit", contact="petit@chu.fr")
    joined = await _join(guest_browser, await _link_of(settings, "petit@chu.fr"), "Dr Petit")
    assert joined.status_code == 200, joined.text
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)
    await _run_jobs_at(app, later)
    assert await rooms.exists(cid), "the guest is still in the room"
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        await session.execute(
            update(Consultation).where(Consultation.id == cid).values(state=State.REPORTING)
        )
        await session.commit()
    await engine.dispose()
    await _run_jobs_at(app, later)
    assert not await rooms.exists(cid), "the room of a consultation over is closed"
