"""Media through the TURN relay, for the networks where no direct path exists: the hub forces
relay-only ICE (HUB_ICE_TRANSPORT_POLICY=relay) on the doctor's Chromium and on the cabin's
aiortc, both authenticated to Debian's coturn with the hub's short-lived credentials. The
doctor sees the room; Chromium's selected path is a relay candidate, and coturn's log shows the
allocations and the channels of that doctor's credential."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from pydantic import SecretStr

from cabin_agent.agent import CabinAgent
from hub.config import Settings
from tests.support.coturn import ThrowawayCoturn
from tests.support.factories import PASSWORDS, Cpts
from tests.support.live import LiveHub
from tests.support.scenario import agent_config, booking_now, in_consultation
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser


@pytest.fixture
def coturn() -> Iterator[ThrowawayCoturn]:
    server = ThrowawayCoturn()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def relay_hub(settings: Settings, coturn: ThrowawayCoturn) -> AsyncIterator[LiveHub]:
    hub = LiveHub(
        settings.model_copy(
            update={
                "agent_heartbeat_seconds": 3.0,
                "agent_offline_after_seconds": 15.0,
                "turn_urls": coturn.url,
                "turn_secret": SecretStr(coturn.secret),
                "turn_ttl_seconds": 600,
                "ice_transport_policy": "relay",
            }
        )
    )
    await hub.start()
    yield hub
    await hub.stop()


async def _login(page: Page, hub: LiveHub) -> None:
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill("medecin")
    await page.get_by_label("Mot de passe").fill(PASSWORDS["medecin"])
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(lambda url: "/connexion" not in url)


async def test_media_crosses_coturn_when_only_relays_are_allowed(
    browser: Browser,
    relay_hub: LiveHub,
    coturn: ThrowawayCoturn,
    cpts: Cpts,
    settings: Settings,
    tmp_path: Path,
) -> None:
    hub = relay_hub
    cid = await in_consultation(settings, await booking_now(settings), "medecin")
    agent = CabinAgent(agent_config(hub, cpts, tmp_path), simulate=True)
    task = asyncio.create_task(agent.run())
    context = await browser.new_context(locale="fr-FR", permissions=["camera", "microphone"])
    try:
        await asyncio.wait_for(agent.link.online.wait(), 15)
        doctor = await context.new_page()
        await _login(doctor, hub)
        await doctor.goto(f"{hub.url}/medecin/consultations/{cid}")
        media = doctor.locator("[data-media]")
        await expect(media).to_have_attribute("data-state", "connected", timeout=30_000)
        await doctor.wait_for_function(
            "() => Number(document.querySelector('video.room').dataset.frames || 0) >= 10",
            timeout=30_000,
        )
        # Chromium's selected candidate pair starts from its relayed address; so does the
        # cabin's.
        await expect(media).to_have_attribute("data-route", "relay", timeout=10_000)
        [session] = (await agent.media.describe()).values()
        assert session.route == "relay"

        # coturn relayed for this doctor's credential: the browser's allocation and the
        # cabin's, and the channels bound between them.
        names = re.findall(r"username=<(\d+:doctor-\d+)>", coturn.log_text())
        assert names, coturn.log_text()[-2000:]
        user = names[0]
        await eventually(
            lambda: (
                coturn.log_text().count(
                    f"user <{user}>: incoming packet ALLOCATE processed, success"
                )
                >= 2
            ),
            "an allocation for the doctor's browser and one for the cabin",
        )
        assert f"user <{user}>: incoming packet CHANNEL_BIND processed, success" in (
            coturn.log_text()
        ) or f"user <{user}>: incoming packet CREATE_PERMISSION processed, success" in (
            coturn.log_text()
        )
    finally:
        await context.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
