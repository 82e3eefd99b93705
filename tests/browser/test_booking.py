"""Booking in a real browser: a patient on a phone, the secretary on the line."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect

from hub.demo import DemoSeed
from tests.support.live import LiveHub

pytestmark = pytest.mark.browser


async def _mobile_page(browser: Browser) -> Page:
    context = await browser.new_context(
        locale="fr-FR", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    return await context.new_page()


async def test_patient_books_the_earliest_slot_on_a_phone(
    browser: Browser, live_hub: LiveHub, demo: DemoSeed
) -> None:
    page = await _mobile_page(browser)
    await page.goto(live_hub.url + "/rdv")
    await expect(
        page.get_by_role("heading", name="Prendre rendez-vous en téléconsultation")
    ).to_be_visible()
    earliest = page.locator(".primary-link")
    when = await earliest.inner_text()
    await earliest.click()
    await expect(page.get_by_role("heading", name="Votre rendez-vous")).to_be_visible()
    await page.get_by_label("Nom de naissance").fill("Lefèvre")
    await page.get_by_label("Prénom(s) de naissance").fill("Marie")
    await page.get_by_label("Date de naissance").fill("1985-04-12")
    await page.get_by_label("Féminin").check()
    await page.get_by_label("Téléphone portable").fill("06 12 34 56 78")
    await page.get_by_label("Je n'ai pas de médecin traitant").check()
    await page.get_by_label("Pourquoi souhaitez-vous consulter ?").fill("Mal de gorge")
    await page.get_by_label("J'accepte que la CPTS enregistre").check()
    await page.get_by_role("button", name="Réserver ce créneau").click()
    await expect(page.get_by_role("status")).to_contain_text("Votre rendez-vous est enregistré")
    await expect(page.locator("dl.facts")).to_contain_text(when.split(" — ")[0])
    await page.get_by_role("button", name="Je confirme ma venue").click()
    await expect(page.get_by_role("status")).to_have_text("Merci : votre présence est confirmée.")
    await page.context.close()


async def test_patient_chooses_a_day_without_javascript_and_books_a_slot_of_it(
    browser: Browser, live_hub: LiveHub, demo: DemoSeed
) -> None:
    context = await browser.new_context(
        locale="fr-FR", viewport={"width": 390, "height": 844}, java_script_enabled=False
    )
    page = await context.new_page()
    await page.goto(live_hub.url + "/rdv/cpts-demo")
    # Each room says when it is next free.
    await expect(page.locator(".next-free")).to_have_count(2)
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    monday = today + dt.timedelta(days=(-today.weekday() - 1) % 7 + 1)
    await page.get_by_label("Autre jour").fill(monday.isoformat())
    await page.get_by_role("button", name="Voir ce jour").click()
    heading = f"Créneaux libres le lundi {monday.day} "
    await expect(page.get_by_role("heading", name=heading)).to_be_visible()
    clos = page.get_by_role("list", name="Cabinet du Clos Mortier")
    await expect(clos.get_by_role("link")).to_have_count(12)  # the whole morning
    await page.get_by_role("link", name="Jour suivant →").click()
    tuesday = monday + dt.timedelta(days=1)
    await expect(page.get_by_role("link", name=f"mar. {tuesday.day} ")).to_have_attribute(
        "aria-current", "date"
    )
    await page.get_by_role("link", name="Jour précédent").click()
    await clos.get_by_role("link", name="9 h 00").click()
    await expect(page.get_by_role("heading", name="Votre rendez-vous")).to_be_visible()
    await expect(page.locator(".lead")).to_contain_text(f"lundi {monday.day} ")
    await expect(page.locator(".lead")).to_contain_text("à 9 h — Cabinet du Clos Mortier")
    await context.close()


async def test_red_flag_sends_the_patient_to_the_15(
    browser: Browser, live_hub: LiveHub, demo: DemoSeed
) -> None:
    page = await _mobile_page(browser)
    await page.goto(live_hub.url + "/rdv/cpts-demo")
    await page.locator(".primary-link").click()
    # The first question: ticked, it stops the booking at once, with nothing else filled in.
    await page.get_by_label("Douleur dans la poitrine").check()
    await page.get_by_role("button", name="J'ai coché un signe : que faire ?").click()
    await expect(page.get_by_role("heading", name="Appelez le 15 maintenant")).to_be_visible()
    await expect(page.get_by_role("link", name="Appeler le 15")).to_have_attribute("href", "tel:15")
    await page.context.close()


async def test_a_wrong_form_says_every_problem_at_once_and_keeps_what_was_typed(
    browser: Browser, live_hub: LiveHub, demo: DemoSeed
) -> None:
    page = await _mobile_page(browser)
    await page.goto(live_hub.url + "/rdv/cpts-demo")
    await page.locator(".primary-link").click()
    await page.get_by_label("Nom de naissance").fill("Lefèvre")
    await page.get_by_label("Numéro de sécurité sociale (facultatif)").fill("1 85 04 75 123 456 99")
    await page.get_by_label("Pourquoi souhaitez-vous consulter ?").fill("Mal de gorge")
    await page.get_by_role("button", name="Réserver ce créneau").click()
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("points sont à corriger")
    await expect(summary).to_contain_text("Indiquez le ou les prénoms.")
    await expect(summary).to_contain_text("clé du numéro de sécurité sociale")
    await expect(summary).to_contain_text("Votre accord est nécessaire")
    # Each problem is next to its field and read with it; what was typed is still there.
    await expect(page.get_by_label("Prénom(s) de naissance")).to_have_accessible_description(
        "Indiquez le ou les prénoms."
    )
    await expect(page.get_by_label("Nom de naissance")).to_have_value("Lefèvre")
    await expect(page.get_by_label("Numéro de sécurité sociale (facultatif)")).to_have_value(
        "1 85 04 75 123 456 99"
    )
    await expect(page.get_by_label("Pourquoi souhaitez-vous consulter ?")).to_have_value(
        "Mal de gorge"
    )
    await page.context.close()


async def test_secretary_books_a_caller_in_a_couple_of_actions(
    page: Page, live_hub: LiveHub, demo: DemoSeed
) -> None:
    await page.goto(live_hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill("secretariat")
    await page.get_by_label("Mot de passe").fill("demo-secretariat-52")
    await page.get_by_role("button", name="Se connecter").click()
    await page.get_by_label("Nom de naissance").fill("Moreau")
    await page.get_by_label("Prénom(s)").fill("Jeanne")
    await page.locator("#np-birth_date").fill("1948-02-03")
    await page.get_by_label("Sexe").select_option("F")
    await page.get_by_label("Téléphone").last.fill("03 25 11 22 33")
    await page.get_by_role("button", name="Créer le patient").click()
    await expect(page.get_by_role("heading", name="MOREAU Jeanne")).to_be_visible()
    await page.get_by_label("Motif").fill("Toux depuis une semaine")
    await page.get_by_role("button", name="Réserver").click()
    await expect(page.get_by_role("heading", name="À relire au patient")).to_be_visible()
    await expect(page.locator(".readback")).to_contain_text(
        "Jeanne MOREAU, votre téléconsultation est le"
    )
    await expect(page.locator(".readback")).to_contain_text("pas de rappel automatique")
