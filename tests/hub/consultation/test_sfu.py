"""The hub drives a real Janus (Debian's, started by the test support): a consultation's
VideoRoom is created with a secret, a pin and per-party tokens, and destroyed at the end."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator

import httpx
import pytest

from cabin_agent.janus_session import JanusSession
from hub.config import Environment, Settings
from hub.consultation.sfu import NOT_CONFIGURED, UNREACHABLE, SfuRooms, SfuUnavailable
from hub.wire.janus import CORE_UNAUTHORIZED, NO_SUCH_ROOM, UNAUTHORIZED, JanusError, SfuGrant
from tests.conftest import TEST_SECRET
from tests.support.postgres import free_port

_rooms = itertools.count(1000)


@pytest.fixture
async def rooms(janus_settings: Settings) -> AsyncIterator[SfuRooms]:
    client = SfuRooms(janus_settings)
    yield client
    await client.aclose()


async def join(grant: SfuGrant) -> dict[str, object]:
    """Join the room as a publisher with `grant`; return the VideoRoom's answer."""
    async with httpx.AsyncClient(timeout=10) as http:
        session = JanusSession(grant, http)
        try:
            await session.attach()
            joined, _ = await session.send(
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": grant.room,
                    "pin": grant.pin,
                    "token": grant.token,
                }
            )
            return joined
        finally:
            await session.close()


async def test_an_admitted_party_joins_the_consultation_room(rooms: SfuRooms) -> None:
    consultation = next(_rooms)
    grants = await rooms.open_room(consultation)
    assert await rooms.exists(consultation)
    joined = await join(grants["doctor"])
    assert joined["videoroom"] == "joined"
    assert joined["room"] == consultation
    await rooms.close_room(consultation, ["cabin", "doctor"])


async def test_a_wrong_pin_is_refused(rooms: SfuRooms) -> None:
    consultation = next(_rooms)
    grant = (await rooms.open_room(consultation))["cabin"]
    with pytest.raises(JanusError) as refused:
        await join(dataclasses.replace(grant, pin="0000"))
    assert refused.value.code == UNAUTHORIZED
    await rooms.close_room(consultation, ["cabin", "doctor"])


async def test_a_token_the_hub_did_not_give_is_refused(rooms: SfuRooms) -> None:
    consultation = next(_rooms)
    grant = (await rooms.open_room(consultation))["cabin"]
    with pytest.raises(JanusError) as refused_by_janus:
        # Janus's core refuses the session itself (token_auth)…
        await join(dataclasses.replace(grant, token="made-up-token"))
    assert refused_by_janus.value.code == CORE_UNAUTHORIZED
    # …and a token of another consultation passes the core but not this room's list.
    other = next(_rooms)
    stranger = (await rooms.open_room(other))["cabin"]
    with pytest.raises(JanusError) as refused_by_room:
        await join(dataclasses.replace(grant, token=stranger.token))
    assert refused_by_room.value.code == UNAUTHORIZED
    await rooms.close_room(consultation, ["cabin", "doctor"])
    await rooms.close_room(other, ["cabin", "doctor"])


async def test_a_guest_is_admitted_then_dismissed(rooms: SfuRooms) -> None:
    consultation = next(_rooms)
    await rooms.open_room(consultation)
    guest = await rooms.admit(consultation, "interprete")
    assert (await join(guest))["videoroom"] == "joined"
    await rooms.dismiss(consultation, "interprete")
    with pytest.raises(JanusError) as refused:
        await join(guest)
    assert refused.value.code == CORE_UNAUTHORIZED
    await rooms.close_room(consultation, ["cabin", "doctor"])


async def test_the_room_is_destroyed_at_the_end(rooms: SfuRooms) -> None:
    consultation = next(_rooms)
    grants = await rooms.open_room(consultation)
    await rooms.close_room(consultation, ["cabin", "doctor"])
    assert not await rooms.exists(consultation)
    with pytest.raises(JanusError) as refused:  # the parties' tokens went with it
        await join(grants["doctor"])
    assert refused.value.code == CORE_UNAUTHORIZED
    await rooms.close_room(consultation)  # closing twice is harmless


async def test_reopening_a_room_keeps_it_and_adds_parties(rooms: SfuRooms) -> None:
    consultation = next(_rooms)
    await rooms.open_room(consultation)
    guest = (await rooms.open_room(consultation, ["specialiste"]))["specialiste"]
    assert (await join(guest))["videoroom"] == "joined"
    await rooms.close_room(consultation, ["cabin", "doctor", "specialiste"])
    with pytest.raises(JanusError) as gone:
        await rooms.admit(consultation, "cabin")
    assert gone.value.code == NO_SUCH_ROOM


def test_without_janus_the_hub_says_why_there_is_no_multi_party_consultation() -> None:
    with pytest.raises(SfuUnavailable) as unavailable:
        SfuRooms(Settings(environment=Environment.TEST, secret_key=TEST_SECRET))
    assert unavailable.value.message == NOT_CONFIGURED
    assert "Janus" in NOT_CONFIGURED and "à deux fonctionnent" in NOT_CONFIGURED


async def test_a_janus_that_does_not_answer_is_said_unavailable() -> None:
    port = free_port()
    settings = Settings(
        environment=Environment.TEST,
        secret_key=TEST_SECRET,
        janus_url=f"http://127.0.0.1:{port}/janus",
        janus_admin_url=f"http://127.0.0.1:{port}/admin",
        janus_admin_secret="x",
    )
    rooms = SfuRooms(settings)
    with pytest.raises(SfuUnavailable) as unavailable:
        await rooms.open_room(next(_rooms))
    assert unavailable.value.message == UNREACHABLE
    await rooms.aclose()


def test_janus_without_its_admin_secret_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="HUB_JANUS_ADMIN_SECRET"):
        Settings(
            environment=Environment.TEST,
            secret_key=TEST_SECRET,
            janus_url="http://127.0.0.1:8088/janus",
        )
