"""The cabins of ``bench/hub_capacity.py``: light asyncio WebSocket clients speaking the real
wire protocol, and the bare echo server that serves as the baseline.

Each simulated cabin connects with its token, says hello (one device), sends a heartbeat every
``heartbeat_seconds`` (10 s, the agent's default) and a measurement batch every
``batch_seconds`` (60 s), each at its own random phase, answers commands at once, and after a
lost link reconnects with the agent's own backoff (``cabin_agent.connection.Backoff``).

``python bench/capacity_fleet.py share WS_URL CABINS_FILE RATE SEQ_BASE`` plays a share of the
fleet in its own process, reporting on stdout (`run_share`): the bench splits a large fleet
over several processes so that the cabins' own event loop is not what limits the round trips.

``python bench/capacity_fleet.py echo PORT`` runs the echo server: it accepts any token and
answers hello, heartbeats and batches with a minimal acknowledgement of the same type the hub
sends, doing nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import json
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cabin_agent.connection import RESTART_CLOSE_CODES, Backoff
from devices.measurements import DeviceIdentity, Measurement, MeasurementKind, Unit
from hub.wire import (
    AGENT_WS_PATH,
    CommandResult,
    DeviceDescription,
    Heartbeat,
    Hello,
    MeasurementBatch,
    MeasurementItem,
    WireMeasurement,
    encode,
)

FLEET_SCRIPT = str(Path(__file__).resolve())
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a child gets when the thread that started it ends


def die_with_parent() -> None:
    """In a child process (``preexec_fn``): be killed when the bench goes, even by SIGKILL, so
    that no hub worker, cabin or echo server outlives it. Start such a child from the bench's
    main thread: the kernel watches the thread that forked, not the process."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


DEVICE = DeviceDescription(name="Oxymètre", kind="pulse_oximeter", model="contec_cms50d_plus")


@dataclass
class FleetStats:
    """What the cabins saw; ``heartbeat_rtts`` and ``failures`` are reset per measuring window."""

    connected: set[int] = field(default_factory=set)
    heartbeat_rtts: list[float] = field(default_factory=list)
    commands_answered: int = 0
    failures: int = 0


def _batch(seq: int) -> str:
    reading = Measurement(
        kind=MeasurementKind.SPO2,
        value=97.0,
        unit=Unit.PERCENT,
        received_at=dt.datetime.now(dt.UTC),
        device=DeviceIdentity(model="contec_cms50d_plus", serial="bench"),
        loinc="59408-5",
    )
    item = MeasurementItem(
        seq=seq, device=DEVICE.name, measurement=WireMeasurement.from_measurement(reading)
    )
    return encode(MeasurementBatch(items=(item,)))


class Fleet:
    """N simulated cabins against one address (a hub, the proxy, or the echo server)."""

    def __init__(
        self,
        base_ws: str,
        cabins: list[tuple[int, str]],
        *,
        heartbeat_seconds: float = 10.0,
        batch_seconds: float = 60.0,
        seq_base: int = 0,
    ) -> None:
        self.url = base_ws + AGENT_WS_PATH
        self.cabins = cabins
        self.heartbeat_seconds = heartbeat_seconds
        self.batch_seconds = batch_seconds
        self.stats = FleetStats()
        self._seq = seq_base
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, per_second: float = 400.0) -> None:
        """Start every cabin, at most ``per_second`` new connections a second (a ramp)."""
        for i, (cabin_id, token) in enumerate(self.cabins):
            self._tasks.append(asyncio.create_task(self._cabin(cabin_id, token)))
            if i % 50 == 49:
                await asyncio.sleep(50 / per_second)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _cabin(self, cabin_id: int, token: str) -> None:
        backoff = Backoff()
        while True:
            try:
                async with websockets.connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {token}"},
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=20,
                    max_queue=16,
                ) as ws:
                    await self._session(ws, cabin_id, backoff)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code in RESTART_CLOSE_CODES:
                    backoff.hub_restarting()
            except (OSError, TimeoutError, InvalidHandshake):
                pass
            self.stats.connected.discard(cabin_id)
            self.stats.failures += 1
            await asyncio.sleep(backoff.next_delay())

    async def _session(self, ws: ClientConnection, cabin_id: int, backoff: Backoff) -> None:
        hello = Hello(cabin_id=cabin_id, agent_version="bench-1", devices=(DEVICE,))
        await ws.send(encode(hello))
        first = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if first.get("type") != "hello_ack":
            raise ConnectionClosed(None, None)
        backoff.reset()
        self.stats.connected.add(cabin_id)
        sent: dict[int, float] = {}
        beats = asyncio.create_task(self._beats(ws, sent))
        try:
            async for frame in ws:
                message = json.loads(frame)
                kind = message.get("type")
                if kind == "heartbeat_ack":
                    started = sent.pop(int(message["seq"]), None)
                    if started is not None:
                        self.stats.heartbeat_rtts.append(time.perf_counter() - started)
                elif kind == "command":
                    result = CommandResult(command_id=message["command_id"], ok=True, message="")
                    await ws.send(encode(result))
                    self.stats.commands_answered += 1
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats

    async def _beats(self, ws: ClientConnection, sent: dict[int, float]) -> None:
        seq, next_batch = 0, random.uniform(0, self.batch_seconds)
        await asyncio.sleep(random.uniform(0, self.heartbeat_seconds))
        started = time.monotonic()
        while True:
            seq += 1
            sent[seq] = time.perf_counter()
            await ws.send(encode(Heartbeat(seq=seq, sent_at=dt.datetime.now(dt.UTC))))
            if time.monotonic() - started >= next_batch:
                self._seq += 1
                await ws.send(_batch(self._seq))
                next_batch += self.batch_seconds
            await asyncio.sleep(self.heartbeat_seconds)


class ProcessFleet:
    """N simulated cabins split over ``processes`` child processes (`run_share`), as the bench
    sees them: how many are connected, their heartbeat round trips, the processes' ids."""

    def __init__(
        self, base_ws: str, cabins: list[tuple[int, str]], processes: int, work: Path
    ) -> None:
        self.base_ws = base_ws
        self.cabins = cabins
        self.processes = max(1, min(processes, len(cabins)))
        self.work = work
        self.rtts: list[float] = []
        self._connected = [0] * self.processes
        self._procs: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []

    @property
    def connected(self) -> int:
        return sum(self._connected)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    async def start(self, per_second: float = 400.0) -> None:
        """Start the processes, each with its share of the cabins and of the ramp."""
        for i in range(self.processes):
            path = self.work / f"fleet-{i}.txt"
            share = self.cabins[i :: self.processes]
            path.write_text("".join(f"{cid} {token}\n" for cid, token in share))
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                FLEET_SCRIPT,
                "share",
                self.base_ws,
                str(path),
                str(per_second / self.processes),
                "0",
                stdout=asyncio.subprocess.PIPE,
                limit=2**24,
                preexec_fn=die_with_parent,
            )
            self._procs.append(proc)
            self._readers.append(asyncio.create_task(self._read(i, proc)))

    async def _read(self, index: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            report = json.loads(line)
            self._connected[index] = int(report["connected"])
            self.rtts.extend(report["rtts"])

    async def stop(self) -> None:
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        for proc in self._procs:
            await proc.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._procs.clear()
        self._readers.clear()
        self._connected = [0] * self.processes


# --- the baseline: a bare echo server -----------------------------------------------------


async def _echo(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for frame in ws:
            message = json.loads(frame)
            kind = message.get("type")
            if kind == "hello":
                await ws.send('{"v": 1, "type": "hello_ack"}')
            elif kind == "heartbeat":
                await ws.send(f'{{"v": 1, "type": "heartbeat_ack", "seq": {message["seq"]}}}')
            elif kind == "measurements":
                await ws.send('{"v": 1, "type": "measurements_ack"}')


async def serve_echo(port: int) -> None:
    # no per-message compression, as the hub serves them (``hub serve``)
    async with websockets.serve(_echo, "127.0.0.1", port, backlog=4096, compression=None):
        await asyncio.Future()


# --- one share of the fleet in its own process ----------------------------------------------


async def run_share(
    base_ws: str, cabins: list[tuple[int, str]], per_second: float, seq_base: int
) -> None:
    """Play these cabins; every 0.25 s print one JSON line: how many are connected, the
    heartbeat round trips since the last line."""
    fleet = Fleet(base_ws, cabins, seq_base=seq_base)
    starting = asyncio.create_task(fleet.start(per_second=per_second))
    try:
        while True:
            rtts = fleet.stats.heartbeat_rtts
            fleet.stats.heartbeat_rtts = []
            line = json.dumps({"connected": len(fleet.stats.connected), "rtts": rtts})
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            await asyncio.sleep(0.25)
    finally:
        starting.cancel()
        await fleet.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["echo"]:
        asyncio.run(serve_echo(int(sys.argv[2])))
    elif sys.argv[1:2] == ["share"]:
        base, path, rate, seq = sys.argv[2:6]
        lines = Path(path).read_text().splitlines()  # "id token" lines
        share = [(int(cid), token) for cid, token in (line.split() for line in lines)]
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_share(base, share, float(rate), int(seq)))
