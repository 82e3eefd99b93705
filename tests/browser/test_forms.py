"""The staff's forms in a real browser: refused, they come back as typed, each problem in
French next to its field (the browser's own checks do not stand in for the hub's)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from hub.demo import DemoSeed
from tests.support.live import LiveHub

pytestmark = pytest.mark.browser


async def _login(page: Page, hub: LiveHub, username: str, password: str) -> None:
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill(username)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()


async def test_a_refused_booking_policy_comes_back_as_typed_next_to_its_field(
    page: Page, live_hub: LiveHub, demo: DemoSeed
) -> None:
    await _login(page, live_hub, "coordination", "demo-coordination-52")
    rules = page.locator("section", has=page.get_by_role("heading", name="Règles de prise"))
    await rules.get_by_label("Rappels").fill("24, demain")
    await rules.get_by_label("Motifs exclus").fill("certificat de sport")
    await rules.get_by_role("button", name="Enregistrer").click()
    reminders = rules.get_by_label("Rappels")
    await expect(reminders).to_have_value("24, demain")
    await expect(reminders).to_have_attribute("aria-invalid", "true")
    await expect(rules.locator("#p-reminder_hours-error")).to_have_text(
        "Rappels : « demain » n'est pas un nombre d'heures entre 1 et 336."
    )
    await expect(rules.get_by_label("Motifs exclus")).to_have_value("certificat de sport")
    # The summary's link takes the keyboard to the field.
    await rules.get_by_role("link", name="Rappels : « demain »").click()
    await expect(reminders).to_be_focused()


async def test_a_refused_relay_doctor_comes_back_as_typed_with_every_problem(
    page: Page, live_hub: LiveHub, demo: DemoSeed
) -> None:
    await _login(page, live_hub, "coordination", "demo-coordination-52")
    await page.goto(live_hub.url + "/coordination/medecins-relais")
    await page.get_by_label("Nom", exact=True).fill("Dr Hélène Roux")
    await page.get_by_label("Ville").fill("Chaumont")
    await page.get_by_label("E-mail").fill("helene.roux@")
    await page.get_by_role("button", name="Ajouter").click()
    await expect(page.locator("#rd-email-error")).to_have_text(
        "Adresse e-mail invalide : « helene.roux@ »."
    )
    await expect(page.get_by_label("Nom", exact=True)).to_have_value("Dr Hélène Roux")
    await expect(page.get_by_label("Ville")).to_have_value("Chaumont")
    await expect(page.get_by_label("E-mail")).to_have_value("helene.roux@")
