"""The pages in a real browser: logging in, live cabin status, managing a cabin."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from playwright.async_api import Page, expect

from cabin_agent.connection import Backoff, HubLink
from hub.demo import DemoSeed
from tests.support.live import LiveHub

pytestmark = pytest.mark.browser


async def _login(page: Page, hub: LiveHub, username: str, password: str) -> None:
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill(username)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()


async def test_nurse_sees_her_trolley_come_online_without_reloading(
    page: Page, live_hub: LiveHub, demo: DemoSeed
) -> None:
    # The panel lives on the page's event stream: reading the cabins again fails.
    await page.route("**/api/v1/cabines", lambda route: route.abort())
    await _login(page, live_hub, "infirmiere", "demo-infirmiere-52")
    await expect(page).to_have_url(live_hub.url + "/infirmier")
    await expect(page.get_by_role("heading", name="Bonjour Julie Petit")).to_be_visible()
    row = page.locator("tr", has_text="Chariot du Clos Mortier")
    await expect(row.locator('[data-field="status"]')).to_have_text("hors ligne")
    await expect(row.locator('[data-field="last_seen"]')).to_have_text("jamais")
    link = HubLink(
        ws_url=live_hub.ws_url,
        cabin_id=demo.cabin_id,
        token=demo.cabin_token,
        agent_version="1.0",
        heartbeat_seconds=0.2,
        backoff=Backoff(0.05, 0.2),
    )
    task = asyncio.create_task(link.run())
    try:
        await expect(row.locator('[data-field="status"]')).to_have_text("en ligne", timeout=10_000)
        await expect(row.locator('[data-field="last_seen"]')).not_to_have_text("jamais")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await expect(row.locator('[data-field="status"]')).to_have_text("hors ligne", timeout=10_000)


async def test_wrong_password_shows_the_reason(
    page: Page, live_hub: LiveHub, demo: DemoSeed
) -> None:
    await _login(page, live_hub, "infirmiere", "mauvais-mot-de-passe")
    await expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect.")
    await expect(page.get_by_label("Identifiant")).to_have_value("infirmiere")


async def test_keyboard_user_logs_in_and_skips_to_content(
    page: Page, live_hub: LiveHub, demo: DemoSeed
) -> None:
    await page.goto(live_hub.url + "/connexion")
    await expect(page.get_by_label("Identifiant")).to_be_focused()
    await page.keyboard.type("medecin")
    await page.keyboard.press("Tab")
    await page.keyboard.type("demo-medecin-52")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(live_hub.url + "/medecin")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Aller au contenu")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()


async def test_coordinator_creates_then_revokes_a_cabin(
    page: Page, live_hub: LiveHub, demo: DemoSeed
) -> None:
    await _login(page, live_hub, "coordination", "demo-coordination-52")
    await page.get_by_label("Site").select_option(label="Cabinet de La Noue")
    await page.get_by_label("Nom de la cabine").fill("Chariot de secours")
    await page.get_by_role("button", name="Créer la cabine et son jeton").click()
    heading = page.get_by_role("heading", name="Jeton de la cabine « Chariot de secours »")
    await expect(heading).to_be_visible()
    token = await page.get_by_label("Jeton").input_value()
    assert token.startswith("cab_")
    await page.get_by_role("link", name="Retour à la coordination").click()
    row = page.locator("tr", has_text="Chariot de secours")
    await row.get_by_role("button", name="Révoquer").click()
    await expect(page.get_by_role("status")).to_contain_text("Le jeton de la cabine est révoqué")
    await expect(page.locator("tr", has_text="Chariot de secours")).to_contain_text("jeton révoqué")


async def test_logout_from_the_header(page: Page, live_hub: LiveHub, demo: DemoSeed) -> None:
    await _login(page, live_hub, "secretariat", "demo-secretariat-52")
    await page.get_by_role("button", name="Se déconnecter").click()
    await expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté·e.")
    await page.goto(live_hub.url + "/secretariat")
    await expect(page).to_have_url(live_hub.url + "/connexion?suivant=/secretariat")
