"""A rural line failing for a minute in the middle of a teleconsultation, for real: the cabin
agent runs in its own network namespace, joined to the host by a veth pair, and the link goes
down for 60 s while the oximeter streams. The doctor's console (Chromium on the host) says the
link is lost and keeps the consultation; once the line is back, the room's video, the
oximeter's values and the live pleth come back without anyone clicking (how fast: the 5 s of
the issue are measured by bench/media_latency.py), and every measurement taken during the cut
reaches the record exactly once. Skips, saying why, where network namespaces cannot be made."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.consultation.models import Consultation, State
from hub.records.observations import Observation
from tests.conftest import BACKEND, ROOT
from tests.support import netns
from tests.support.factories import PASSWORDS, Cpts
from tests.support.live import LiveHub
from tests.support.netns import CabinNetwork
from tests.support.processes import process_env
from tests.support.scenario import agent_toml, booking_now, in_consultation
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    # The cut exercises the network, the agent and the browser; the database's side (each
    # measurement stored once) is the outbox's, tested on both backends in tests/cabin_agent.
    # Run once, in the SQLite pass, to keep the suite's 105 s of cut out of the second pass.
    pytest.mark.skipif(
        BACKEND == "postgresql", reason="the 60 s cut runs once, in the SQLite pass"
    ),
]

CUT_SECONDS = 60.0  # the cut: longer than every timeout on the way (ICE consent: 30 s)
# The promise is 5 s; timings are measured (bench/media_latency.py --cuts: restore →
# first rendered frame over real cuts), not asserted on a machine shared with other suites.
RESUME_SECONDS = 30.0
LOST = "Liaison perdue"


@pytest.fixture
def cabin_network() -> Iterator[CabinNetwork]:
    reason = netns.unavailable()
    if reason is not None:
        pytest.skip(f"no network namespace for the cabin: {reason}")
    network = CabinNetwork()
    try:
        network.create()
        yield network
    finally:
        network.remove()


@pytest.fixture
async def open_hub(settings: Settings) -> AsyncIterator[LiveHub]:
    """A hub with production heartbeats, listening on every address (the cabin's network too)."""
    hub = LiveHub(
        settings.model_copy(
            update={"agent_heartbeat_seconds": 10.0, "agent_offline_after_seconds": 30.0}
        ),
        host="0.0.0.0",  # the cabin reaches it on the veth's host address
    )
    await hub.start()
    yield hub
    await hub.stop()


async def _stored(settings: Settings, cabin_id: int) -> list[tuple[int, float]]:
    """(seq, measured at, as a POSIX time) of every stored measurement of the cabin."""
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            rows = (
                await session.execute(
                    select(Observation.seq, Observation.measured_at)
                    .where(Observation.cabin_id == cabin_id)
                    .order_by(Observation.seq)
                )
            ).all()
    finally:
        await engine.dispose()
    return [(int(seq), at.timestamp()) for seq, at in rows]


async def _state(settings: Settings, cid: int) -> State:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            consultation = await session.get(Consultation, cid)
            assert consultation is not None
            return consultation.state
    finally:
        await engine.dispose()


async def _counters(page: Page) -> tuple[int, int]:
    """The frames of the room's video the page rendered, and the pleth samples it drew."""
    values = await page.evaluate(
        """() => [Number(document.querySelector("video.room").dataset.frames || 0),
                  Number(document.querySelector("canvas.pleth").dataset.samples || 0)]"""
    )
    return int(values[0]), int(values[1])


async def test_a_minute_long_cut_loses_nothing_and_heals_by_itself(
    browser: Browser,
    open_hub: LiveHub,
    cpts: Cpts,
    settings: Settings,
    cabin_network: CabinNetwork,
    tmp_path: Path,
) -> None:
    hub = open_hub
    cid = await in_consultation(settings, await booking_now(settings), "medecin")
    data_dir = tmp_path / "agent"
    agent_toml(
        tmp_path / "cabin.toml",
        f"http://{cabin_network.host_address}:{hub.settings.port}",
        cpts,
        data_dir,
    )
    log = (tmp_path / "agent.log").open("w")
    agent = await asyncio.create_subprocess_exec(
        *cabin_network.command(
            sys.executable,
            "-m",
            "cabin_agent",
            "run",
            "--config",
            str(tmp_path / "cabin.toml"),
            "--simulate",
        ),
        cwd=ROOT,
        env=process_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    context = await browser.new_context(locale="fr-FR", permissions=["camera", "microphone"])
    try:
        await eventually(lambda: hub.cabin_connected(cpts.cabin_id), "the cabin online", timeout=30)
        doctor = await context.new_page()
        await doctor.goto(hub.url + "/connexion")
        await doctor.get_by_label("Identifiant").fill("medecin")
        await doctor.get_by_label("Mot de passe").fill(PASSWORDS["medecin"])
        await doctor.get_by_role("button", name="Se connecter").click()
        await doctor.wait_for_url(lambda url: "/connexion" not in url)
        await doctor.goto(f"{hub.url}/medecin/consultations/{cid}")
        media = doctor.locator("[data-media]")
        await expect(media).to_have_attribute("data-state", "connected", timeout=30_000)
        oximeter = doctor.locator('li[data-device="Oxymètre"]')
        await expect(oximeter.locator('[data-field="state"]')).to_have_class(
            re.compile(r"\bstate-ready\b"), timeout=30_000
        )
        await oximeter.get_by_role("button", name="Mesurer").click()
        await eventually(
            lambda: _both_above(doctor, (10, 10)), "the video and the pleth running", timeout=30
        )
        await eventually(
            _count_stored(settings, cpts.cabin_id, 3), "oximeter values stored", timeout=30
        )

        link = doctor.locator('[data-media] [data-field="link"]')
        cabin = doctor.locator(f'tr[data-cabin-id="{cpts.cabin_id}"] [data-field="status"]')
        cut_at = time.time()
        cabin_network.cut()
        await expect(link).to_contain_text(LOST, timeout=20_000)
        await asyncio.sleep(max(0.0, cut_at + CUT_SECONDS - time.time()))  # the cut's length
        # A minute later the doctor still reads that the link is lost, and that the cabin is
        # offline, in a consultation still under way.
        await expect(link).to_contain_text(LOST)
        await expect(cabin).to_have_class(re.compile(r"\boffline\b"))
        assert await _state(settings, cid) is State.IN_CONSULTATION
        await expect(doctor.get_by_role("heading", name="En direct")).to_be_visible()
        frames, samples = await _counters(doctor)
        restored_at = time.time()
        cabin_network.restore()

        # Nobody clicks: the room's video moves again and a measurement taken since the line
        # came back is on the doctor's screen...
        deadline = time.monotonic() + RESUME_SECONDS
        await eventually(
            lambda: _both_above(doctor, (frames + 5, 0)),
            "the room's video moving again on the doctor's screen",
            timeout=RESUME_SECONDS,
        )
        video_back = time.time() - restored_at
        await eventually(
            lambda: _shown_since(doctor, restored_at),
            f"an oximeter value measured since the restore on the doctor's screen (the video "
            f"came back after {video_back:.1f} s)",
            timeout=max(0.0, deadline - time.monotonic()),
        )
        # ...and the live pleth follows, once the new connection's data channel is up (its own
        # SCTP handshake: on this loaded machine, measured 3 to 8 s after the video).
        await eventually(
            lambda: _both_above(doctor, (0, samples + 5)), "the live pleth back", timeout=30
        )
        await expect(media).to_have_attribute("data-state", "connected")
        await expect(link).to_have_text("Liaison établie.")
        await expect(cabin).to_have_class(re.compile(r"\bonline\b"))

        # Everything measured during the cut reaches the record once: no gap, no double.
        await eventually(
            _stored_after(settings, cpts.cabin_id, restored_at),
            "a measurement taken after the line came back stored",
            timeout=20,
        )
        stored = await _stored(settings, cpts.cabin_id)
        seqs = [seq for seq, _ in stored]
        assert seqs == list(range(1, len(seqs) + 1)), "a measurement lost or stored twice"
        during = [seq for seq, at in stored if cut_at + 1 < at < restored_at - 1]
        assert len(during) >= 10, f"only {len(during)} measurements from the cut stored"
        assert await _state(settings, cid) is State.IN_CONSULTATION
    finally:
        await context.close()
        agent.terminate()
        try:
            await asyncio.wait_for(agent.wait(), 15)
        except TimeoutError:
            agent.kill()
            await agent.wait()
        log.close()
        with contextlib.suppress(OSError):
            print((tmp_path / "agent.log").read_text()[-4000:])


async def _shown_since(page: Page, since: float) -> bool:
    """Whether the oximeter's value on the doctor's screen was measured after `since`."""
    last = await page.evaluate(
        """() => Date.parse(document.querySelector('li[data-device="Oxymètre"]').dataset.lastAt
                             || "1970-01-01T00:00:00Z") / 1000"""
    )
    return float(last) > since


async def _both_above(page: Page, floor: tuple[int, int]) -> bool:
    frames, samples = await _counters(page)
    return frames >= floor[0] and samples >= floor[1]


def _count_stored(settings: Settings, cabin_id: int, count: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return len(await _stored(settings, cabin_id)) >= count

    return check


def _stored_after(settings: Settings, cabin_id: int, when: float):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return any(at > when + 1 for _, at in await _stored(settings, cabin_id))

    return check
