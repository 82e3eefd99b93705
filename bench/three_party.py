"""The three-party path, end to end: the real hub (SQLite) driving a throw-away Janus
(``tests/support/janus.py``), the real cabin agent (``--simulate``) whose room camera frames
carry their capture time (``bench/stamped/sitecustomize.py``, loaded by the agent's media
process), the doctor's console and an invited guest's page in two Chromium contexts.

The doctor receives the room peer to peer (the direct path, the baseline); the guest receives
it through Janus. Over the same window both pages read the capture time back from each frame
they render and subtract it from their clock (same machine): capture → render at the doctor
and at the guest, p50 and p95, and the ratio guest/direct.

Run through ``bench/media_latency.py --three-party [--seconds 15]``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page, async_playwright
from pydantic import SecretStr
from sqlalchemy import select

from cabin_agent.agent import CabinAgent
from hub import migrate
from hub.config import Environment, Settings
from hub.notify.models import OutboundMessage
from tests.browser.conftest import CHROMIUM_ARGS
from tests.conftest import TEST_SECRET
from tests.support.factories import PASSWORDS, build_cpts, session_for
from tests.support.janus import ThrowawayJanus
from tests.support.live import LiveHub
from tests.support.postgres import free_port
from tests.support.scenario import agent_config, booking_now, in_consultation
from tests.support.waiting import eventually

STAMPED = Path(__file__).resolve().parent / "stamped"
DOCTOR_VIDEO = "video.room"
GUEST_VIDEO = 'figure[data-description="room"] video'

#: Reads the capture time back from each frame the video under `selector` renders (the
#: element may be replaced: re-attached when it changes); latencies go to window.latencies.
READ_STAMPS = """(selector) => {
  window.latencies = [];
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  let watched = null;
  const onFrame = (video) => () => {
    if (video !== watched) return;
    const now = Date.now();
    const w = video.videoWidth, h = video.videoHeight;
    if (w && h) {
      const block = Math.floor(w / 32);
      canvas.width = w; canvas.height = block;
      ctx.drawImage(video, 0, 0, w, block, 0, 0, w, block);
      const pixels = ctx.getImageData(0, 0, w, block).data;
      let stamp = 0;
      for (let bit = 0; bit < 32; bit++) {
        const x = Math.floor(bit * block + block / 2), y = Math.floor(block / 2);
        stamp = stamp * 2 + (pixels[(y * w + x) * 4] > 128 ? 1 : 0);
      }
      const latency = ((now % 4294967296) - stamp + 4294967296) % 4294967296;
      if (latency < 10000) window.latencies.push(latency);
    }
    video.requestVideoFrameCallback(onFrame(video));
  };
  setInterval(() => {
    const video = document.querySelector(selector);
    if (video && video !== watched) {
      watched = video;
      video.requestVideoFrameCallback(onFrame(video));
    }
  }, 100);
}"""


async def _login(page: Page, hub: LiveHub) -> None:
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill("medecin")
    await page.get_by_label("Mot de passe").fill(PASSWORDS["medecin"])
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(lambda url: "/connexion" not in url)


async def _invitation_link(settings: Settings) -> str:
    async with session_for(settings) as session:
        messages = list(await session.scalars(select(OutboundMessage)))
    for message in messages:
        found = re.search(r"https?://\S+/invitation/[A-Za-z0-9_-]+", message.body_text)
        if found:
            return found.group(0)
    raise RuntimeError("no invitation in the outbox")


async def _frames_rendered(page: Page, selector: str, at_least: int) -> None:
    await page.wait_for_function(
        f"() => Number(document.querySelector({selector!r})?.dataset.frames || 0) >= {at_least}",
        timeout=60_000,
    )


async def _rendered(page: Page, selector: str) -> int:
    """The page's own count of the frames that video rendered."""
    return int(
        await page.evaluate(
            f"() => Number(document.querySelector({selector!r})?.dataset.frames || 0)"
        )
    )


async def _doctor_and_guest(
    hub: LiveHub,
    settings: Settings,
    cid: int,
    doctor_ctx: BrowserContext,
    guest_ctx: BrowserContext,
) -> tuple[Page, Page]:
    """The doctor on the console (peer to peer with the cabin) inviting a guest, who joins."""
    doctor = await doctor_ctx.new_page()
    await _login(doctor, hub)
    await doctor.goto(f"{hub.url}/medecin/consultations/{cid}")
    await _frames_rendered(doctor, DOCTOR_VIDEO, 10)
    tiers = doctor.locator("#tiers")
    await tiers.get_by_label("Qui invitez-vous ?").select_option(label="interprète")
    await tiers.get_by_label("Nom").fill("Amina Haddad")
    await tiers.get_by_label("E-mail ou portable").fill("amina@interpretes.fr")
    await tiers.get_by_role("button", name="Inviter un tiers").click()
    await doctor.locator("#tiers li", has_text="Amina Haddad").wait_for()
    guest = await guest_ctx.new_page()
    await guest.goto(await _invitation_link(settings))
    await guest.get_by_role("button", name="Vérifier ma caméra et mon micro").click()
    join = guest.get_by_role("button", name="Rejoindre la consultation")
    await guest.get_by_label("Votre nom").fill("Amina Haddad")
    await guest.wait_for_function(
        "() => ![...document.querySelectorAll('button')].find("
        "b => b.textContent.includes('Rejoindre la consultation'))?.disabled",
        timeout=30_000,
    )
    await join.click()
    await _frames_rendered(guest, GUEST_VIDEO, 10)
    return doctor, guest


async def measure(root: Path, url: str, seconds: float) -> dict[str, list[Any]]:
    """Capture → render latencies (ms) at the doctor and at the guest over one window."""
    janus = ThrowawayJanus()
    janus.start()
    settings = Settings(
        environment=Environment.TEST,
        database_url=url,
        secret_key=TEST_SECRET,
        port=free_port(),
        jobs_enabled=False,
        janus_url=janus.url,
        janus_admin_url=janus.admin_url,
        janus_admin_secret=SecretStr(janus.admin_secret),
    )
    hub = LiveHub(settings)
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(STAMPED), previous]))
    task: asyncio.Task[Any] | None = None
    try:
        async with session_for(settings) as session:
            seed = await build_cpts(session)
        cid = await in_consultation(settings, await booking_now(settings), "medecin")
        await hub.start()
        agent = CabinAgent(agent_config(hub, seed, root), simulate=True)
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.link.online.wait(), 30)
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            permissions = ["camera", "microphone"]
            doctor_ctx = await browser.new_context(locale="fr-FR", permissions=permissions)
            guest_ctx = await browser.new_context(locale="fr-FR", permissions=permissions)
            doctor, guest = await _doctor_and_guest(hub, settings, cid, doctor_ctx, guest_ctx)
            await doctor.evaluate(READ_STAMPS, DOCTOR_VIDEO)
            await guest.evaluate(READ_STAMPS, GUEST_VIDEO)

            async def both_reading() -> bool:
                counts = [int(await p.evaluate("window.latencies.length")) for p in (doctor, guest)]
                return min(counts) > 0

            await eventually(both_reading, "both pages reading the stamps", timeout=30)
            await asyncio.sleep(2)  # let the jitter buffers settle
            skip = [await p.evaluate("window.latencies.length") for p in (doctor, guest)]
            before = [await _rendered(doctor, DOCTOR_VIDEO), await _rendered(guest, GUEST_VIDEO)]
            await asyncio.sleep(seconds)
            result = {
                "doctor": (await doctor.evaluate("window.latencies"))[skip[0] :],
                "guest": (await guest.evaluate("window.latencies"))[skip[1] :],
                "rendered": [
                    await _rendered(doctor, DOCTOR_VIDEO) - before[0],
                    await _rendered(guest, GUEST_VIDEO) - before[1],
                ],
            }
            await browser.close()
        return result
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hub.stop()
        janus.stop()


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    lat = sorted(latencies)
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.95))]


async def report(seconds: float) -> None:
    """Measure and print p50/p95 at the doctor (direct) and the guest (Janus), and the ratio."""
    root = Path(tempfile.mkdtemp(prefix="cpts-three-party-bench-"))
    try:
        url = f"sqlite+aiosqlite:///{root / 'hub.sqlite3'}"
        await asyncio.to_thread(migrate.upgrade, url)
        result = await measure(root, url, seconds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"three-party path, room video of the simulated cabin, {seconds:g} s, same window "
        f"(load average {load}):"
    )
    if not result["doctor"] or not result["guest"]:
        print(f"  frames read: doctor {len(result['doctor'])}, guest {len(result['guest'])}")
        return
    d50, d95 = _percentiles(result["doctor"])
    g50, g95 = _percentiles(result["guest"])
    print(
        f"  doctor, peer to peer (baseline) p50 {d50:6.1f} ms  p95 {d95:6.1f} ms  "
        f"({len(result['doctor'])} frames read back, {result['rendered'][0]} rendered)"
    )
    print(
        f"  guest, through Janus            p50 {g50:6.1f} ms  p95 {g95:6.1f} ms  "
        f"({len(result['guest'])} frames read back, {result['rendered'][1]} rendered)"
    )
    print(f"  ratio guest/direct: p50 ×{g50 / d50:.2f}, p95 ×{g95 / d95:.2f}")
