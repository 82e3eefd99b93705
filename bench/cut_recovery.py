"""Recovery after a network cut, end to end: the real hub (SQLite), the real cabin agent
(``--simulate``) in its own network namespace joined by a veth pair, the doctor's console in
Debian's Chromium. The veth goes down for ``cut_seconds`` then comes back, ``cuts`` times;
each time the bench measures from the restore to the first frame of the room's video the
page renders (its frame counter), nobody clicking. The baseline, measured in the same run,
is the cold start: from opening the console to its first rendered frame.

Run through ``bench/media_latency.py --cuts 5 [--cut-seconds 10]`` (as root: namespaces)."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import Page, async_playwright

from hub import migrate
from hub.config import Environment, Settings
from tests.browser.conftest import CHROMIUM_ARGS
from tests.conftest import TEST_SECRET
from tests.support import netns
from tests.support.factories import PASSWORDS, build_cpts, session_for
from tests.support.live import LiveHub
from tests.support.netns import CabinNetwork
from tests.support.postgres import free_port
from tests.support.processes import process_env
from tests.support.scenario import agent_toml, booking_now, in_consultation

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.02
LOST = "Liaison perdue"


async def _frames(page: Page) -> int:
    return int(
        await page.evaluate(
            "() => Number(document.querySelector('video.room')?.dataset.frames || 0)"
        )
    )


async def _until(page: Page, check: str, timeout: float) -> float:
    """Seconds until `check` (a JS expression) holds in the page, polled every 20 ms."""
    start = time.monotonic()
    while not await page.evaluate(check):
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{check} still false after {timeout} s")
        await asyncio.sleep(POLL_SECONDS)
    return time.monotonic() - start


async def _new_frame(page: Page, after: int, timeout: float = 120.0) -> float:
    start = time.monotonic()
    while await _frames(page) <= after:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"no new frame {timeout} s after the restore")
        await asyncio.sleep(POLL_SECONDS)
    return time.monotonic() - start


async def measure(root: Path, url: str, cuts: int, cut_seconds: float) -> tuple[float, list[float]]:
    """(cold start, recovery per cut) in seconds, with the hub's database at `url`."""
    settings = Settings(
        environment=Environment.TEST,
        database_url=url,
        secret_key=TEST_SECRET,
        port=free_port(),
        jobs_enabled=False,
    )
    async with session_for(settings) as session:
        seed = await build_cpts(session)
    cid = await in_consultation(settings, await booking_now(settings), "medecin")
    network = CabinNetwork()
    hub = LiveHub(settings, host="0.0.0.0")  # the cabin comes in on its veth
    agent: asyncio.subprocess.Process | None = None
    try:
        network.create()
        await hub.start()
        agent_toml(
            root / "cabin.toml", f"http://{network.host_address}:{settings.port}", seed, root
        )
        log = (root / "agent.log").open("w")
        agent = await asyncio.create_subprocess_exec(
            *network.command(
                sys.executable,
                "-m",
                "cabin_agent",
                "run",
                "--config",
                str(root / "cabin.toml"),
                "--simulate",
            ),
            cwd=ROOT,
            env=process_env(PYTHONPATH=str(ROOT)),
            stdout=log,
            stderr=log,
        )
        while not hub.cabin_connected(seed.cabin_id):  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(POLL_SECONDS)
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            context = await browser.new_context(permissions=["camera", "microphone"])
            page = await context.new_page()
            await page.goto(hub.url + "/connexion")
            await page.get_by_label("Identifiant").fill("medecin")
            await page.get_by_label("Mot de passe").fill(PASSWORDS["medecin"])
            await page.get_by_role("button", name="Se connecter").click()
            await page.wait_for_url(lambda u: "/connexion" not in u)
            started = time.monotonic()
            await page.goto(f"{hub.url}/medecin/consultations/{cid}")
            await _new_frame(page, 0)
            cold = time.monotonic() - started
            recoveries = []
            lost = (
                "document.querySelector('[data-media] [data-field=\"link\"]')"
                f".textContent.includes('{LOST}')"
            )
            for _ in range(cuts):
                await _new_frame(page, await _frames(page) + 30)  # media running again
                cut_at = time.monotonic()
                network.cut()
                await _until(page, lost, timeout=max(30.0, cut_seconds + 5))
                await asyncio.sleep(max(0.0, cut_at + cut_seconds - time.monotonic()))
                frames = await _frames(page)
                network.restore()
                recoveries.append(await _new_frame(page, frames))
            await browser.close()
        return cold, recoveries
    finally:
        if agent is not None and agent.returncode is None:
            agent.terminate()
            await agent.wait()
        await hub.stop()
        network.remove()


def report(cuts: int, cut_seconds: float) -> None:
    """Measure and print the recovery times, their p50 and max, and the ratio to cold start."""
    reason = netns.unavailable()
    if reason is not None:
        print(f"cut recovery: not measured ({reason})")
        return
    root = Path(tempfile.mkdtemp(prefix="cpts-cut-bench-"))
    try:
        url = f"sqlite+aiosqlite:///{root / 'hub.sqlite3'}"
        migrate.upgrade(url)
        cold, recoveries = asyncio.run(measure(root, url, cuts, cut_seconds))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    p50 = statistics.median(recoveries)
    print(
        f"cut recovery, {cuts} cuts of {cut_seconds:g} s (veth down, agent in a namespace): "
        f"from restore to the first rendered frame p50 {p50:.2f} s, max {max(recoveries):.2f} s "
        f"({', '.join(f'{r:.2f}' for r in recoveries)})"
    )
    print(f"cold start (baseline): {cold:.2f} s; ratio recovery p50 / cold start ×{p50 / cold:.2f}")
