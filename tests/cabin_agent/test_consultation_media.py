"""The media path of a consultation, end to end but for the browser engine: a doctor's peer
(aiortc) offers through the hub, the real agent (simulated trolley) answers, media flows; the
agent's measurements do not wait for its media (a separate process) nor fail with it, and its
media is let go when the call ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import websockets

from cabin_agent.agent import CabinAgent
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
            async with _media_socket(live_hub, client, cid) as ws:
                await _connect(ws, browser)
                # The first offer starts the media process (Python importing aiortc): slow if busy.
                first = await asyncio.wait_for(browser.messages.get(), 60)
                labels = {label: mid for mid, label in first["mids"].items()}
                assert set(labels) == {"room", "otoscope", "stethoscope"}
                await eventually(
                    lambda: all(
                        browser.frames.get(labels[k], 0) >= 5
                        for k in ("room", "otoscope", "stethoscope")
                    )
                )
                [session] = (await agent.media.describe()).values()
                assert session.codecs[labels["stethoscope"]] == "audio/opus"
                process = agent.media.process
                assert process is not None and process.proc.returncode is None
                await ws.send(json.dumps({"type": "hangup"}))
            # The consultation's media is let go: its process exits, its memory with it.
            await eventually(lambda: not agent.media.sessions)
            await eventually(lambda: process.proc.returncode is not None, "the media process ended")
            assert process.proc.returncode == 0 and agent.media.process is None
    finally:
        with contextlib.suppress(Exception):
            await browser.close()


async def test_a_stopped_media_process_does_not_hold_back_measurements(
    media_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    """Media (aiortc) runs in its own process: with it frozen in the middle of a consultation,
    a blood pressure asked from the hub is still measured and stored."""
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    agent = CabinAgent(config(media_hub, demo, tmp_path), simulate=True)
    browser = Browser()
    process = None
    try:
        async with running(agent), httpx.AsyncClient(base_url=media_hub.url) as client:
            await asyncio.wait_for(agent.link.online.wait(), 10)
            await login(client, "medecin")
            async with _media_socket(media_hub, client, cid) as ws:
                await _connect(ws, browser)
                await eventually(lambda: sum(browser.frames.values()) >= 5, "media flowing")
                process = agent.media.process
                assert process is not None
                os.kill(process.pid, signal.SIGSTOP)  # as a starved encoder would hold it
                response = await _nurse_measures(media_hub, demo.cabin_id, "Tensiomètre")
                assert response.json()["ok"] is True
                await eventually(_stored(settings, "blood_pressure_systolic"), "pressure stored")
                os.kill(process.pid, signal.SIGCONT)
    finally:
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)
        with contextlib.suppress(Exception):
            await browser.close()


async def test_a_crashed_media_process_spares_measurements_and_the_next_offer_works(
    media_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    """The media process killed in the middle of a consultation, an offer waiting on it: the
    doctor's page is told in French instead of waiting, the measurements go on being stored,
    and the doctor's next offer is answered by a fresh media process."""
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    agent = CabinAgent(config(media_hub, demo, tmp_path), simulate=True)
    first, second = Browser(), Browser()
    try:
        async with running(agent), httpx.AsyncClient(base_url=media_hub.url) as client:
            await asyncio.wait_for(agent.link.online.wait(), 10)
            await login(client, "medecin")
            async with _media_socket(media_hub, client, cid) as ws:
                await _connect(ws, first)
                await eventually(lambda: sum(first.frames.values()) >= 5, "media flowing")
                crashed = agent.media.process
                assert crashed is not None
                os.kill(crashed.pid, signal.SIGSTOP)  # the offer below waits on it...
                await ws.send(json.dumps({"type": "offer", "sdp": await first.offer()}))
                await eventually(lambda: crashed.waiting, "the offer in the media process")
                os.kill(crashed.pid, signal.SIGKILL)  # ...until it dies
                reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
                assert reply["type"] == "error", reply
                assert "La vidéo de la cabine s'est interrompue" in reply["message"]

                response = await _nurse_measures(media_hub, demo.cabin_id, "Tensiomètre")
                assert response.json()["ok"] is True
                await eventually(_stored(settings, "blood_pressure_systolic"), "pressure stored")

                await _connect(ws, second)
                await eventually(lambda: sum(second.frames.values()) >= 5, "media again")
                fresh = agent.media.process
                assert fresh is not None and fresh.pid != crashed.pid
                assert agent.media.processes_started == 2
    finally:
        for browser in (first, second):
            with contextlib.suppress(Exception):
                await browser.close()


@contextlib.asynccontextmanager
async def _media_socket(
    hub: LiveHub, client: httpx.AsyncClient, cid: int
) -> AsyncIterator[websockets.ClientConnection]:
    """The doctor's media WebSocket for consultation `cid`, its ICE servers read."""
    cookie = f"cpts_session={client.cookies['cpts_session']}"
    url = hub.ws_url.replace("/agent/ws", f"/ws/consultations/{cid}/media")
    async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
        assert json.loads(await ws.recv())["type"] == "ice_servers"
        yield ws


async def _connect(ws: websockets.ClientConnection, browser: Browser) -> None:
    await ws.send(json.dumps({"type": "offer", "sdp": await browser.offer()}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert reply["type"] == "answer", reply
    await browser.accept(reply["sdp"])


def _stored(settings: Settings, kind: str) -> Callable[[], Awaitable[bool]]:
    async def stored() -> bool:
        return kind in {o.kind for o in await observations(settings)}

    return stored


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
