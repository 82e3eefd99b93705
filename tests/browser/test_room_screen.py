"""The room's screen in a real browser: the nurse's console is open in the room while the
patient waits; the doctor joins the teleconsultation and leaves it, twenty times (Chromium's
fake camera). Each time the doctor's page says the link is up, the room's screen shows the
doctor's picture moving within 5 s — with no reload of the room's page, on its one
connection to the cabin."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from playwright.async_api import TimeoutError as PageTimeout

from cabin_agent.agent import CabinAgent
from cabin_agent.config import MediaSection
from hub.config import Settings
from hub.demo import DemoSeed
from tests.support.consoles import at_least, frames, login
from tests.support.live import LiveHub
from tests.support.scenario import agent_config, booking_now, waiting_for_doctor

pytestmark = pytest.mark.browser

JOINS = 20
#: Once the doctor's page is connected, the room must show the doctor moving within this time.
SHOWN_WITHIN_SECONDS = 5.0
#: Frames that prove the picture moves (a frozen picture shows none after its first).
MOVING = 3
NOT_YET = "Le médecin n'a pas encore rejoint la téléconsultation."
WAITING = "En attente du médecin : son image s'affichera dès qu'il sera connecté."
#: Joins stay cheap on a busy machine: small trolley videos, no medical devices.
LIGHT_MEDIA = MediaSection(
    video_width=320, video_height=240, video_fps=10.0, min_video_width=320, adapt=False
)


async def test_the_room_sees_the_doctor_every_time_the_doctor_joins(
    browser: Browser, media_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    hub = media_hub
    consultation_id = await waiting_for_doctor(settings, await booking_now(settings))
    config = agent_config(hub, demo, tmp_path).model_copy(
        update={"devices": [], "media": LIGHT_MEDIA}
    )
    agent = CabinAgent(config, simulate=True)
    task = asyncio.create_task(agent.run())
    nurse_ctx = await browser.new_context(locale="fr-FR")
    doctor_ctx = await browser.new_context(locale="fr-FR", permissions=["camera", "microphone"])
    try:
        await asyncio.wait_for(agent.link.online.wait(), 15)
        nurse = await nurse_ctx.new_page()
        await login(nurse, hub, "infirmiere", "demo-infirmiere-52")
        await nurse.goto(f"{hub.url}/salle/consultations/{consultation_id}")
        link = nurse.locator('[data-room-media] [data-field="link"]')
        await expect(link).to_have_text(NOT_YET)

        doctor = await doctor_ctx.new_page()
        await login(doctor, hub, "medecin", "demo-medecin-52")
        for join in range(1, JOINS + 1):
            if join == 1:  # from the waiting room; the room's page hears it and connects
                waiting = doctor.locator("tr", has_text="LAMBERT Odile")
                await waiting.get_by_role("button", name="Rejoindre").click()
            else:  # back to the consultation under way
                await doctor.goto(f"{hub.url}/medecin/consultations/{consultation_id}")
            await expect(doctor.locator("[data-media]")).to_have_attribute(
                "data-state", "connected", timeout=20_000
            )
            shown = await frames(nurse, "video.doctor")
            try:
                await at_least(nurse, "video.doctor", shown + MOVING, timeout=SHOWN_WITHIN_SECONDS)
            except PageTimeout as error:
                raise AssertionError(f"join {join}: the room does not see the doctor") from error
            await expect(link).to_have_text("Le médecin est à l'écran.")
            await doctor.goto("about:blank")  # the doctor leaves; the room stays connected
        # The doctor gone, the room's screen says so.
        await expect(link).to_have_text(WAITING, timeout=10_000)
    finally:
        await doctor_ctx.close()
        await nurse_ctx.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
