"""Hub capacity benchmark: how many cabins one hub worker (or two behind haproxy) carries.

Simulates N cabins as light asyncio WebSocket clients speaking the real wire protocol (hello,
a heartbeat every 10 s, a measurement batch a minute; ``bench/capacity_fleet.py``) against
``python -m hub serve``: one worker on SQLite, or two workers on one PostgreSQL behind haproxy
(``--workers 2``; sharing their cabins and events through a throw-away Redis, HUB_REDIS_URL).
For each N it prints:

- the hub's CPU (% of one core) per worker over the measuring window, and its RSS;
- the heartbeat round trip p50 and p95, as the cabins measure it;
- a command's round trip p95 (a nurse's HTTP request → the cabin's answer → the HTTP reply);
- the time for all N cabins to be back after the hub restarts (SIGTERM, start again), counted
  from the restart and from the moment the new hub listens, and the hub's CPU meanwhile;
- the baseline of the same run: a bare WebSocket echo server doing the same heartbeats, its CPU
  and heartbeat round trips, and the ratio hub CPU (all its workers together) / echo CPU.

Cabins are created in the bench's database directly (one bulk insert through the hub's models).
The cabins are played by several processes (``--fleet-procs``, by default one per 1,250
cabins), whose CPU together is printed too: on a small machine they compete with the hub.
N is limited by ``ulimit -n`` (each cabin holds a descriptor in the bench and in the hub, two in
haproxy). Stopped (Ctrl-C, SIGTERM, SIGHUP), the bench stops everything it started; killed
(SIGKILL), its hub workers, cabins and echo server die with it (``die_with_parent``), while
PostgreSQL, Redis and haproxy of a two-worker run are left in their temporary directories.

    .venv/bin/python bench/hub_capacity.py --quick            # N = 1000, one worker
    .venv/bin/python bench/hub_capacity.py [--cabins 1000,2000,5000,10000] [--workers 1,2]
    .venv/bin/python bench/hub_capacity.py --cabins 2000 --workers 1 --profile /tmp/prof
    .venv/bin/python -m pstats /tmp/prof/hub-PORT-1.prof   # then: sort tottime, stats 30

``--profile DIR`` runs each hub worker under cProfile and writes one file per start of a worker
(``-1``: the first connections and the measuring window; ``-2``: the reconnections after the
restart); the CPU figures printed then include the profiler's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from capacity_fleet import ProcessFleet, die_with_parent  # noqa: E402

from hub import db, migrate  # noqa: E402
from hub.demo import seed_demo  # noqa: E402
from hub.identity import security  # noqa: E402
from hub.identity.models import Cabin  # noqa: E402
from tests.support.haproxy import ThrowawayHaproxy  # noqa: E402
from tests.support.postgres import ThrowawayPostgres, free_port  # noqa: E402
from tests.support.redis import ThrowawayRedis  # noqa: E402

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")
COMMANDS = 30
# `hub serve` under cProfile, the profile written to argv[1] when it stops: uvicorn raises
# SIGTERM again once shut down, which here exits Python (instead of killing the process
# before the profile is written).
PROFILED = """
import cProfile, runpy, signal, sys
out = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.argv = ["hub", "serve"]
profile = cProfile.Profile()
try:
    profile.runcall(runpy.run_module, "hub", run_name="__main__", alter_sys=True)
finally:
    profile.dump_stats(out)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def prepare(url: str, count: int) -> list[tuple[int, str]]:
    """The demo CPTS (its nurse sends the commands) and ``count`` cabins on its first site."""
    await asyncio.to_thread(migrate.upgrade, url)
    engine = db.make_engine(url)
    tokens = [security.new_cabin_token() for _ in range(count)]
    async with db.make_session_factory(engine)() as session:
        seed = await seed_demo(session=session)
        site_id = (await session.get_one(Cabin, seed.cabin_id)).site_id
        cabins = [
            Cabin(
                site_id=site_id,
                name=f"Chariot banc {i}",
                token_hash=security.sha256_hex(token),
                token_hint=security.token_hint(token),
            )
            for i, token in enumerate(tokens)
        ]
        session.add_all(cabins)
        await session.commit()
        ids = [c.id for c in cabins]
    await engine.dispose()
    return list(zip(ids, tokens, strict=True))


@dataclass
class Hub:
    """The hub's worker processes, and the address the cabins and the nurse use."""

    url: str
    ports: list[int]
    database_url: str
    procs: list[subprocess.Popen[bytes]]
    log: Path
    redis_url: str = ""
    profile: Path | None = None  # a directory: each worker runs under cProfile, a file per start
    _started: int = 0

    def start(self) -> None:
        self.spawn()
        self.wait_listening()

    def spawn(self) -> None:
        """Start the workers (from the main thread: they die with it, `die_with_parent`)."""
        self.procs = [self._spawn(port) for port in self.ports]

    def wait_listening(self) -> None:
        for port in self.ports:
            wait_http(f"http://127.0.0.1:{port}/healthz")

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            HUB_DATABASE_URL=self.database_url,
            HUB_PORT=str(port),
            HUB_SECRET_KEY=SECRET,
            HUB_LOG_LEVEL="WARNING",
            HUB_JOBS_ENABLED="false",
            PYTHONPATH=str(ROOT),
        )
        if self.redis_url:
            env["HUB_REDIS_URL"] = self.redis_url
        command = [sys.executable, "-m", "hub", "serve"]
        if self.profile is not None:  # written when the worker exits (SIGTERM)
            self._started += 1
            out_file = self.profile / f"hub-{port}-{self._started}.prof"
            command = [sys.executable, "-c", PROFILED, str(out_file)]
        with self.log.open("ab") as out:
            return subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
                preexec_fn=die_with_parent,
            )

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


async def until(check: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``check()`` holds, or None after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            return None
        await asyncio.sleep(0.1)
    return time.monotonic() - start


def login_nurse(client: httpx.Client) -> str:
    page = client.get("/connexion")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/connexion",
        data={"username": "infirmiere", "password": "demo-infirmiere-52", "csrf_token": token},
    )
    home = client.get("/infirmier")
    return home.text.split('name="csrf_token" value="')[1].split('"')[0]


def command_round_trips(base: str, cabin_ids: list[int], count: int, spread: float) -> list[float]:
    """Seconds for ``count`` commands, one every ``spread / count`` s, to random cabins."""
    timings: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        try:
            csrf = login_nurse(client)
        except (httpx.HTTPError, IndexError):
            return timings  # the hub did not even let the nurse log in: none succeeded
        for cabin_id in random.sample(cabin_ids, min(count, len(cabin_ids))):
            start = time.perf_counter()
            try:
                response = client.post(
                    f"/api/v1/cabines/{cabin_id}/commandes",
                    json={"device": "Oxymètre", "action": "measure"},
                    headers={"X-CSRF-Token": csrf},
                )
            except httpx.HTTPError:
                continue
            if response.status_code == 200 and response.json().get("ok"):
                timings.append(time.perf_counter() - start)
            time.sleep(spread / count)
    return timings


@dataclass
class Measured:
    cpu: list[float]  # % of one core, per process
    rss: list[float]
    rtts: list[float]
    connect_s: float | None
    fleet_cpu: float  # % of one core, the simulated cabins' processes together
    load: float  # the machine's 1-minute load average at the end of the window


async def measure(
    fleet: ProcessFleet, pids: list[int], window: float, settle: float, connect_timeout: float
) -> Measured:
    n = len(fleet.cabins)
    await fleet.start()
    connect = await until(lambda: fleet.connected == n, connect_timeout)
    await asyncio.sleep(settle)
    fleet.rtts.clear()
    watched = pids + fleet.pids
    before, t0 = [cpu_seconds(p) for p in watched], time.monotonic()
    await asyncio.sleep(window)
    elapsed = time.monotonic() - t0
    cpu = [100 * (cpu_seconds(p) - b) / elapsed for p, b in zip(watched, before, strict=True)]
    return Measured(
        cpu[: len(pids)],
        [rss_mb(p) for p in pids],
        list(fleet.rtts),
        connect,
        sum(cpu[len(pids) :]),
        os.getloadavg()[0],
    )


def spawn_echo(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "capacity_fleet.py"), "echo", str(port)],
        cwd=ROOT,
        preexec_fn=die_with_parent,
    )


def fleet_processes(args: argparse.Namespace, n: int) -> int:
    """How many processes play the cabins: ``--fleet-procs``, or one per 1,250 cabins."""
    return int(args.fleet_procs) if args.fleet_procs != "auto" else -(-n // 1250)


async def run_echo(cabins: list[tuple[int, str]], args: argparse.Namespace, work: Path) -> Measured:
    port = free_port()
    proc = spawn_echo(port)
    try:
        await asyncio.to_thread(wait_tcp, port)
        procs = fleet_processes(args, len(cabins))
        fleet = ProcessFleet(f"ws://127.0.0.1:{port}", cabins, procs, work)
        try:
            return await measure(fleet, [proc.pid], args.window, args.settle, args.timeout)
        finally:
            await fleet.stop()
    finally:
        proc.terminate()
        proc.wait()


def wait_tcp(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


async def run_hub(n: int, workers: int, args: argparse.Namespace, work: Path) -> None:
    postgres = ThrowawayPostgres() if workers > 1 else None
    redis = ThrowawayRedis() if workers > 1 else None
    proxy: ThrowawayHaproxy | None = None
    if postgres is not None and redis is not None:
        postgres.start()
        redis.start()
        url = postgres.create_database(f"bench_{n}")
    else:
        url = f"sqlite+aiosqlite:///{work / f'hub-{n}.sqlite3'}"
    try:
        cabins = await prepare(url, n)
        ports = [free_port() for _ in range(workers)]
        hub = Hub("", ports, url, [], work / "hub.log", redis.url if redis else "", args.profile)
        hub.start()
        hub.url = f"http://127.0.0.1:{ports[0]}"
        if workers > 1:
            proxy = ThrowawayHaproxy([("127.0.0.1", p) for p in ports], maxconn=n + 200)
            proxy.start()
            hub.url = proxy.url
        ws = hub.url.replace("http://", "ws://")
        fleet = ProcessFleet(ws, cabins, fleet_processes(args, n), work)
        try:
            pids = [p.pid for p in hub.procs]
            result = await measure(fleet, pids, args.window, args.settle, args.timeout)
            ids = [c for c, _ in cabins]
            commands = await asyncio.to_thread(
                command_round_trips, hub.url, ids, COMMANDS, args.window / 2
            )
            restart = await restart_hub(hub, fleet, args.timeout)
        finally:
            await fleet.stop()
            hub.stop()
        baseline = await run_echo(cabins, args, work)
        report(n, workers, result, commands, restart, baseline)
    finally:
        if proxy is not None:
            proxy.stop()
        if postgres is not None:
            postgres.stop()
        if redis is not None:
            redis.stop()


@dataclass
class Restart:
    back: float | None  # s from the restart (SIGTERM) until every cabin is back
    stopped: float  # s the old hub took to exit
    listening: float  # s from the restart until the new hub answered /healthz
    hub_cpu: float  # % of one core per worker, from its start until every cabin is back
    fleet_cpu: float  # % of one core, the cabins' processes together, over the whole restart


async def restart_hub(hub: Hub, fleet: ProcessFleet, timeout: float) -> Restart:
    """Stop the hub (SIGTERM), start it again, wait for every cabin to be back."""
    n = len(fleet.cabins)
    fleet_before = sum(cpu_seconds(p) for p in fleet.pids)
    start = time.monotonic()
    await asyncio.to_thread(hub.stop)
    stopped = time.monotonic() - start
    hub.spawn()
    await asyncio.to_thread(hub.wait_listening)
    listening = time.monotonic() - start
    pids = [p.pid for p in hub.procs]
    back = await until(lambda: fleet.connected == n, timeout)
    elapsed = max(time.monotonic() - start, 1e-3)
    started = max(elapsed - stopped, 1e-3)
    cpu = sum(100 * cpu_seconds(p) for p in pids) / started / len(pids)
    fleet_cpu = 100 * (sum(cpu_seconds(p) for p in fleet.pids) - fleet_before) / elapsed
    return Restart(None if back is None else listening + back, stopped, listening, cpu, fleet_cpu)


def _ms(values: list[float], q: float) -> str:
    return f"{1000 * percentile(values, q):7.1f}"


def report(
    n: int,
    workers: int,
    hub: Measured,
    commands: list[float],
    restart: Restart,
    echo: Measured,
) -> None:
    cpus = " + ".join(f"{c:5.1f}" for c in hub.cpu)
    rss = " + ".join(f"{r:5.0f}" for r in hub.rss)
    # all the workers together against the one echo process serving the same N cabins
    ratio = sum(hub.cpu) / max(echo.cpu[0], 0.1)
    connect = f"{hub.connect_s:5.1f}" if hub.connect_s is not None else "  n/a"
    back_s = f"{restart.back:5.1f}" if restart.back is not None else "  n/a"
    print(
        f"N={n:>6} workers={workers} | hub CPU/worker {cpus} % core, RSS {rss} MB | "
        f"heartbeat p50 {_ms(hub.rtts, 0.5)} ms p95 {_ms(hub.rtts, 0.95)} ms | "
        f"command p95 {_ms(commands, 0.95)} ms ({len(commands)}/{COMMANDS} ok) | "
        f"first connect {connect} s"
    )
    print(
        f"           cabins' own processes: CPU {hub.fleet_cpu:5.1f} % core together | "
        f"load average {hub.load:.1f} (1 min, at the end of the window)"
    )
    print(
        f"           restart: all back in {back_s} s ({restart.stopped:4.1f} s to stop, "
        f"{restart.listening:4.1f} s until listening again), hub CPU from its start "
        f"{restart.hub_cpu:5.1f} % core/worker, cabins' CPU {restart.fleet_cpu:5.1f} %"
    )
    print(
        f"           echo baseline: CPU {echo.cpu[0]:5.1f} % core, RSS {echo.rss[0]:5.0f} MB, "
        f"heartbeat p50 {_ms(echo.rtts, 0.5)} ms p95 {_ms(echo.rtts, 0.95)} ms "
        f"(cabins' CPU {echo.fleet_cpu:5.1f} %, load {echo.load:.1f}) | "
        f"hub/echo CPU x{ratio:.1f}",
        flush=True,
    )


def _stop_as_interrupted(signum: int, _frame: object) -> None:
    """SIGTERM and SIGHUP stop the bench as Ctrl-C does: asyncio.run cancels the run, whose
    ``finally`` blocks stop the hub, the cabins, the proxy, Redis and PostgreSQL."""
    signal.signal(signum, signal.SIG_DFL)  # a second one kills at once
    os.kill(os.getpid(), signal.SIGINT)


def main() -> int:
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _stop_as_interrupted)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1000 and one worker only")
    parser.add_argument("--cabins", default="1000,2000,5000,10000")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--window", type=float, default=30.0, help="measuring window, s")
    parser.add_argument("--settle", type=float, default=12.0, help="wait after connecting, s")
    parser.add_argument("--timeout", type=float, default=180.0, help="connect/reconnect limit")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run each hub worker under cProfile, writing DIR/hub-PORT-START.prof when it stops "
        "(read them with python -m pstats; the CPU figures then include the profiler's cost)",
    )
    parser.add_argument(
        "--fleet-procs", default="auto", help="processes playing the cabins (auto: 1 per 1250)"
    )
    args = parser.parse_args()
    sizes = [1000] if args.quick else [int(n) for n in args.cabins.split(",")]
    workers = [1] if args.quick else [int(w) for w in args.workers.split(",")]
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    work = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    print(f"ulimit -n {limit}; hub log in {work / 'hub.log'}", flush=True)
    for w in workers:
        for n in sizes:
            if n + 100 > limit or (w > 1 and 2 * n + 100 > limit):
                print(f"N={n:>6} workers={w} | skipped: needs more than ulimit -n {limit}")
                continue
            try:
                asyncio.run(run_hub(n, w, args, work))
            except KeyboardInterrupt:
                print("interrupted: everything the bench started is stopped", flush=True)
                return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
