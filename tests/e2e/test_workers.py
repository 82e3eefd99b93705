"""Two hub workers on PostgreSQL and Redis behind haproxy, with the real cabin agent.

The cabin's WebSocket is held by one worker; what people do through the other reaches it: the
nurse's "Mesurer", the doctor's WebRTC offer, and the consoles' live events. When the worker
holding the cabin is killed, the cabin shows offline, reconnects to the other worker through
the proxy, and its measurements are stored once each, none missing.

They need PostgreSQL (several workers refuse SQLite): they run in the PostgreSQL pass."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.records.observations import Observation
from tests.conftest import BACKEND, TEST_SECRET, csrf_from, login
from tests.support.factories import Cpts
from tests.support.haproxy import ThrowawayHaproxy
from tests.support.postgres import free_port
from tests.support.processes import Processes, process_env, wait_http
from tests.support.scenario import booking_now, in_consultation
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        BACKEND != "postgresql",
        reason="several hub workers need PostgreSQL: run in the PostgreSQL pass",
    ),
]
OFFLINE_AFTER_SECONDS = 1.5


@dataclass
class Cluster:
    workers: list[subprocess.Popen[str]]
    urls: list[str]  # each worker's own address
    proxy: ThrowawayHaproxy

    def pin_to(self, index: int) -> contextlib.AbstractContextManager[None]:
        """While inside, the proxy sends new connections to worker ``index`` only."""
        return _only_server(self.proxy, index)


@contextlib.contextmanager
def _only_server(proxy: ThrowawayHaproxy, index: int) -> Iterator[None]:
    others = [i for i in range(len(proxy.backends)) if i != index]
    for i in others:
        proxy.admin(f"disable server workers/worker{i + 1}")
    try:
        yield
    finally:
        for i in others:
            proxy.admin(f"enable server workers/worker{i + 1}")


@pytest.fixture
def cluster(settings: Settings, redis_url: str, processes: Processes) -> Iterator[Cluster]:
    ports = [free_port(), free_port()]
    workers = [
        processes.start(
            "-m",
            "hub",
            "serve",
            env=process_env(
                HUB_DATABASE_URL=settings.database_url,
                HUB_REDIS_URL=redis_url,
                HUB_ENVIRONMENT="test",
                HUB_SECRET_KEY=TEST_SECRET,
                HUB_PORT=str(port),
                HUB_JOBS_ENABLED="false",
                HUB_AGENT_HEARTBEAT_SECONDS="0.3",
                HUB_AGENT_OFFLINE_AFTER_SECONDS=str(OFFLINE_AFTER_SECONDS),
            ),
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    for url in urls:
        wait_http(url + "/healthz", timeout=60)
    proxy = ThrowawayHaproxy([("127.0.0.1", port) for port in ports])
    proxy.start()
    try:
        yield Cluster(workers, urls, proxy)
    finally:
        proxy.stop()


def _start_agent(
    processes: Processes, cluster: Cluster, cpts: Cpts, tmp_path: Path, reading_seconds: int = 6
) -> subprocess.Popen[str]:
    """The real agent with a simulated oximeter, connected through the proxy."""
    config = tmp_path / "cabin.toml"
    config.write_text(
        f'[hub]\nurl = "{cluster.proxy.url}"\ncabin_id = {cpts.cabin_id}\n'
        f'token = "{cpts.cabin_token}"\n'
        "[agent]\nheartbeat_seconds = 0.3\nbackoff_initial_seconds = 0.1\n"
        f'backoff_max_seconds = 0.5\ndata_dir = "{tmp_path / "agent"}"\n'
        f"simulated_reading_seconds = {reading_seconds}\n"
        '[[devices]]\nname = "Oxymètre"\nkind = "pulse_oximeter"\nmodel = "contec_cms50d_plus"\n'
        'transport = "serial"\n'
    )
    return processes.start(
        "-m", "cabin_agent", "run", "--config", str(config), "--simulate", env=process_env()
    )


@contextlib.asynccontextmanager
async def _signed_in(url: str, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        answer = await login(client, username)
        assert answer.status_code == 303, answer.text
        yield client


async def _cabin(client: httpx.AsyncClient, cabin_id: int) -> dict[str, object]:
    cabins = (await client.get("/api/v1/cabines")).json()
    [cabin] = [c for c in cabins if c["id"] == cabin_id]
    return dict(cabin)


async def _oximeter_ready(client: httpx.AsyncClient, cabin_id: int) -> bool:
    cabin = await _cabin(client, cabin_id)
    devices = cabin["devices"]
    assert isinstance(devices, list)
    return bool(cabin["online"]) and any(d["state"] == "ready" for d in devices)


async def _measure(client: httpx.AsyncClient, cabin_id: int) -> httpx.Response:
    page = await client.get("/infirmier")
    return await client.post(
        f"/api/v1/cabines/{cabin_id}/commandes",
        json={"device": "Oxymètre", "action": "measure"},
        headers={"X-CSRF-Token": csrf_from(page.text)},
    )


async def test_the_nurses_measure_through_one_worker_reaches_the_cabin_on_the_other(
    cluster: Cluster, cpts: Cpts, processes: Processes, tmp_path: Path
) -> None:
    with cluster.pin_to(0):
        agent = _start_agent(processes, cluster, cpts, tmp_path)
        async with _signed_in(cluster.urls[0], "infirmiere") as on_a:
            await eventually(lambda: _oximeter_ready(on_a, cpts.cabin_id), "the cabin on A")
    async with _signed_in(cluster.urls[1], "infirmiere") as on_b:
        assert (await _cabin(on_b, cpts.cabin_id))["online"] is True  # B sees it online too
        answer = await _measure(on_b, cpts.cabin_id)
        assert answer.status_code == 200, answer.text
        assert answer.json()["ok"] is True
        # The agent stops: B says so in words the nurse understands.
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=15)
        await eventually(lambda: _offline(on_b, cpts.cabin_id), "the cabin offline on B")
        refused = await _measure(on_b, cpts.cabin_id)
    assert refused.status_code == 409
    assert "n'est pas connectée" in refused.json()["detail"]


async def _offline(client: httpx.AsyncClient, cabin_id: int) -> bool:
    return (await _cabin(client, cabin_id))["online"] is False


async def _post_form(
    client: httpx.AsyncClient, url: str, page: httpx.Response, **data: str
) -> httpx.Response:
    return await client.post(url, data={"csrf_token": csrf_from(page.text), **data})


async def test_a_console_on_one_worker_sees_the_emergency_raised_on_the_other(
    cluster: Cluster, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)
    async with (
        _signed_in(cluster.urls[1], "medecin") as doctor_on_b,
        _signed_in(cluster.urls[0], "infirmiere") as nurse_on_a,
    ):
        received: list[dict[str, object]] = []
        subscribed = asyncio.Event()

        async def listen() -> None:
            async with doctor_on_b.stream("GET", "/api/v1/evenements") as stream:
                kind = ""
                async for line in stream.aiter_lines():
                    if line == ": connecté":
                        subscribed.set()
                    elif line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: ") and kind == "consultation.emergency":
                        received.append(json.loads(line.removeprefix("data: ")))
                        return

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(subscribed.wait(), 30)
        agenda = await nurse_on_a.get("/infirmier")
        arrived = await _post_form(nurse_on_a, f"/salle/rdv/{booking_id}/accueil", agenda)
        room_url = arrived.headers["location"]
        cid = int(room_url.rsplit("/", 1)[1])
        room = await nurse_on_a.get(room_url)
        alarm = await _post_form(
            nurse_on_a, f"/salle/consultations/{cid}/urgence", room, note="Malaise"
        )
        assert alarm.status_code == 303
        await asyncio.wait_for(listener, 30)
    [event] = received
    assert event["consultation_id"] == cid
    assert event["phone"] == "03 25 00 00 01"  # the site's emergency contact, for the doctor


async def test_the_doctors_offer_through_one_worker_is_answered_by_the_cabin_on_the_other(
    cluster: Cluster, cpts: Cpts, settings: Settings, processes: Processes, tmp_path: Path
) -> None:
    cid = await in_consultation(settings, await booking_now(settings), "medecin")
    with cluster.pin_to(0):
        _start_agent(processes, cluster, cpts, tmp_path)
        async with _signed_in(cluster.urls[0], "infirmiere") as on_a:
            await eventually(lambda: _oximeter_ready(on_a, cpts.cabin_id), "the cabin on A")
    async with _signed_in(cluster.urls[1], "medecin") as doctor:
        cookie = f"cpts_session={doctor.cookies['cpts_session']}"
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        for kind in ("video", "video", "audio"):
            pc.addTransceiver(kind, direction="recvonly")
        pc.createDataChannel("vitals")
        await pc.setLocalDescription(await pc.createOffer())
        url = cluster.urls[1].replace("http://", "ws://") + f"/ws/consultations/{cid}/media"
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as signalling:
            first = json.loads(await signalling.recv())
            assert first["type"] == "ice_servers"
            await signalling.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
            answer = json.loads(await asyncio.wait_for(signalling.recv(), 60))
            assert answer["type"] == "answer", answer
            # The cabin's answer fits the offer: the doctor's side accepts it.
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
            assert pc.signalingState == "stable"
            assert answer["sdp"].count("m=video") == 2
            await signalling.send(json.dumps({"type": "hangup"}))
    finally:
        await pc.close()


async def _stored_seqs(settings: Settings, cabin_id: int) -> list[int]:
    """The sequence numbers of the cabin's stored measurements, duplicates included."""
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            seqs = await session.scalars(
                select(Observation.seq)
                .where(Observation.cabin_id == cabin_id)
                .order_by(Observation.seq)
            )
            return [int(s) for s in seqs]
    finally:
        await engine.dispose()


def _outbox_waiting(data_dir: Path, cabin_id: int) -> int:
    """Measurements the agent still holds for the hub."""
    with sqlite3.connect(data_dir / f"outbox-cabin-{cabin_id}.sqlite3") as conn:
        row = conn.execute(
            "SELECT count(*) FROM measurements WHERE rejected_reason IS NULL"
        ).fetchone()
    return int(row[0])


async def test_a_worker_killed_while_the_cabin_streams_loses_and_doubles_nothing(
    cluster: Cluster, cpts: Cpts, settings: Settings, processes: Processes, tmp_path: Path
) -> None:
    cabin_id = cpts.cabin_id
    with cluster.pin_to(0):
        agent = _start_agent(processes, cluster, cpts, tmp_path, reading_seconds=12)
        async with _signed_in(cluster.urls[0], "infirmiere") as on_a:
            await eventually(lambda: _oximeter_ready(on_a, cabin_id), "the cabin on A")
    async with _signed_in(cluster.urls[1], "infirmiere") as on_b:
        statuses: list[bool] = []  # the cabin's status as the nurse's page on B hears it
        listener = asyncio.create_task(_follow_status(on_b, cabin_id, statuses))
        answer = await _measure(on_b, cabin_id)
        assert answer.json()["ok"] is True, answer.text

        async def some_stored() -> bool:
            return len(await _stored_seqs(settings, cabin_id)) >= 4

        await eventually(some_stored, "four values stored")
        with cluster.pin_to(0):  # while A is dead, the cabin cannot reach B either
            cluster.workers[0].send_signal(signal.SIGKILL)
            cluster.workers[0].wait(10)
            before = len(await _stored_seqs(settings, cabin_id))
            await eventually(lambda: _offline(on_b, cabin_id), "the cabin offline on B")
            await eventually(lambda: False in statuses, "the console told it is offline")
        # The proxy lets it reach B again: it reconnects there and delivers its outbox.
        await eventually(
            lambda: _oximeter_ready(on_b, cabin_id), "the cabin back online", timeout=30
        )
        await eventually(
            lambda: _outbox_waiting(tmp_path / "agent", cabin_id) == 0, "the outbox emptied"
        )
        seqs = await _stored_seqs(settings, cabin_id)
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    agent.send_signal(signal.SIGTERM)
    agent.communicate(timeout=15)
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing twice
    assert len(seqs) > before  # what was measured while no worker held it arrived
    assert statuses[statuses.index(False) :].count(True) > 0  # offline, then online again


async def _follow_status(client: httpx.AsyncClient, cabin_id: int, into: list[bool]) -> None:
    async with client.stream("GET", "/api/v1/evenements") as stream:
        kind = ""
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "cabin.status":
                data = json.loads(line.removeprefix("data: "))
                if data["cabin_id"] == cabin_id:
                    into.append(bool(data["online"]))


async def test_serve_with_two_workers_shares_one_port_and_stops_cleanly(
    settings: Settings, cpts: Cpts, redis_url: str, processes: Processes
) -> None:
    port = free_port()
    hub = processes.start(
        "-m",
        "hub",
        "serve",
        "--workers",
        "2",
        env=process_env(
            HUB_DATABASE_URL=settings.database_url,
            HUB_REDIS_URL=redis_url,
            HUB_ENVIRONMENT="test",
            HUB_SECRET_KEY=TEST_SECRET,
            HUB_PORT=str(port),
            HUB_JOBS_ENABLED="false",
        ),
    )
    wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
    async with _signed_in(f"http://127.0.0.1:{port}", "infirmiere") as nurse:
        cabin = await _cabin(nurse, cpts.cabin_id)
    assert cabin["online"] is False
    hub.send_signal(signal.SIGINT)
    output, _ = hub.communicate(timeout=30)
    assert hub.returncode == 0, output
    assert output.count("shares its events and cabins through Redis") == 2  # one per worker
