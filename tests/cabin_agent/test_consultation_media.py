"""The media path of a consultation, end to end but for the browser engine: a doctor's peer
(aiortc) offers through the hub, the real agent (simulated trolley) answers, media flows; the
agent's measurements do not wait for its media, and its media is let go when the call ends."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import threading
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from cabin_agent.agent import CabinAgent
from cabin_agent.media import TrackLabel
from hub.config import Settings
from hub.demo import DemoSeed
from tests.cabin_agent.test_agent import observations, running
from tests.cabin_agent.test_media import Browser
from tests.conftest import csrf_from, login
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
                tracks = [session.sent_track(label) for label in TrackLabel]
                media_thread = agent.media.thread
                assert media_thread is not None and media_thread.alive
                gone = weakref.ref(session)
                del session
                await ws.send(json.dumps({"type": "hangup"}))
            # The consultation's media is let go: session, tracks, thread and loop.
            await eventually(lambda: not agent.media.sessions)
            await eventually(lambda: not media_thread.alive, "the media thread stopped")
            assert agent.media.thread is None and media_thread.loop.is_closed()
            assert [t.readyState for t in tracks] == ["ended"] * 3
            gc.collect()
            assert gone() is None, "nothing keeps the closed session"
    finally:
        with contextlib.suppress(Exception):
            await browser.close()


async def test_a_stuck_media_loop_does_not_hold_back_measurements(
    media_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    """Media (aiortc) runs on its own thread and loop: with that loop frozen in the middle of a
    consultation, a blood pressure asked from the hub is still measured and stored."""
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    agent = CabinAgent(config(media_hub, demo, tmp_path), simulate=True)
    browser = Browser()
    unfreeze = threading.Event()

    async def freeze() -> None:
        unfreeze.wait()  # blocks the media loop itself, as a starved encoder would

    try:
        async with running(agent), httpx.AsyncClient(base_url=media_hub.url) as client:
            await asyncio.wait_for(agent.link.online.wait(), 10)
            await login(client, "medecin")
            cookie = f"cpts_session={client.cookies['cpts_session']}"
            url = media_hub.ws_url.replace("/agent/ws", f"/ws/consultations/{cid}/media")
            async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
                assert json.loads(await ws.recv())["type"] == "ice_servers"
                await ws.send(json.dumps({"type": "offer", "sdp": await browser.offer()}))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
                await browser.accept(reply["sdp"])
                await eventually(lambda: sum(browser.frames.values()) >= 5, "media flowing")
                media_thread = agent.media.thread
                assert media_thread is not None
                media_thread.submit(freeze())
                response = await _nurse_measures(media_hub, demo.cabin_id, "Tensiomètre")
                assert response.json()["ok"] is True

                async def pressure_stored() -> bool:
                    kinds = {o.kind for o in await observations(settings)}
                    return "blood_pressure_systolic" in kinds

                await eventually(pressure_stored, "the pressure stored, media frozen")
                unfreeze.set()
    finally:
        unfreeze.set()
        with contextlib.suppress(Exception):
            await browser.close()


async def _nurse_measures(hub: LiveHub, cabin_id: int, device: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url) as nurse:
        await login(nurse, "infirmiere")
        page = await nurse.get("/infirmier")
        return await nurse.post(
            f"/api/v1/cabines/{cabin_id}/commandes",
            json={"device": device, "action": "measure"},
            headers={"X-CSRF-Token": csrf_from(page.text)},
            timeout=30,
        )
