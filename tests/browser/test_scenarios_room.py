"""Scenarios 1 and 7 of SCENARIOS.md walked in Chromium with a simulated trolley (the cabin
agent with its device simulators, in the test's event loop): a morning at the Clos Mortier
room, from the agenda to the relay doctor; and what breaks — an oximeter unplugged, the hub
restarted. A screenshot at each key step goes to tests/artifacts/scenarios/."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from cabin_agent.agent import CabinAgent
from cabin_agent.simulation import SerialSimulation
from hub.config import Settings
from hub.records.observations import Observation
from hub.scheduling.models import Booking
from tests.browser.walk import shot, staff
from tests.support.factories import Cpts, session_for
from tests.support.live import LiveHub
from tests.support.scenario import agent_config, booking_now

pytestmark = pytest.mark.browser
DEVICES = ("Tensiomètre", "Oxymètre", "Thermomètre")


@pytest.fixture
async def room_hub(settings: Settings) -> AsyncIterator[LiveHub]:
    """One event loop runs the hub and the agent (which encodes video): production heartbeats."""
    hub = LiveHub(
        settings.model_copy(
            update={"agent_heartbeat_seconds": 3.0, "agent_offline_after_seconds": 15.0}
        )
    )
    await hub.start()
    yield hub
    await hub.stop()


@contextlib.asynccontextmanager
async def trolley(hub: LiveHub, cpts: Cpts, data_dir: Path) -> AsyncIterator[CabinAgent]:
    """The Clos Mortier trolley, its devices simulated, online."""
    agent = CabinAgent(agent_config(hub, cpts, data_dir), simulate=True)
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.link.online.wait(), 15)
        yield agent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _measure(page: Page, name: str) -> None:
    """Press « Mesurer » for a device of the trolley, from the page the user is on."""
    await (
        page.locator(f'li[data-device="{name}"]')
        .first.get_by_role("button", name="Mesurer")
        .click()
    )


async def test_scenario_1_a_morning_at_the_clos_mortier_room(
    browser: Browser, room_hub: LiveHub, cpts: Cpts, settings: Settings, tmp_path: Path
) -> None:
    hub = room_hub
    booking_id = await booking_now(settings)
    async with session_for(settings) as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        booking.confirmed_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=20)  # her reminder
        await session.commit()
    async with trolley(hub, cpts, tmp_path):
        # 8:00: today's agenda, who confirmed, and the trolley's devices all ready.
        nurse = await staff(browser, hub, "infirmiere")
        row = nurse.locator("tr", has_text="LAMBERT Odile")
        await expect(row.get_by_text("confirmé", exact=True)).to_be_visible()
        for name in DEVICES:
            await expect(
                nurse.locator(f'li[data-device="{name}"] [data-field="state"]')
            ).to_have_text("prêt", timeout=20_000)
        await shot(nurse, 1, "agenda")

        # Check-in, identity against the ID card, consent and the shared-record choice.
        await row.get_by_role("button", name="Accueillir").click()
        await nurse.get_by_label("Lieu de naissance (code INSEE)").fill("52448")
        await nurse.get_by_label("Pièce présentée").select_option("cni")
        await nurse.get_by_label("Les traits ci-dessus correspondent à la pièce").check()
        await nurse.get_by_role("button", name="Valider l'identité").click()
        await expect(nurse.get_by_text("Identité vérifiée")).to_be_visible()
        await nurse.get_by_label("Le patient consent à la téléconsultation").check()
        await nurse.get_by_label("Accepte le dépôt du compte rendu").check()
        await nurse.get_by_role("button", name="Enregistrer").first.click()
        await nurse.get_by_role("button", name="Commencer la préconsultation").click()
        # Blood pressure, temperature, SpO2, taken from the room's console.
        for name in DEVICES:
            await _measure(nurse, name)
        vitals = nurse.locator("[data-vitals]")
        for measure in ("blood_pressure", "body_temperature", "spo2"):
            await expect(
                vitals.locator(f'[data-measure="{measure}"] .tile-value .figure')
            ).not_to_have_text("—", timeout=30_000)
        pre = nurse.locator("section", has=nurse.get_by_role("heading", name="3. Préconsultation"))
        await pre.get_by_label("Antécédents").fill("Hypertension traitée.")
        await pre.get_by_role("button", name="Enregistrer").click()
        await nurse.get_by_role("button", name="Prêt pour le médecin").click()
        await expect(nurse.get_by_text("Le patient attend le médecin.")).to_be_visible()
        await shot(nurse, 1, "preconsultation")

        # The doctor sees the patient waiting with the reason and the vitals already taken.
        doctor = await staff(browser, hub, "medecin")
        waiting = doctor.locator("tr", has_text="LAMBERT Odile")
        await expect(waiting).to_contain_text("Toux fébrile")
        await expect(waiting).to_contain_text("mmHg")
        await shot(doctor, 1, "salle-d-attente")
        await waiting.get_by_role("button", name="Rejoindre").click()
        await expect(doctor.locator("[data-media]")).to_have_attribute(
            "data-state", "connected", timeout=30_000
        )
        await expect(doctor.locator("audio.stethoscope")).to_have_attribute(
            "data-playing", "1", timeout=20_000
        )
        await doctor.wait_for_function(
            "() => Number(document.querySelector('video.otoscope')?.dataset.frames || 0) >= 5",
            timeout=30_000,
        )
        await doctor.get_by_role("button", name="Enregistrer une image de l'otoscope").click()
        await expect(doctor.locator('[data-field="capture"]')).to_have_text(
            "Image enregistrée dans le dossier."
        )
        # A second blood pressure, asked from the doctor's console.
        await _measure(doctor, "Tensiomètre")
        await expect(doctor.locator("table.vitals tbody tr", has_text="PAS/PAD")).to_have_count(
            2, timeout=30_000
        )
        await doctor.evaluate("() => window.scrollTo(0, 0)")
        await shot(doctor, 1, "teleconsultation")
        await doctor.get_by_role("button", name="Terminer → compte rendu").click()
        report = doctor.locator("#compte-rendu")
        await report.get_by_label("Examen").fill("Tympans normaux, auscultation libre.")
        await report.get_by_label("Conclusion").fill("Rhinopharyngite virale.")
        await report.get_by_label("Suivi par un médecin relais").check()
        card, act = (
            await report.bounding_box(),
            await report.get_by_label("Acte infirmier").bounding_box(),
        )
        assert card is not None and act is not None
        assert act["x"] + act["width"] <= card["x"] + card["width"]  # no field out of its card
        await report.get_by_role("button", name="Signer et envoyer").click()
        await expect(doctor.get_by_text(re.compile("Version 1 signée"))).to_be_visible()
        await shot(doctor, 1, "compte-rendu")

        # The patient leaves with the report; without a médecin traitant, the nurse books a
        # relay doctor who accepts new patients.
        await nurse.reload()
        await expect(nurse.get_by_role("link", name="PDF")).to_be_visible()
        relay = nurse.locator("section", has=nurse.get_by_role("heading", name="Médecin relais"))
        await relay.get_by_role("button", name="Orienter le patient").click()
        await expect(nurse.get_by_role("status").filter(has_text="orienté")).to_be_visible()
        await expect(nurse.locator("body")).to_contain_text("Orienté vers Dr Anne Roy")
        await shot(nurse, 1, "medecin-relais")


def _paris_hour_now() -> set[str]:
    """The hour in Paris a minute ago and now (a reading taken around the hour's turn)."""
    now = dt.datetime.now(ZoneInfo("Europe/Paris"))
    return {str((now - dt.timedelta(minutes=m)).hour) for m in (0, 1)}


async def _stored(settings: Settings) -> list[tuple[int, int]]:
    async with session_for(settings) as session:
        rows = await session.execute(select(Observation.cabin_id, Observation.seq))
        return [(int(c), int(s)) for c, s in rows.all()]


async def test_scenario_7_something_breaks(
    browser: Browser, room_hub: LiveHub, cpts: Cpts, settings: Settings, tmp_path: Path
) -> None:
    hub = room_hub
    async with trolley(hub, cpts, tmp_path) as agent:
        nurse = await staff(browser, hub, "infirmiere")
        oximeter = nurse.locator('li[data-device="Oxymètre"] [data-field="state"]')
        await expect(oximeter).to_have_text("prêt", timeout=20_000)
        await _measure(nurse, "Oxymètre")
        await expect(
            nurse.locator('li[data-device="Oxymètre"] [data-field="value"]')
        ).to_contain_text("%", timeout=20_000)
        # Its time is the room's (Paris), whatever the computer's clock is set to (UTC here).
        value = await nurse.locator('li[data-device="Oxymètre"] [data-field="value"]').inner_text()
        assert _paris_hour_now() & {value.split(" · ")[1].split(" h ")[0]}
        # The oximeter's cable is pulled: the panel shows it lost, then ready when plugged back.
        assert agent.trolley is not None
        simulation = agent.trolley.simulations["Oxymètre"]
        assert isinstance(simulation, SerialSimulation)
        simulation.simulator.unplug()
        await expect(oximeter).to_have_text("perdu", timeout=20_000)
        await shot(nurse, 7, "oxymetre-debranche")
        simulation.simulator.replug()
        await expect(oximeter).to_have_text(re.compile("prêt|mesure"), timeout=20_000)
        await shot(nurse, 7, "oxymetre-rebranche")

        # The hub is restarted during the day: the trolley comes back by itself, and nothing
        # taken before, during or after is lost or counted twice.
        await _measure(nurse, "Thermomètre")
        cabin = nurse.locator("tr", has_text="Chariot du Clos Mortier")
        before = await _stored(settings)
        await hub.stop()
        await hub.start()
        await nurse.reload()
        await expect(cabin.locator('[data-field="status"]')).to_have_text(
            "en ligne", timeout=30_000
        )
        await _measure(nurse, "Tensiomètre")
        await expect(
            nurse.locator('li[data-device="Tensiomètre"] [data-field="value"]')
        ).to_contain_text("mmHg", timeout=30_000)
        await shot(nurse, 7, "apres-redemarrage")
        after = await _stored(settings)
        assert len(after) > len(before) > 0
        assert len(after) == len(set(after))  # each reading stored once
        seqs = sorted(s for _, s in after)
        assert seqs == list(range(1, len(seqs) + 1))  # none lost
