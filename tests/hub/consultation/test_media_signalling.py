"""The hub relays the doctor's media offer to the room's cabin and its answer back."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from pydantic import SecretStr

from hub.config import Settings
from hub.consultation.media import ice_servers
from hub.wire import (
    Heartbeat,
    Hello,
    HelloAck,
    MediaAnswer,
    MediaClose,
    MediaOffer,
    encode,
    parse_hub_message,
)
from tests.conftest import login
from tests.support.factories import Cpts
from tests.support.live import LiveHub
from tests.support.scenario import CabinSeed, booking_now, in_consultation
from tests.support.waiting import eventually


async def fake_agent(
    hub: LiveHub,
    seed: CabinSeed,
    offers: list[MediaOffer],
    connected: asyncio.Event,
    closed: asyncio.Event,
) -> None:
    async with websockets.connect(
        hub.ws_url, additional_headers={"Authorization": f"Bearer {seed.cabin_token}"}
    ) as ws:
        await ws.send(Hello(cabin_id=seed.cabin_id, agent_version="1").model_dump_json())

        async def beat() -> None:
            # A live agent's heartbeats: the test hub's offline delay is 1 s, which a busy
            # machine's logins and page loads can exceed between two of the test's steps.
            with contextlib.suppress(websockets.ConnectionClosed):
                for seq in range(1, 100_000):
                    now = dt.datetime.now(dt.UTC)
                    await ws.send(Heartbeat(seq=seq, sent_at=now).model_dump_json())
                    await asyncio.sleep(0.2)

        beating = asyncio.create_task(beat())
        try:
            while True:
                message = parse_hub_message(await ws.recv())
                if isinstance(message, HelloAck):
                    connected.set()
                elif isinstance(message, MediaOffer):
                    offers.append(message)
                    answer = MediaAnswer(session_id=message.session_id, sdp="v=0 answer")
                    await ws.send(answer.model_dump_json())
                elif isinstance(message, MediaClose):
                    closed.set()
        finally:
            beating.cancel()


async def test_offer_reaches_the_cabin_and_the_answer_comes_back(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    offers: list[MediaOffer] = []
    connected, closed = asyncio.Event(), asyncio.Event()
    agent = asyncio.create_task(fake_agent(live_hub, cpts, offers, connected, closed))
    try:
        async with httpx.AsyncClient(base_url=live_hub.url) as client:
            await login(client, "medecin")
            cookie = f"cpts_session={client.cookies['cpts_session']}"
        await asyncio.wait_for(connected.wait(), 5)  # the hub knows the cabin's link
        url = live_hub.ws_url.replace("/agent/ws", f"/ws/consultations/{cid}/media")
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as doctor:
            first = json.loads(await doctor.recv())
            assert first == {
                "type": "ice_servers",
                "ice_servers": [],
                "ice_transport_policy": "all",
            }
            await doctor.send(json.dumps({"type": "offer", "sdp": "v=0 offer"}))
            answer = json.loads(await asyncio.wait_for(doctor.recv(), 5))
            assert answer == {"type": "answer", "sdp": "v=0 answer"}
            await doctor.send(json.dumps({"type": "hangup"}))
        await asyncio.wait_for(closed.wait(), 5)
    finally:
        agent.cancel()
        with pytest.raises(asyncio.CancelledError):
            await agent
    assert [o.sdp for o in offers] == ["v=0 offer"]


@pytest.fixture
async def quiet_hub(settings: Settings) -> AsyncIterator[LiveHub]:
    """A hub that waits a minute for heartbeats (the fake agents here send none)."""
    hub = LiveHub(
        settings.model_copy(
            update={"agent_heartbeat_seconds": 30.0, "agent_offline_after_seconds": 60.0}
        )
    )
    await hub.start()
    yield hub
    await hub.stop()


async def test_after_a_cut_the_offer_reaches_the_cabins_new_link(
    quiet_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    """The cabin's link drops while the doctor's page stays: its offers are refused at once
    as "cabin_offline" (the page retries), then reach the cabin's new link once it is back."""
    live_hub = quiet_hub
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    offers: list[MediaOffer] = []
    connected, closed = asyncio.Event(), asyncio.Event()
    agent = asyncio.create_task(fake_agent(live_hub, cpts, offers, connected, closed))
    async with httpx.AsyncClient(base_url=live_hub.url) as client:
        await login(client, "medecin")
        cookie = f"cpts_session={client.cookies['cpts_session']}"
    await asyncio.wait_for(connected.wait(), 5)
    url = live_hub.ws_url.replace("/agent/ws", f"/ws/consultations/{cid}/media")
    async with websockets.connect(url, additional_headers={"Cookie": cookie}) as doctor:
        await doctor.recv()  # the ICE servers
        agent.cancel()  # the line is cut
        with pytest.raises(asyncio.CancelledError):
            await agent
        await eventually(lambda: not live_hub.cabin_connected(cpts.cabin_id), "the cabin gone")
        await doctor.send(json.dumps({"type": "offer", "sdp": "v=0 restart"}))
        refused = json.loads(await asyncio.wait_for(doctor.recv(), 5))
        assert refused["code"] == "cabin_offline", refused

        connected.clear()
        agent = asyncio.create_task(fake_agent(live_hub, cpts, offers, connected, closed))
        try:
            await asyncio.wait_for(connected.wait(), 5)  # the line is back
            await doctor.send(json.dumps({"type": "offer", "sdp": "v=0 restart"}))
            answer = json.loads(await asyncio.wait_for(doctor.recv(), 5))
            assert answer == {"type": "answer", "sdp": "v=0 answer"}
        finally:
            agent.cancel()
            with pytest.raises(asyncio.CancelledError):
                await agent
    assert [o.sdp for o in offers] == ["v=0 restart"]


async def test_relay_only_reaches_the_browser_and_the_cabin(
    quiet_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    """HUB_ICE_TRANSPORT_POLICY=relay: both ends are told to use TURN relays only."""
    await quiet_hub.stop()
    quiet_hub.settings = quiet_hub.settings.model_copy(update={"ice_transport_policy": "relay"})
    await quiet_hub.start()
    live_hub = quiet_hub
    cid = await in_consultation(settings, await booking_now(settings), "medecin")
    offers: list[MediaOffer] = []
    connected, closed = asyncio.Event(), asyncio.Event()
    agent = asyncio.create_task(fake_agent(live_hub, cpts, offers, connected, closed))
    try:
        async with httpx.AsyncClient(base_url=live_hub.url) as client:
            await login(client, "medecin")
            cookie = f"cpts_session={client.cookies['cpts_session']}"
        await asyncio.wait_for(connected.wait(), 5)
        url = live_hub.ws_url.replace("/agent/ws", f"/ws/consultations/{cid}/media")
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as doctor:
            assert json.loads(await doctor.recv())["ice_transport_policy"] == "relay"
            await doctor.send(json.dumps({"type": "offer", "sdp": "v=0 offer"}))
            await asyncio.wait_for(doctor.recv(), 5)
    finally:
        agent.cancel()
        with pytest.raises(asyncio.CancelledError):
            await agent
    assert [o.ice_transport_policy for o in offers] == ["relay"]


async def test_only_the_consultations_doctor_gets_media(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    async with httpx.AsyncClient(base_url=live_hub.url) as client:
        await login(client, "infirmiere")
        cookie = f"cpts_session={client.cookies['cpts_session']}"
    url = live_hub.ws_url.replace("/agent/ws", f"/ws/consultations/{cid}/media")
    async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
        refused = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    assert refused == {"type": "error", "message": "réservé au médecin de la consultation"}


def test_the_relay_policy_travels_only_when_set() -> None:
    """Agents from before the setting refuse unknown fields: "all" is left out of the frame."""
    default = json.loads(encode(MediaOffer(session_id="s", sdp="v=0")))
    relay = json.loads(encode(MediaOffer(session_id="s", sdp="v=0", ice_transport_policy="relay")))
    assert "ice_transport_policy" not in default
    assert relay["ice_transport_policy"] == "relay"
    assert parse_hub_message(json.dumps(default)) == MediaOffer(session_id="s", sdp="v=0")


def test_turn_credentials_follow_the_coturn_rest_scheme() -> None:
    settings = Settings(
        turn_urls="turn:turn.example.org:3478",
        stun_urls="stun:stun.example.org",
        turn_secret=SecretStr("s3cret"),
        turn_ttl_seconds=600,
    )
    now = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
    stun, turn = ice_servers(settings, user_id=7, now=now)
    assert stun.urls == ("stun:stun.example.org",) and stun.username == ""
    assert turn.username == f"{int(now.timestamp()) + 600}:doctor-7"
    expected = base64.b64encode(hmac.new(b"s3cret", turn.username.encode(), hashlib.sha1).digest())
    assert turn.credential == expected.decode()
