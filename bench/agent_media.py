"""``bench/agent_pipeline.py --media``: one cabin agent's measurements, alone and while a live
consultation streams its media to the doctor's page in Debian's Chromium.

One hub and one simulated agent (oximeter streaming, cuff and thermometer measured in turn
every 5 s through the hub's commands). Three phases: devices only, then the same with the
doctor's page open on a consultation under way (room camera, otoscope and stethoscope from the
agent, peer to peer), then the page closed (the consultation's media ends) and devices only
again; the two runs without media, pooled, are the baseline. Prints per phase the CPU and RSS
of the agent and of its media process (each and their sum), the reading → hub insert latency,
the hub's CPU and the machine's load average (it is shared); then the latency ratio media /
devices alone (one figure per reading, with a bootstrap interval), the frames the page
rendered, and the RSS once the consultation has ended against the idle RSS.

Chromium plays the doctor's PC, which is neither the cabin's nor the hub's: once the page plays,
every thread of the browser (not only each process's first one: Linux schedules threads) goes
to a control group of the idle class and to the idle scheduling class (`yield_browser`), so it
takes the CPU the cabin and the hub leave. The definition of the latency is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from agent_pipeline import (
    SECRET,
    agent_config,
    children,
    children_cpu_seconds,
    command,
    cpu_seconds,
    login_nurse,
    percentile,
    prepare,
    rss_mb,
    start_agent,
    start_hub,
    stored_rows,
    wait_ready,
)
from playwright.sync_api import Page, sync_playwright

from hub import migrate
from hub.config import Settings
from hub.records.observations import Observation
from tests.support.scenario import booking_now, in_consultation

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
SETTLE_SECONDS = 10.0
#: Chromium plays the doctor's PC, which in real life is not the cabin's (nor the hub's): it
#: runs at a lower priority (and in the idle scheduling class) so it takes mostly the CPU the
#: cabin and the hub leave.
BROWSER_NICENESS = 10


@dataclass
class Phase:
    name: str
    cpu: float = 0.0
    rss: float = 0.0
    #: The agent's media process (or processes), counted apart.
    media_cpu: float = 0.0
    media_rss: float = 0.0
    #: The media process's CPU: its event loop, its other threads (encoders, decoders).
    media_threads: dict[str, float] = field(default_factory=dict)
    #: The hub's CPU (it stores the readings and serves the doctor's page meanwhile).
    hub_cpu: float = 0.0
    #: The machine's 1-minute load average at the end of the phase (it is shared).
    load: float = 0.0
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    ended: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    latencies: list[float] = field(default_factory=list)


def measure(
    client: httpx.Client, csrf: str, cabin_id: int, pids: tuple[int, int], seconds: int, name: str
) -> Phase:
    """Run the devices for `seconds` (oximeter streaming, cuff and thermometer in turn);
    ``pids``: the agent's and the hub's."""
    phase = Phase(name)
    pid, hub_pid = pids
    cpu_start, media_start = cpu_seconds(pid), children_cpu_seconds(pid)
    hub_start = cpu_seconds(hub_pid)
    threads_start = media_thread_cpu(pid)
    started = time.monotonic()
    command(client, csrf, cabin_id, "Oxymètre")
    tick = 0
    while time.monotonic() - started < seconds:
        command(client, csrf, cabin_id, "Tensiomètre" if tick % 2 == 0 else "Thermomètre")
        tick += 1
        time.sleep(5)
    elapsed = time.monotonic() - started
    phase.cpu = (cpu_seconds(pid) - cpu_start) / elapsed
    phase.hub_cpu = (cpu_seconds(hub_pid) - hub_start) / elapsed
    phase.load = os.getloadavg()[0]
    phase.media_cpu = (children_cpu_seconds(pid) - media_start) / elapsed
    threads_end = media_thread_cpu(pid)
    phase.media_threads = {
        name: (seconds - threads_start.get(name, 0.0)) / elapsed
        for name, seconds in threads_end.items()
    }
    phase.rss = rss_mb(pid)
    phase.media_rss = media_rss_mb(pid)
    phase.ended = dt.datetime.now(dt.UTC)
    return phase


def reading_latencies(rows: Iterable[Observation]) -> list[float]:
    """Seconds from the cabin's receipt of each reading to its values' insert at the hub, one
    figure per reading (a blood pressure's four values, an oximeter's two, count once: they
    travel together), its slowest value's."""
    readings: dict[tuple[str, dt.datetime], float] = {}
    for o in rows:
        key = (o.device_name, o.measured_at)
        latency = (o.stored_at - o.measured_at).total_seconds()
        readings[key] = max(latency, readings.get(key, latency))
    return list(readings.values())


def ratio_interval(
    media: list[float], alone: list[float], q: float, draws: int = 2000
) -> tuple[float, float]:
    """A 95 % bootstrap interval of percentile(media, q) / percentile(alone, q): how far
    the ratio of this run could move from sampling alone (a p95 of a few hundred readings
    rests on its ten slowest)."""
    rng = random.Random(17)
    ratios = sorted(
        percentile(rng.choices(media, k=len(media)), q)
        / percentile(rng.choices(alone, k=len(alone)), q)
        for _ in range(draws)
    )
    return ratios[int(0.025 * draws)], ratios[int(0.975 * draws) - 1]


def media_thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the media process's main thread (its event loop: aiortc's packets,
    pacing, frame copies) and of its other threads (encoders, decoders)."""
    found: dict[str, float] = {}
    for child in children(pid):
        for task in Path(f"/proc/{child}/task").glob("*"):
            with contextlib.suppress(OSError):
                name = "event loop" if task.name == str(child) else "other threads"
                found[name] = found.get(name, 0.0) + cpu_seconds(task / "stat")
    return found


def media_rss_mb(pid: int) -> float:
    """RSS of the agent's media process (0 when none runs)."""
    return sum(rss_mb(child) for child in children(pid))


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


#: The control group the browser is moved to (cgroup v1's cpu controller, or v2's root).
IDLE_GROUPS = (Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup"))


@dataclass
class Yielded:
    """What `yield_browser` did: processes lowered, their scheduling groups, and the idle
    control group they were moved to (None: none could be made)."""

    processes: int
    groups: int
    idle_group: Path | None

    def release(self) -> None:
        """Remove the idle control group once the browser has exited."""
        if self.idle_group is not None:
            with contextlib.suppress(OSError):
                self.idle_group.rmdir()

    def __str__(self) -> str:
        where = (
            f"in the idle control group {self.idle_group}"
            if self.idle_group is not None
            else f"{self.groups} scheduling group(s) at niceness {BROWSER_NICENESS} (no idle "
            "control group could be made: the cabin and the hub may wait behind it)"
        )
        return f"{self.processes} processes, every thread in the idle class, {where}"


def idle_group() -> Path | None:
    """A control group of the idle class (``cpu.idle``, Linux 5.15+), or None."""
    for root in IDLE_GROUPS:
        group = root / f"bench-doctor-pc-{os.getpid()}"
        try:
            group.mkdir(exist_ok=True)
            (group / "cpu.idle").write_text("1")
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            continue
        return group
    return None


def yield_browser(keep: list[int]) -> Yielded:
    """Give the bench's other processes (Playwright's driver, Chromium) the CPU the hub, the
    agent and theirs leave.

    Chromium starts in a session of its own, and with the kernel's autogroup scheduling
    (``/proc/sys/kernel/sched_autogroup_enabled``) a session is a group that competes with the
    others as one: the idle class of its threads counts only inside it, and its group's niceness
    only weighs its share. Once running, a group keeps its core for its time slice (1.4 ms
    here) whoever wakes (`perf sched`: the agent and the hub waited up to 2.8 and 3.9 ms
    behind Chromium's compositor). So it goes to a control group of the idle class, which any
    other task preempts on waking; where none can be made (no ``cpu.idle``, no right to make
    groups), its threads still go to the idle class and its group to a lower priority."""
    kept = set(keep) | {d for pid in keep for d in descendants(pid)}
    lowered = 0
    groups: set[str] = set()
    idle = idle_group()
    per_thread = idle is not None and (idle / "tasks").exists()  # cgroup v1
    for pid in descendants(os.getpid()):
        if pid in kept:
            continue
        lowered += 1
        # Linux schedules threads: niceness, class and (cgroup v1) group are each thread's,
        # and Chromium's decoders and compositor already run when this is called. (cgroup v2
        # moves a process with all its threads.)
        if idle is not None and not per_thread:
            with contextlib.suppress(OSError):
                (idle / "cgroup.procs").write_text(str(pid))
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                os.setpriority(os.PRIO_PROCESS, int(task.name), BROWSER_NICENESS)
                os.sched_setscheduler(int(task.name), os.SCHED_IDLE, os.sched_param(0))
            if idle is not None and per_thread:
                with contextlib.suppress(OSError):
                    (idle / "tasks").write_text(task.name)
        with contextlib.suppress(OSError):
            group = Path(f"/proc/{pid}/autogroup")
            name = group.read_text().split()[0]
            if name not in groups and os.getsid(pid) != os.getsid(0):
                group.write_text(str(BROWSER_NICENESS))
                groups.add(name)
    return Yielded(lowered, len(groups), idle)


def frames(page: Page) -> tuple[int, int]:
    room = page.locator("video.room").get_attribute("data-frames") or 0
    otoscope = page.locator("video.otoscope").get_attribute("data-frames") or 0
    return int(room), int(otoscope)


def open_consultation(page: Page, hub_url: str, consultation_id: int) -> None:
    page.goto(hub_url + "/connexion")
    page.get_by_label("Identifiant").fill("medecin")
    page.get_by_label("Mot de passe").fill("demo-medecin-52")
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/medecin**")
    page.goto(f"{hub_url}/medecin/consultations/{consultation_id}")
    page.wait_for_function(
        "(n) => ['room', 'otoscope'].every((v) =>"
        " Number(document.querySelector('video.' + v)?.dataset.frames || 0) >= n)",
        arg=10,
        timeout=60_000,
    )


def settled_rss(pid: int) -> float:
    """The agent's RSS once it has stopped moving (or after SETTLE_SECONDS)."""
    last = rss_mb(pid)
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        time.sleep(1)
        now = rss_mb(pid)
        if abs(now - last) < 0.5 and time.monotonic() > deadline - SETTLE_SECONDS / 2:
            return now
        last = now
    return last


def run_media(seconds: int) -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium not found: run tests/support/system-deps.sh")
    work = Path(tempfile.mkdtemp(prefix="bench-agent-media-"))
    url = f"sqlite+aiosqlite:///{work / 'hub.sqlite3'}"
    migrate.upgrade(url)
    [(cabin_id, token)] = asyncio.run(prepare(url, 1))
    settings = Settings(database_url=url, environment="test", secret_key=SECRET)
    consultation_id = asyncio.run(
        in_consultation(settings, asyncio.run(booking_now(settings)), "medecin")
    )
    hub, hub_url = start_hub(url)
    config = work / "cabin.toml"
    agent_config(config, hub_url, cabin_id, token, work / "agent", seconds)
    log = work / "agent.log"
    agent = start_agent(config, log)
    phases: list[Phase] = []
    try:
        with httpx.Client(base_url=hub_url) as client, sync_playwright() as pw:
            csrf = login_nurse(client)
            wait_ready(client, 1)
            phases.append(
                measure(client, csrf, cabin_id, (agent.pid, hub.pid), seconds, "devices only")
            )
            idle_rss = settled_rss(agent.pid)
            idle_anon = rss_mb(agent.pid, "RssAnon")
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            context = browser.new_context(locale="fr-FR", permissions=["camera", "microphone"])
            page = context.new_page()
            open_consultation(page, hub_url, consultation_id)
            lowered = yield_browser([hub.pid, agent.pid])
            before = frames(page)
            shown = time.monotonic()
            phases.append(
                measure(client, csrf, cabin_id, (agent.pid, hub.pid), seconds, "with media")
            )
            after = frames(page)
            rendered = [
                (a - b) / (time.monotonic() - shown) for a, b in zip(after, before, strict=True)
            ]
            peak_rss = rss_mb(agent.pid) + media_rss_mb(agent.pid)
            context.close()  # the doctor leaves: the page says hangup, the agent closes
            browser.close()
            lowered.release()
            ended_rss = settled_rss(agent.pid)
            ended_media = media_rss_mb(agent.pid)
            ended_anon = rss_mb(agent.pid, "RssAnon")
            # Devices alone again: the machine is shared and drifts, so the baseline brackets
            # the run with media.
            phases.append(
                measure(client, csrf, cabin_id, (agent.pid, hub.pid), seconds, "devices again")
            )
        agent.send_signal(signal.SIGTERM)
        agent.wait(20)
    finally:
        if agent.poll() is None:
            agent.kill()
        hub.send_signal(signal.SIGTERM)
        hub.wait(20)
    rows = [o for o in asyncio.run(stored_rows(url)) if o.cabin_id == cabin_id]
    for phase in phases:
        phase.latencies = reading_latencies(
            o for o in rows if phase.started <= o.stored_at.replace(tzinfo=dt.UTC) <= phase.ended
        )
    report(phases, seconds, rendered, peak_rss, idle_rss, ended_rss + ended_media)
    saved = work / "latencies.json"
    saved.write_text(
        json.dumps(
            {"alone": phases[0].latencies + phases[2].latencies, "media": phases[1].latencies}
        )
    )
    print(f"latencies per reading: {saved} (several runs: --media --pool FILE…)")
    print(f"Chromium (the doctor's PC): {lowered}")
    print(
        "media process after the consultation: "
        + ("exited" if not ended_media else f"still running, {ended_media:.1f} MB")
    )
    print(
        f"of which heap (RssAnon): idle {idle_anon:.1f} MB, after {ended_anon:.1f} MB "
        f"({ended_anon - idle_anon:+.1f} MB); the rest is mapped files (libraries' code)"
    )
    steps = [
        line.split(": ", 1)[1] for line in log.read_text().splitlines() if "video sent at" in line
    ]
    print("video quality steps:", "; ".join(steps) or "none (stayed at the configured level)")
    return 0


def print_ratios(media: list[float], alone: list[float]) -> None:
    ratios = [percentile(media, q) / percentile(alone, q) for q in (0.5, 0.95)]
    intervals = [ratio_interval(media, alone, q) for q in (0.5, 0.95)]
    print(
        f"ratio with media / devices alone: p50 ×{ratios[0]:.2f} "
        f"(95 % interval ×{intervals[0][0]:.2f}–{intervals[0][1]:.2f}), p95 ×{ratios[1]:.2f} "
        f"(×{intervals[1][0]:.2f}–{intervals[1][1]:.2f}) (goal ≤ ×1.2)"
    )


def pool(paths: list[Path]) -> int:
    """Pool the per-reading latencies several runs saved (``latencies.json``): a p95 rests on
    the slowest readings of all of them, and its interval narrows."""
    media: list[float] = []
    alone: list[float] = []
    for path in paths:
        run = json.loads(path.read_text())
        media += run["media"]
        alone += run["alone"]
        ratios = [percentile(run["media"], q) / percentile(run["alone"], q) for q in (0.5, 0.95)]
        print(f"{path}: p50 ×{ratios[0]:.2f}, p95 ×{ratios[1]:.2f}")
    print(
        f"{len(paths)} runs pooled, readings alone {len(alone)}, with media {len(media)}: "
        f"alone p50 {percentile(alone, 0.5) * 1000:.1f} ms, p95 "
        f"{percentile(alone, 0.95) * 1000:.1f} ms; with media p50 "
        f"{percentile(media, 0.5) * 1000:.1f} ms, p95 {percentile(media, 0.95) * 1000:.1f} ms"
    )
    print_ratios(media, alone)
    return 0


def report(
    phases: list[Phase],
    seconds: int,
    rendered: list[float],
    peak_rss: float,
    idle_rss: float,
    ended_rss: float,
) -> None:
    print(
        f"agent with and without media: 1 cabin, {seconds} s per phase, oximeter at 1 Hz + "
        "cuff and thermometer in turn every 5 s"
    )
    print(
        f"{'phase':<14} {'CPU agent':>10} {'+ media':>8} {'= sum':>7} {'RSS agent':>10} "
        f"{'+ media':>8} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'CPU hub':>8} {'load':>5}"
    )
    for p in phases:
        p50, p95 = percentile(p.latencies, 0.5), percentile(p.latencies, 0.95)
        print(
            f"{p.name:<14} {p.cpu * 100:>9.1f}% {p.media_cpu * 100:>7.1f}% "
            f"{(p.cpu + p.media_cpu) * 100:>6.1f}% {p.rss:>8.1f}MB {p.media_rss:>6.1f}MB "
            f"{len(p.latencies):>5} {p50 * 1000:>8.1f} {p95 * 1000:>8.1f} "
            f"{p.hub_cpu * 100:>7.1f}% {p.load:>5.1f}"
        )
    alone = phases[0].latencies + phases[2].latencies
    media = phases[1]
    print(
        f"devices alone, both runs pooled (n={len(alone)}): p50 "
        f"{percentile(alone, 0.5) * 1000:.1f} ms, p95 {percentile(alone, 0.95) * 1000:.1f} ms"
    )
    print_ratios(media.latencies, alone)
    total = media.cpu + media.media_cpu
    threads = sorted(media.media_threads.items(), key=lambda item: -item[1])
    print(
        "media process by thread: "
        + (", ".join(f"{name} {share * 100:.1f} %" for name, share in threads if share) or "-")
    )
    print(f"CPU with media, agent + media process: {total * 100:.1f} % of a core (goal ≤ 25 %)")
    print(
        f"frames rendered by the doctor's page: room {rendered[0]:.1f}/s, "
        f"otoscope {rendered[1]:.1f}/s"
    )
    print(
        f"RSS, agent + media process: idle {idle_rss:.1f} MB, during the consultation "
        f"{peak_rss:.1f} MB, "
        f"after it ended {ended_rss:.1f} MB ({ended_rss - idle_rss:+.1f} MB vs idle; "
        "goal ± 10 MB)"
    )
