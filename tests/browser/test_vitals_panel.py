"""The vitals as a clinician reads them, in Chromium at a laptop's 1366x768: the doctor's
console shows the room camera without scrolling and, beside it, the monitor with the latest
blood pressure as "131/86 (101) mmHg", SpO2 and temperature with their French labels, a fever
marked "hors normes"; the history has one row per blood-pressure reading and the oximeter
summarised. Measurements come from an agent's connection to the hub, live; the same page
without JavaScript shows the same. The room's console shows the doctor and the same vitals.
A screenshot of the doctor's console (history open) is kept as
tests/artifacts/doctor-console-vitals-1366x768.png. A tile's "Mesurer" asks the (simulated)
trolley for that measure."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import websockets
from playwright.async_api import Browser, Locator, Page, expect
from websockets.asyncio.client import ClientConnection

from cabin_agent.agent import CabinAgent
from cabin_agent.config import MediaSection
from devices.measurements import DeviceIdentity, Measurement, MeasurementKind, Unit
from hub.config import Settings
from hub.wire import (
    WIRE_VERSION,
    DeviceDescription,
    Hello,
    MeasurementAck,
    WireMeasurement,
    parse_hub_message,
)
from tests.conftest import PASSWORDS
from tests.support.axe import blocking_violations, install_axe
from tests.support.factories import Cpts
from tests.support.live import LiveHub
from tests.support.scenario import agent_config, booking_now, in_consultation

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}
ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "doctor-console-vitals-1366x768.png"
DEVICES = (
    DeviceDescription(
        name="Tensiomètre", kind="blood_pressure_cuff", model="generic_gatt_cuff", transport="ble"
    ),
    DeviceDescription(
        name="Oxymètre", kind="pulse_oximeter", model="contec_cms50d_plus", transport="serial"
    ),
    DeviceDescription(
        name="Thermomètre", kind="thermometer", model="generic_gatt_thermometer", transport="ble"
    ),
)


class Trolley:
    """A cabin agent's connection, sending readings as the agent does (one sequence)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.seq = ws, 0

    async def reading(self, device: str, *values: tuple[MeasurementKind, float, Unit]) -> None:
        """One reading (its measurements received together), stored and acknowledged."""
        at = dt.datetime.now(dt.UTC)
        items = []
        for kind, value, unit in values:
            self.seq += 1
            m = Measurement(kind, value, unit, at, DeviceIdentity(device, "S1"))
            items.append(
                {
                    "seq": self.seq,
                    "device": device,
                    "measurement": WireMeasurement.from_measurement(m).model_dump(mode="json"),
                }
            )
        await self.ws.send(json.dumps({"v": WIRE_VERSION, "type": "measurements", "items": items}))
        while True:  # the hub may relay the doctor's media offer meanwhile: not ours to answer
            message = parse_hub_message(await asyncio.wait_for(self.ws.recv(), 10))
            if isinstance(message, MeasurementAck):
                assert len(message.seqs) == len(items), message
                return

    async def blood_pressure(
        self, systolic: float, diastolic: float, mean: float, pulse: float
    ) -> None:
        await self.reading(
            "Tensiomètre",
            (MeasurementKind.BLOOD_PRESSURE_SYSTOLIC, systolic, Unit.MMHG),
            (MeasurementKind.BLOOD_PRESSURE_DIASTOLIC, diastolic, Unit.MMHG),
            (MeasurementKind.BLOOD_PRESSURE_MEAN, mean, Unit.MMHG),
            (MeasurementKind.PULSE_RATE, pulse, Unit.PER_MINUTE),
        )


@pytest.fixture
async def quiet_hub(settings: Settings) -> AsyncIterator[LiveHub]:
    """A hub that waits a minute for heartbeats: the test's agent sends readings only."""
    hub = LiveHub(
        settings.model_copy(
            update={"agent_heartbeat_seconds": 30.0, "agent_offline_after_seconds": 60.0}
        )
    )
    await hub.start()
    yield hub
    await hub.stop()


@asynccontextmanager
async def trolley(hub: LiveHub, seed: Cpts) -> AsyncIterator[Trolley]:
    async with websockets.connect(
        hub.ws_url, additional_headers={"Authorization": f"Bearer {seed.cabin_token}"}
    ) as ws:
        hello = Hello(cabin_id=seed.cabin_id, agent_version="1", devices=DEVICES)
        await ws.send(hello.model_dump_json())
        await asyncio.wait_for(ws.recv(), 10)
        yield Trolley(ws)


async def _login(page: Page, hub: LiveHub, username: str) -> None:
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill(username)
    await page.get_by_label("Mot de passe").fill(PASSWORDS[username])
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(lambda url: "/connexion" not in url)


async def _words(locator: Locator) -> list[str]:
    """The text of each paragraph and cell, whitespace as a reader sees it."""
    return [" ".join(t.split()) for t in await locator.locator("p, td").all_text_contents()]


async def _in_view(page: Page, selector: str) -> None:
    """The element is wholly inside the viewport, as the page opened (no scrolling)."""
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    assert await page.evaluate("() => window.scrollY") == 0
    assert box["width"] > 300, box  # large, not a thumbnail
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= LAPTOP["width"], box
    assert box["y"] + box["height"] <= LAPTOP["height"], box


async def test_the_doctor_reads_the_vitals_beside_the_video_on_a_laptop(
    browser: Browser, quiet_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    hub = quiet_hub
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    doctor_ctx = await browser.new_context(
        locale="fr-FR", viewport=LAPTOP, permissions=["camera", "microphone"]
    )
    nurse_ctx = await browser.new_context(locale="fr-FR", viewport=LAPTOP)
    plain_ctx = await browser.new_context(
        locale="fr-FR", viewport=LAPTOP, java_script_enabled=False
    )
    await install_axe(doctor_ctx)
    await install_axe(nurse_ctx)
    try:
        async with trolley(hub, cpts) as cabin:
            doctor = await doctor_ctx.new_page()
            await _login(doctor, hub, "medecin")
            await doctor.goto(f"{hub.url}/medecin/consultations/{cid}")
            await _in_view(doctor, "video.room")
            panel = doctor.locator("[data-vitals]")
            await expect(panel.locator('[data-measure="blood_pressure"]')).to_contain_text(
                "pas encore mesuré"
            )
            nurse = await nurse_ctx.new_page()
            await _login(nurse, hub, "infirmiere")
            await nurse.goto(f"{hub.url}/salle/consultations/{cid}")
            await _in_view(nurse, "video.doctor")

            # Readings arrive while both consoles are open: they come by the event stream.
            await cabin.blood_pressure(128, 84, 99, 67)
            await cabin.reading(
                "Thermomètre", (MeasurementKind.BODY_TEMPERATURE, 38.6, Unit.CELSIUS)
            )
            for spo2, pulse in ((97, 72), (98, 71), (96, 73)):
                await cabin.reading(
                    "Oxymètre",
                    (MeasurementKind.SPO2, spo2, Unit.PERCENT),
                    (MeasurementKind.PULSE_RATE, pulse, Unit.PER_MINUTE),
                )
            await cabin.blood_pressure(131, 86, 101, 66)

            bp = panel.locator('[data-measure="blood_pressure"]')
            await expect(bp).to_contain_text("Pression artérielle")
            await expect(bp.locator(".tile-value")).to_have_text("131/86 (101) mmHg")
            await expect(bp).to_contain_text("Tensiomètre")
            await expect(bp).not_to_contain_text("hors normes")
            spo2_tile = panel.locator('[data-measure="spo2"]')
            await expect(spo2_tile).to_contain_text("Saturation en oxygène (SpO2)")
            await expect(spo2_tile.locator(".tile-value")).to_have_text("96 %")
            temperature = panel.locator('[data-measure="body_temperature"]')
            await expect(temperature).to_contain_text("Température")
            await expect(temperature.locator(".tile-value")).to_have_text("38,6 °C")
            await expect(temperature).to_contain_text("hors normes")
            await expect(temperature).to_have_class("tile alert")
            pulse_tile = panel.locator('[data-measure="pulse_rate"]')
            await expect(pulse_tile).to_contain_text("Fréquence cardiaque")
            await expect(pulse_tile.locator(".tile-value")).to_have_text("66 /min")

            await panel.get_by_text("Historique des mesures").click()
            history = panel.locator('[data-field="history"] tr')
            await expect(history.filter(has_text="Tensiomètre")).to_have_count(2)
            await expect(history.filter(has_text="PAS/PAD (PAM) 128/84 (99) mmHg")).to_have_count(1)
            oximeter = history.filter(has_text="Oxymètre")
            assert await oximeter.count() in (1, 2)  # per minute: the readings may straddle one
            await expect(oximeter.first).to_contain_text("SpO2")
            await expect(history.filter(has_text="T° 38,6 °C hors normes")).to_have_count(1)
            await expect(history).to_have_count(3 + await oximeter.count())

            await _in_view(doctor, "video.room")
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            await doctor.screenshot(path=str(ARTIFACT))
            assert await blocking_violations(doctor, "console du médecin, constantes") == []

            # The nurse's console heard the same readings.
            room_bp = nurse.locator('[data-vitals] [data-measure="blood_pressure"] .tile-value')
            await expect(room_bp).to_have_text("131/86 (101) mmHg")
            await nurse.screenshot(path=str(ARTIFACT.with_name("room-console-1366x768.png")))
            assert await blocking_violations(nurse, "console de la salle, constantes") == []

            # Without JavaScript, the page the hub renders says the same.
            plain = await plain_ctx.new_page()
            await _login(plain, hub, "medecin")
            await plain.goto(f"{hub.url}/medecin/consultations/{cid}")
            static = plain.locator("[data-vitals]")
            await expect(
                static.locator('[data-measure="blood_pressure"] .tile-value')
            ).to_have_text("131/86 (101) mmHg")
            await expect(static.locator('[data-measure="body_temperature"]')).to_contain_text(
                "hors normes"
            )
            rows = static.locator('[data-field="history"] tr')
            await expect(rows.filter(has_text="Tensiomètre")).to_have_count(2)
            await expect(rows).to_have_count(await history.count())
            # The page's script renders the panel as the hub does, to the word.
            for part in ('[data-field="monitor"]', '[data-field="history"]'):
                assert await _words(static.locator(part)) == await _words(panel.locator(part))
    finally:
        await plain_ctx.close()
        await nurse_ctx.close()
        await doctor_ctx.close()


async def test_a_tiles_measure_button_brings_a_new_value_into_that_tile(
    browser: Browser, media_hub: LiveHub, cpts: Cpts, settings: Settings, tmp_path: Path
) -> None:
    """The doctor asks the thermometer for a temperature from the temperature tile itself (the
    same device command as the cabins' list): the tile shows the new value and its device;
    the tile of a measure the trolley cannot take on demand has no button."""
    hub = media_hub
    cid = await in_consultation(settings, await booking_now(settings), "medecin")
    config = agent_config(hub, cpts, tmp_path)
    config = config.model_copy(
        update={
            "devices": [d for d in config.devices if d.name == "Thermomètre"],
            "media": MediaSection(video_width=320, video_height=240, video_fps=5.0, adapt=False),
        }
    )
    agent = CabinAgent(config, simulate=True)
    task = asyncio.create_task(agent.run())
    doctor_ctx = await browser.new_context(locale="fr-FR", permissions=["camera", "microphone"])
    try:
        await asyncio.wait_for(agent.link.online.wait(), 15)
        doctor = await doctor_ctx.new_page()
        await _login(doctor, hub, "medecin")
        await doctor.goto(f"{hub.url}/medecin/consultations/{cid}")
        panel = doctor.locator("[data-vitals]")
        temperature = panel.locator('[data-measure="body_temperature"]')
        await expect(temperature).to_contain_text("pas encore mesuré")
        await expect(panel.locator('[data-measure="spo2"]').get_by_role("button")).to_have_count(0)
        await temperature.get_by_role("button", name="Mesurer").click()
        await expect(temperature.locator(".tile-value")).to_have_text(
            re.compile(r"^\d+(,\d)? °C$"), timeout=30_000
        )
        await expect(temperature.locator(".tile-meta")).to_contain_text("Thermomètre")
        # The button is still there for the next measurement, and says how the last went.
        await expect(temperature.get_by_role("button", name="Mesurer")).to_be_enabled()
        await expect(temperature.get_by_role("status")).to_contain_text("Thermomètre :")
    finally:
        await doctor_ctx.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
