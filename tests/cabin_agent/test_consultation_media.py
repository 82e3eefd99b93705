"""The media path of a consultation, end to end but for the browser engine: a doctor's peer
(aiortc) offers through the hub, the real agent (simulated trolley) answers, media flows."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from cabin_agent.agent import CabinAgent
from hub.config import Settings
from hub.demo import DemoSeed
from tests.cabin_agent.test_agent import running
from tests.cabin_agent.test_media import Browser
from tests.conftest import login
from tests.support.live import LiveHub
from tests.support.scenario import agent_config as config
from tests.support.scenario import booking_now, in_consultation
from tests.support.waiting import eventually


@pytest.fixture
async def media_hub(settings: Settings) -> AsyncIterator[LiveHub]:
    """A hub as patient with heartbeats as production is: here one event loop runs the hub,
    the agent and the doctor's peer, and encoding video keeps it busy."""
    hub = LiveHub(
        settings.model_copy(
            update={"agent_heartbeat_seconds": 3.0, "agent_offline_after_seconds": 15.0}
        )
    )
    await hub.start()
    yield hub
    await hub.stop()


async def test_doctor_receives_room_otoscope_and_stethoscope_through_the_hub(
    media_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    live_hub = media_hub
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    agent = CabinAgent(config(live_hub, demo, tmp_path), simulate=True)
    browser = Browser()
    try:
        async with running(agent), httpx.AsyncClient(base_url=live_hub.url) as client:
            await asyncio.wait_for(agent.link.online.wait(), 10)
            await login(client, "medecin")
            cookie = f"cpts_session={client.cookies['cpts_session']}"
            url = live_hub.ws_url.replace("/agent/ws", f"/ws/consultations/{cid}/media")
            async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
                assert json.loads(await ws.recv())["type"] == "ice_servers"
                await ws.send(json.dumps({"type": "offer", "sdp": await browser.offer()}))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
                assert reply["type"] == "answer", reply
                await browser.accept(reply["sdp"])
                first = await asyncio.wait_for(browser.messages.get(), 10)
                labels = {label: mid for mid, label in first["mids"].items()}
                assert set(labels) == {"room", "otoscope", "stethoscope"}
                await eventually(
                    lambda: all(
                        browser.frames.get(labels[k], 0) >= 5
                        for k in ("room", "otoscope", "stethoscope")
                    )
                )
                [session] = agent.media.sessions.values()
                assert session.negotiated_codecs()[labels["stethoscope"]] == "audio/opus"
                await ws.send(json.dumps({"type": "hangup"}))
            await eventually(lambda: not agent.media.sessions)
    finally:
        with contextlib.suppress(Exception):
            await browser.close()
