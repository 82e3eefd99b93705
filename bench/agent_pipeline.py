"""Agent pipeline benchmark: from a simulated device's notification to the hub's database.

Starts a hub (``python -m hub serve`` on a fresh SQLite file) and several cabin agents
(``python -m cabin_agent run --simulate``), each with a serial oximeter streaming (stored at
1 Hz) and a BLE cuff and thermometer measured every few seconds through the hub's commands.
Prints the latency from the agent's reception of a reading to the hub's insert (p50, p95),
each agent's CPU use, and per cabin the measurements sent, acknowledged and stored (they must
match). The baseline, measured in the same run, is the hub's storage step alone: the same
number of single measurements stored in-process in a fresh database.

With ``--media`` (see ``bench/agent_media.py``) one agent runs the same devices twice, alone
and then with a live consultation streaming its room camera, otoscope and stethoscope to the
doctor's page in Debian's Chromium; it prints the CPU and RSS of the agent and of its media
process (each and their sum) and the reading → insert latency of both runs and their ratio
(with a bootstrap interval), then the agent's RSS once the consultation has ended against its
idle RSS. It saves the latencies per reading; ``--pool`` pools those of several runs.

    .venv/bin/python bench/agent_pipeline.py [--cabins 3] [--seconds 30] [--media [--seconds 150]]
    .venv/bin/python bench/agent_pipeline.py --media --pool /tmp/bench-agent-media-*/latencies.json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices.measurements import (  # noqa: E402
    DeviceIdentity,
    Measurement,
    MeasurementKind,
    Unit,
)
from hub import db, migrate  # noqa: E402
from hub.demo import seed_demo  # noqa: E402
from hub.identity import service as identity  # noqa: E402
from hub.identity.models import Site  # noqa: E402
from hub.records.observations import Observation, store_measurements  # noqa: E402
from hub.wire import MeasurementItem, WireMeasurement  # noqa: E402
from tests.support.postgres import free_port  # noqa: E402

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int | Path) -> float:
    """CPU seconds of a process (or of a thread: its ``/proc/…/task/TID/stat`` path)."""
    stat = pid if isinstance(pid, Path) else Path(f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu_seconds(pid: int) -> float:
    """CPU seconds of the processes `pid` started: those running and those ended (reaped)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[13]) + int(fields[14])) / CLK_TCK
    for child in children(pid):
        try:
            total += cpu_seconds(child)
        except OSError:  # ended meanwhile: counted once reaped
            continue
    return total


def children(pid: int) -> list[int]:
    """The processes `pid` started and that still run (the agent's media process)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process, in MB (``RssAnon``: its heap; ``RssFile``: mapped files
    such as the libraries' code, once touched)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone meanwhile
        return 0.0
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


async def prepare(url: str, cabins: int) -> list[tuple[int, str]]:
    """Seed the demo CPTS and as many cabins as asked; returns (cabin id, token)."""
    engine = db.make_engine(url)
    result = []
    async with db.make_session_factory(engine)() as session:
        seed = await seed_demo(session=session)
        result.append((seed.cabin_id, seed.cabin_token))
        site = (await session.scalars(select(Site).where(Site.id == 1))).one()
        for i in range(cabins - 1):
            cabin, token = await identity.create_cabin(
                session=session, site=site, name=f"Chariot banc {i + 2}"
            )
            result.append((cabin.id, token))
        await session.commit()
    await engine.dispose()
    return result


def agent_config(
    path: Path, hub_url: str, cabin_id: int, token: str, data_dir: Path, seconds: int
) -> None:
    path.write_text(
        f'[hub]\nurl = "{hub_url}"\ncabin_id = {cabin_id}\ntoken = "{token}"\n'
        f'[agent]\nheartbeat_seconds = 5\ndata_dir = "{data_dir}"\n'
        f"simulated_reading_seconds = {seconds + 5}\n"
        '[[devices]]\nname = "Oxymètre"\nkind = "pulse_oximeter"\nmodel = "contec_cms50d_plus"\n'
        'transport = "serial"\n'
        '[[devices]]\nname = "Tensiomètre"\nkind = "blood_pressure_cuff"\n'
        'model = "generic_gatt_cuff"\ntransport = "ble"\n'
        '[[devices]]\nname = "Thermomètre"\nkind = "thermometer"\n'
        'model = "generic_gatt_thermometer"\ntransport = "ble"\n'
    )


def command(client: httpx.Client, csrf: str, cabin_id: int, device: str) -> None:
    client.post(
        f"/api/v1/cabines/{cabin_id}/commandes",
        json={"device": device, "action": "measure"},
        headers={"X-CSRF-Token": csrf},
        timeout=30,
    )


def wait_ready(client: httpx.Client, cabins: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = client.get("/api/v1/cabines").json()
        ready = [
            c
            for c in listed
            if c["online"] and c["devices"] and all(d["state"] == "ready" for d in c["devices"])
        ]
        if len(ready) >= cabins:
            return
        time.sleep(0.5)
    raise SystemExit("agents did not get ready in time")


async def stored_rows(url: str) -> list[Observation]:
    engine = db.make_engine(url)
    async with db.make_session_factory(engine)() as session:
        rows = list(await session.scalars(select(Observation)))
    await engine.dispose()
    return rows


async def baseline(count: int, work: Path) -> list[float]:
    """Seconds to store one measurement in-process (the hub's storage step alone)."""
    url = f"sqlite+aiosqlite:///{work / 'baseline.sqlite3'}"
    await asyncio.to_thread(migrate.upgrade, url)
    await prepare(url, 1)
    engine = db.make_engine(url)
    device = DeviceIdentity(model="contec_cms50d_plus", serial="bench")
    timings = []
    async with db.make_session_factory(engine)() as session:
        for seq in range(1, count + 1):
            m = Measurement(
                kind=MeasurementKind.SPO2,
                value=97.0,
                unit=Unit.PERCENT,
                received_at=dt.datetime.now(dt.UTC),
                device=device,
                loinc="59408-5",
            )
            wire = WireMeasurement.from_measurement(m)
            start = time.perf_counter()
            await store_measurements(
                session=session,
                cabin_id=1,
                site_id=1,
                now=dt.datetime.now(dt.UTC),
                items=[MeasurementItem(seq=seq, device="Oxymètre", measurement=wire)],
            )
            await session.commit()
            timings.append(time.perf_counter() - start)
    await engine.dispose()
    return timings


def outbox_numbers(path: Path) -> tuple[int, int]:
    """(measurements ever numbered, still waiting) in an agent's outbox."""
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'measurements'").fetchone()
        waiting = conn.execute("SELECT count(*) FROM measurements").fetchone()[0]
    return (int(row[0]) if row else 0), int(waiting)


QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def agent_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}


def start_hub(url: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m hub serve`` on the database at url; returns it and its base URL."""
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    hub_env = {
        **agent_env(),
        "HUB_DATABASE_URL": url,
        "HUB_SECRET_KEY": SECRET,
        "HUB_PORT": str(port),
        "HUB_ENVIRONMENT": "test",
        "HUB_JOBS_ENABLED": "false",
        "HUB_LOG_LEVEL": "WARNING",
    }
    hub = subprocess.Popen([sys.executable, "-m", "hub", "serve"], cwd=ROOT, env=hub_env, **QUIET)  # type: ignore[call-overload]
    for _ in range(100):
        try:
            if httpx.get(hub_url + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return hub, hub_url


def start_agent(config: Path, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m cabin_agent run --simulate`` with that configuration (its INFO log
    written to `log` when given)."""
    command = [sys.executable, "-m", "cabin_agent", "run", "--config", str(config)]
    if log is None:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            [*command, "--simulate", "--log-level", "WARNING"], cwd=ROOT, env=agent_env(), **QUIET
        )
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, "--simulate", "--log-level", "INFO"],
            cwd=ROOT,
            env=agent_env(),
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def login_nurse(client: httpx.Client) -> str:
    """Log the nurse in; returns the CSRF token her commands carry."""
    page = client.get("/connexion")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/connexion",
        data={"username": "infirmiere", "password": "demo-infirmiere-52", "csrf_token": token},
    )
    home = client.get("/infirmier")
    return home.text.split('name="csrf_token" value="')[1].split('"')[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cabins", type=int, default=3)
    parser.add_argument(
        "--seconds",
        type=int,
        help="per run (default 30), or per phase with --media (default 150: about 185 "
        "readings, so that the p95 rests on their ten slowest)",
    )
    parser.add_argument(
        "--media", action="store_true", help="one agent, without then with a live consultation"
    )
    parser.add_argument(
        "--pool",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="with --media: pool the latencies.json of several runs instead of running",
    )
    args = parser.parse_args()
    if args.media:
        from agent_media import pool, run_media

        return pool(args.pool) if args.pool else run_media(args.seconds or 150)
    args.seconds = args.seconds or 30
    work = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    url = f"sqlite+aiosqlite:///{work / 'hub.sqlite3'}"
    migrate.upgrade(url)
    cabins = asyncio.run(prepare(url, args.cabins))
    hub, hub_url = start_hub(url)
    agents: list[tuple[int, subprocess.Popen[bytes], Path]] = []
    try:
        for cabin_id, token in cabins:
            data_dir = work / f"agent-{cabin_id}"
            config = work / f"cabin-{cabin_id}.toml"
            agent_config(config, hub_url, cabin_id, token, data_dir, args.seconds)
            agents.append((cabin_id, start_agent(config), data_dir))
        with httpx.Client(base_url=hub_url) as client:
            csrf = login_nurse(client)
            wait_ready(client, args.cabins)
            cpu_start = {cid: cpu_seconds(p.pid) for cid, p, _ in agents}
            started = time.monotonic()
            for cabin_id, _, _ in agents:
                command(client, csrf, cabin_id, "Oxymètre")
            tick = 0
            while time.monotonic() - started < args.seconds:
                for cabin_id, _, _ in agents:
                    command(
                        client, csrf, cabin_id, "Tensiomètre" if tick % 2 == 0 else "Thermomètre"
                    )
                tick += 1
                time.sleep(5)
            elapsed = time.monotonic() - started
            cpu = {cid: (cpu_seconds(p.pid) - cpu_start[cid]) / elapsed for cid, p, _ in agents}
        time.sleep(3)  # the last acknowledgements
        for _, proc, _ in agents:
            proc.send_signal(signal.SIGTERM)
        for _, proc, _ in agents:
            proc.wait(20)
    finally:
        for _, proc, _ in agents:
            if proc.poll() is None:
                proc.kill()
        hub.send_signal(signal.SIGTERM)
        hub.wait(20)

    rows = asyncio.run(stored_rows(url))
    latencies = [(o.stored_at - o.measured_at).total_seconds() for o in rows]
    base = asyncio.run(baseline(max(100, len(rows) // 4), work))
    print(
        f"agent pipeline: {args.cabins} cabins, {elapsed:.0f} s, oximeter at 1 Hz + cuff and "
        f"thermometer every 10 s each"
    )
    print(f"{'cabin':>6} {'sent':>6} {'acked':>6} {'stored':>7} {'agent CPU':>10}")
    all_match = True
    for cabin_id, _, data_dir in agents:
        sent, waiting = outbox_numbers(data_dir / f"outbox-cabin-{cabin_id}.sqlite3")
        stored = sum(1 for o in rows if o.cabin_id == cabin_id)
        acked = sent - waiting
        all_match &= sent == acked == stored
        print(f"{cabin_id:>6} {sent:>6} {acked:>6} {stored:>7} {cpu[cabin_id] * 100:>9.1f}%")
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    b50, b95 = percentile(base, 0.5), percentile(base, 0.95)
    print(
        f"latency reading → hub insert: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
        f"(n={len(latencies)}, mean {statistics.fmean(latencies) * 1000:.1f} ms)"
    )
    print(
        f"baseline (storage step alone): p50 {b50 * 1000:.2f} ms, p95 {b95 * 1000:.2f} ms "
        f"(n={len(base)})"
    )
    print(f"ratio pipeline/baseline: p50 ×{p50 / b50:.1f}, p95 ×{p95 / b95:.1f}")
    print(
        "sent = acknowledged = stored for every cabin"
        if all_match
        else "MISMATCH between sent, acknowledged and stored"
    )
    return 0 if all_match else 1


if __name__ == "__main__":
    sys.exit(main())
