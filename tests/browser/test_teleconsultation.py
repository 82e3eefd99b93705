"""The heart of the product in a real browser: the nurse checks a patient in and marks them
ready, the doctor joins on a 1366x768 laptop and sees the room (without scrolling) and the
otoscope, hears the stethoscope, asks for a blood pressure from the console and reads it on the
vitals monitor, and ends the teleconsultation (state: reporting). A screenshot of the console
with live media and vitals is kept as tests/artifacts/doctor-console-1366x768.png."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from cabin_agent.agent import CabinAgent
from hub.config import Settings
from hub.demo import DemoSeed
from tests.support.consoles import at_least, frames, login
from tests.support.live import LiveHub
from tests.support.scenario import agent_config as config
from tests.support.scenario import booking_now
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}
ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "doctor-console-1366x768.png"


async def test_nurse_and_doctor_run_a_teleconsultation(
    browser: Browser, media_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    hub = media_hub
    await booking_now(settings)
    agent = CabinAgent(config(hub, demo, tmp_path), simulate=True)
    task = asyncio.create_task(agent.run())
    nurse_ctx = await browser.new_context(locale="fr-FR")
    doctor_ctx = await browser.new_context(
        locale="fr-FR", viewport=LAPTOP, permissions=["camera", "microphone"]
    )
    try:
        await asyncio.wait_for(agent.link.online.wait(), 15)
        nurse = await nurse_ctx.new_page()
        await login(nurse, hub, "infirmiere", "demo-infirmiere-52")
        row = nurse.locator("tr", has_text="LAMBERT Odile")
        await row.get_by_role("button", name="Accueillir").click()
        await expect(nurse.get_by_role("heading", name="LAMBERT Odile arrivé")).to_be_visible()
        await nurse.get_by_label("Lieu de naissance (code INSEE)").fill("52448")
        await nurse.get_by_label("Pièce présentée").select_option("cni")
        await nurse.get_by_label("Les traits ci-dessus correspondent à la pièce").check()
        await nurse.get_by_role("button", name="Valider l'identité").click()
        await expect(nurse.get_by_text("Identité vérifiée")).to_be_visible()
        await nurse.get_by_label("Le patient consent à la téléconsultation").check()
        await nurse.get_by_label("Accepte le dépôt du compte rendu").check()
        await nurse.get_by_role("button", name="Enregistrer").first.click()
        await nurse.get_by_role("button", name="Commencer la préconsultation").click()
        await nurse.get_by_role("button", name="Prêt pour le médecin").click()
        await expect(nurse.get_by_text("Le patient attend le médecin.")).to_be_visible()

        doctor = await doctor_ctx.new_page()
        # The console lives on its event stream: reading the vitals or the cabins again
        # fails, so whatever appears below came live (no polling to fall back on).
        for polled in ("**/api/v1/consultations/*/mesures", "**/api/v1/cabines"):
            await doctor.route(polled, lambda route: route.abort())
        await login(doctor, hub, "medecin", "demo-medecin-52")
        waiting = doctor.locator("tr", has_text="LAMBERT Odile")
        await waiting.get_by_role("button", name="Rejoindre").click()
        await expect(doctor.get_by_role("heading", name="En direct")).to_be_visible()
        await expect(doctor.locator("[data-media]")).to_have_attribute(
            "data-state", "connected", timeout=20_000
        )
        for video in ("video.room", "video.otoscope"):
            await at_least(doctor, video, 10)
        room = await doctor.locator("video.room").bounding_box()
        assert room is not None and room["width"] > 300
        assert await doctor.evaluate("() => window.scrollY") == 0
        assert room["y"] + room["height"] <= LAPTOP["height"]  # no scrolling to see the room
        first_room = await frames(doctor, "video.room")
        await expect(doctor.locator("audio.stethoscope")).to_have_attribute("data-playing", "1")
        await at_least(doctor, "video.room", first_room + 5)  # still rising

        # A frozen picture: "Reconnecter la vidéo" restarts ICE; media keeps flowing and the
        # consultation goes on. (Should the cabin's side have closed meanwhile — aiortc closes
        # it when DTLS is gone, which a starved machine can provoke — the page opens a new
        # connection instead, and the cabin answers it with a new session.)
        before = await frames(doctor, "video.room")
        [(first, status)] = (await agent.media.describe()).items()
        await doctor.get_by_role("button", name="Reconnecter la vidéo").click()
        await at_least(doctor, "video.room", before + 30)
        await expect(doctor.locator("[data-media]")).to_have_attribute("data-state", "connected")
        # The doctor is told the link is back, not left reading "Reconnexion en cours…".
        await expect(doctor.locator('[data-media] [data-field="link"]')).to_have_text(
            "Liaison établie.", timeout=20_000
        )

        async def restarted() -> bool:
            now = (await agent.media.describe()).get(first)
            return (
                now is None
                or now.connection != status.connection
                or now.ice_restarts > status.ice_restarts
            )

        await eventually(
            restarted,
            "the cabin's new ICE credentials, or its new connection",
        )

        # The doctor's camera reaches the room: the nurse's console, open since the patient
        # was ready, shows it without a reload.
        await expect(nurse.locator('[data-room-media] [data-field="link"]')).to_have_text(
            "Le médecin est à l'écran.", timeout=20_000
        )
        await at_least(nurse, "video.doctor", 10)

        cuff = doctor.locator('li[data-device="Tensiomètre"]')
        await cuff.get_by_role("button", name="Mesurer").click()
        pressure = doctor.locator('[data-vitals] [data-measure="blood_pressure"]')
        await expect(pressure.locator(".tile-value")).to_have_text(
            re.compile(r"^\d+/\d+ \(\d+\) mmHg$"), timeout=20_000
        )
        await expect(pressure).to_contain_text("Tensiomètre")
        await expect(doctor.locator("table.vitals")).to_contain_text("PAS/PAD (PAM)")
        await expect(cuff.locator('[data-field="value"]')).to_contain_text("mmHg")
        # Live vitals on the data channel: the oximeter's value and its pleth waveform.
        oximeter = doctor.locator('li[data-device="Oxymètre"]')
        await oximeter.get_by_role("button", name="Mesurer").click()
        live_line = doctor.locator('[data-media] [data-field="vitals"]')
        await expect(live_line).to_contain_text("Oxymètre", timeout=15_000)
        # The figure and its unit never part at a line's end (« 71 » / « /min »).
        assert re.search(r"\d\u00a0\S+$", await live_line.text_content() or ""), (
            await live_line.text_content()
        )
        await expect(doctor.locator("canvas.pleth")).to_have_attribute(
            "data-samples", re.compile(r"\d{2,}"), timeout=15_000
        )
        await expect(
            doctor.locator('[data-vitals] [data-measure="spo2"] .tile-value')
        ).to_have_text(re.compile(r"^\d+ %$"), timeout=15_000)
        await doctor.evaluate("() => window.scrollTo(0, 0)")  # the buttons scrolled the page
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        await doctor.screenshot(path=str(ARTIFACT))
        await doctor.get_by_role("button", name="Enregistrer une image de l'otoscope").click()
        await expect(doctor.locator('[data-field="capture"]')).to_have_text(
            "Image enregistrée dans le dossier."
        )
        await expect(doctor.locator(".captures img")).to_have_count(1)
        await doctor.get_by_role("button", name="Terminer → compte rendu").click()
        await expect(doctor.get_by_text("compte rendu", exact=True)).to_be_visible()
    finally:
        await doctor_ctx.close()
        await nurse_ctx.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
