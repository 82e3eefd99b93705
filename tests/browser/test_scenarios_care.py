"""Scenarios 5 and 9 of SCENARIOS.md walked in Chromium: the SAS regulator's booking seen by
the CPTS's secretary; the psychiatric unscheduled care prepared by the nurse (PHQ-9, GAD-7)
and teleconsulted by the doctor, who writes a plan. A screenshot at each key step goes to
tests/artifacts/scenarios/."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from hub.config import Settings
from tests.browser.walk import on_a_phone, shot, staff
from tests.hub.interop.conftest import DEMO_FINESS, make_sas_client
from tests.hub.interop.support import next_weekday, resources, search, search_url
from tests.hub.interop.test_sas_appointments import appointment
from tests.support import factories as make
from tests.support.factories import CLOS_MORTIER, ORG_SLUG, Cpts, session_for
from tests.support.live import LiveHub

pytestmark = pytest.mark.browser

FRIDAY = 4


async def test_scenario_5_the_sas_regulator_books_a_slot(
    browser: Browser, live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    sas = await make_sas_client(settings, ORG_SLUG, finess=DEMO_FINESS)
    friday = next_weekday(FRIDAY)
    async with httpx.AsyncClient(base_url=live_hub.url) as platform:
        # The SAS platform reads the CPTS's free slots; the regulator books one for the caller.
        bundle = await search(platform, sas.headers, search_url(friday, friday))
        slots = [
            s
            for s in resources(bundle, "Slot")
            if {c["code"] for c in s["meta"]["security"]} == {"SNP", "CPTS"}
        ]
        assert slots, "the SAS sees the slots kept for it"
        slot_id = slots[0]["id"]
        created = await platform.post(
            "/fhir/Appointment", headers=sas.headers, json=appointment(slot_id)
        )
        assert created.status_code == 201, created.text
        reference = created.json()["id"]
        # The hub reports it back: the appointment, booked, as the platform reads it again.
        again = await platform.get(f"/fhir/Appointment/{reference}", headers=sas.headers)
        assert again.status_code == 200 and again.json()["status"] == "booked"

    # The CPTS sees the booking as coming from the SAS, by whom, for what.
    secretary = await staff(browser, live_hub, "secretariat")
    await secretary.get_by_label("Nom", exact=True).fill("durand")
    await secretary.get_by_role("button", name="Chercher").click()
    await secretary.locator("tr", has_text="DURAND Léa").get_by_role("link", name="Ouvrir").click()
    history = secretary.locator("tr", has_text="Fièvre à 39 °C")
    await expect(history).to_contain_text("SAS")
    await shot(secretary, 5, "historique-secretariat")
    await history.get_by_role("link").click()
    await expect(secretary.get_by_role("heading", name=f"Rendez-vous {reference}")).to_be_visible()
    await expect(secretary.locator(".readback")).to_contain_text(
        "Pris par le SAS (régulation) — Dr Anne Roux."
    )
    await shot(secretary, 5, "rendez-vous-sas")
    # The slot kept for the SAS is not offered online.
    patient = await on_a_phone(browser)
    await patient.goto(f"{live_hub.url}/rdv/{ORG_SLUG}")
    assert f"/creneau/{slot_id}" not in await patient.content()


async def _psychiatric_booking(settings: Settings, cpts: Cpts) -> None:
    """A GP asked for a first psychiatric opinion: booked at Clos Mortier in a few minutes."""
    async with session_for(settings) as session:
        now = dt.datetime.now(dt.UTC)
        slot = await make.slot(
            session, site_id=cpts.site_ids[CLOS_MORTIER], starts_at=now + dt.timedelta(minutes=5)
        )
        patient = await make.patient(
            session,
            organisation_id=cpts.organisation_id,
            today=now.date(),
            birth_name="Girard",
            first_names="Hugo",
            birth_date=dt.date(1991, 7, 22),
        )
        await session.commit()
        await make.booking(
            session,
            slot_id=slot.id,
            patient_id=patient.id,
            now=now,
            reason="Premier avis psychiatrique demandé par le Dr Roy (médecin traitant)",
        )


async def _prepare(nurse: Page) -> None:
    """The nurse checks the patient in, their identity and consent, and the history."""
    row = nurse.locator("tr", has_text="GIRARD Hugo")
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


async def test_scenario_9_psychiatric_unscheduled_care(
    browser: Browser, live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    await _psychiatric_booking(settings, cpts)
    nurse = await staff(browser, live_hub, "infirmiere")
    await _prepare(nurse)
    pre = nurse.locator("section", has=nurse.get_by_role("heading", name="3. Préconsultation"))
    await pre.get_by_label("Antécédents").fill("Épisode dépressif en 2019, suivi arrêté.")
    await pre.get_by_label("Traitements").fill("Sertraline 50 mg arrêtée il y a un an.")
    await pre.get_by_text("Échelles PHQ-9 et GAD-7").click()
    for i, score in enumerate((2, 2, 1, 2, 1, 2, 1, 1, 0), start=1):
        await pre.get_by_label(f"PHQ-9 question {i}", exact=True).fill(str(score))
    for i, score in enumerate((2, 2, 1, 1, 1, 2, 1), start=1):
        await pre.get_by_label(f"GAD-7 question {i}", exact=True).fill(str(score))
    await pre.get_by_role("button", name="Enregistrer").click()
    card = nurse.locator("section", has=nurse.get_by_role("heading", name="GIRARD Hugo"))
    await expect(card).to_contain_text("PHQ-9")
    await expect(card).to_contain_text("12 / 27")
    await expect(card).to_contain_text("10 / 21")
    await nurse.get_by_role("button", name="Prêt pour le médecin").click()
    await expect(nurse.get_by_text("Le patient attend le médecin.")).to_be_visible()
    await shot(nurse, 9, "preconsultation")

    # The psychiatrist (a doctor of the CPTS: the product knows no specialty) teleconsults.
    doctor = await staff(browser, live_hub, "medecin")
    waiting = doctor.locator("tr", has_text="GIRARD Hugo")
    await expect(waiting).to_contain_text("Premier avis psychiatrique")
    await shot(doctor, 9, "salle-d-attente")
    await waiting.get_by_role("button", name="Rejoindre").click()
    patient_card = doctor.locator("section", has=doctor.get_by_role("heading", name="GIRARD Hugo"))
    await expect(patient_card).to_contain_text("12 / 27 — dépression")
    await expect(patient_card).to_contain_text("Sertraline")
    await doctor.get_by_role("button", name="Terminer → compte rendu").click()
    report = doctor.locator("#compte-rendu")
    await report.get_by_label("Examen").fill("Humeur triste, pas d'idée suicidaire active.")
    await report.get_by_label("Conclusion").fill(
        "Épisode dépressif modéré. Plan : reprise de la sertraline, psychothérapie, "
        "revoir dans 4 semaines."
    )
    await report.get_by_label("Prescriptions").fill("Sertraline 50 mg, 1 le matin, 28 jours.")
    await report.get_by_label("Téléconsultation de psychiatrie").check()
    await report.get_by_role("button", name="Signer et envoyer").click()
    await expect(doctor.get_by_text(re.compile("Version 1 signée"))).to_be_visible()
    await shot(doctor, 9, "plan-signe")
