"""The hub relays the doctor's media offer to the room's cabin and its answer back."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json

import httpx
import pytest
import websockets
from pydantic import SecretStr

from hub.config import Settings
from hub.consultation.media import ice_servers
from hub.wire import Hello, HelloAck, MediaAnswer, MediaClose, MediaOffer, parse_hub_message
from tests.conftest import login
from tests.support.factories import Cpts
from tests.support.live import LiveHub
from tests.support.scenario import booking_now, in_consultation


async def _fake_agent(
    hub: LiveHub,
    seed: Cpts,
    offers: list[MediaOffer],
    connected: asyncio.Event,
    closed: asyncio.Event,
) -> None:
    async with websockets.connect(
        hub.ws_url, additional_headers={"Authorization": f"Bearer {seed.cabin_token}"}
    ) as ws:
        await ws.send(Hello(cabin_id=seed.cabin_id, agent_version="1").model_dump_json())
        while True:
            message = parse_hub_message(await ws.recv())
            if isinstance(message, HelloAck):
                connected.set()
            elif isinstance(message, MediaOffer):
                offers.append(message)
                await ws.send(
                    MediaAnswer(session_id=message.session_id, sdp="v=0 answer").model_dump_json()
                )
            elif isinstance(message, MediaClose):
                closed.set()


async def test_offer_reaches_the_cabin_and_the_answer_comes_back(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    offers: list[MediaOffer] = []
    connected, closed = asyncio.Event(), asyncio.Event()
    agent = asyncio.create_task(_fake_agent(live_hub, cpts, offers, connected, closed))
    try:
        async with httpx.AsyncClient(base_url=live_hub.url) as client:
            await login(client, "medecin")
            cookie = f"cpts_session={client.cookies['cpts_session']}"
        await asyncio.wait_for(connected.wait(), 5)  # the hub knows the cabin's link
        url = live_hub.ws_url.replace("/agent/ws", f"/ws/consultations/{cid}/media")
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as doctor:
            first = json.loads(await doctor.recv())
            assert first == {"type": "ice_servers", "ice_servers": []}
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
