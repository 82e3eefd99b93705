"""The pages people reach by a step rather than by a route's plain GET, checked by axe-core in
Chromium like every route's page (test_accessibility.py): the guest's invitation page and the
page of a link opened in another browser; the patient's record holding a signed report, on a
phone; the error pages (unknown page, refused role, bad link, wrong password); the online
booking's red-flag and refused-form pages; and the staff's pages after a post (the doctor's
signed report, the secretary's record link sent, the coordinator's saved yearly-report input
and new cabin token). One browser context per person."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from hub.config import Settings
from hub.consultation.guests import hashed
from hub.consultation.models import Consultation, Guest, GuestRole
from hub.identity.models import Role
from hub.records.patient_links import record_token
from hub.records.patients import Patient
from tests.browser.test_accessibility import KNOWN
from tests.browser.walk import PHONE
from tests.support.axe import Violation, blocking_violations, install_axe
from tests.support.factories import ACCOUNTS, ORG_SLUG, Cpts, session_for
from tests.support.live import LiveHub
from tests.support.scenario import ended_consultation

pytestmark = pytest.mark.browser


async def _context(browser: Browser, *, phone: bool = False) -> BrowserContext:
    if phone:
        context = await browser.new_context(
            locale="fr-FR", viewport=PHONE, is_mobile=True, has_touch=True
        )
    else:
        context = await browser.new_context(locale="fr-FR")
    await install_axe(context)
    return context


async def _signed_in(browser: Browser, hub: LiveHub, role: Role) -> Page:
    page = await (await _context(browser)).new_page()
    account = next(a for a in ACCOUNTS if a.role is role)
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill(account.username)
    await page.get_by_label("Mot de passe").fill(account.password)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(lambda url: "/connexion" not in url)
    return page


async def _guest_link(settings: Settings, consultation_id: int) -> str:
    """An interpreter's one-time link into the consultation, as the invitation sends it."""
    token = secrets.token_urlsafe(32)
    async with session_for(settings) as session:
        session.add(
            Guest(
                consultation_id=consultation_id,
                role=GuestRole.INTERPRETER,
                invited_name="Amina Haddad",
                email="amina.haddad@example.org",
                token_hash=hashed(token),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
            )
        )
        await session.commit()
    return f"/invitation/{token}"


async def _record_link(settings: Settings, consultation_id: int) -> str:
    async with session_for(settings) as session:
        consultation = await session.get_one(Consultation, consultation_id)
        patient = await session.get_one(Patient, consultation.patient_id)
        token = record_token(
            settings.secret_key.get_secret_value(), patient, now=dt.datetime.now(dt.UTC)
        )
    return f"/mon-dossier/{token}"


class Checker:
    """axe's blocking violations, page after page, with what was seen (to fail on a page
    that did not show what the step should have)."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []

    async def check(self, page: Page, name: str) -> None:
        self.violations += await blocking_violations(page, name)

    def problems(self) -> list[str]:
        return [str(v) for v in self.violations if (v.page, v.rule) not in KNOWN]


async def _doctor_signs(axe: Checker, browser: Browser, hub: LiveHub, cid: int) -> None:
    doctor = await _signed_in(browser, hub, Role.DOCTOR)
    await doctor.goto(f"{hub.url}/medecin/consultations/{cid}")
    report = doctor.locator("#compte-rendu")
    await report.get_by_role("button", name="Signer et envoyer").click()  # no conclusion
    await expect(doctor.get_by_role("alert")).to_contain_text("indiquez la conclusion")
    await axe.check(doctor, "/medecin/consultations/{id} [signature refusée]")
    await report.get_by_label("Conclusion").fill("Bronchite aiguë sans signe de gravité.")
    await report.get_by_role("button", name="Signer et envoyer").click()
    await expect(doctor.get_by_text("Version 1 signée")).to_be_visible()
    await axe.check(doctor, "/medecin/consultations/{id} [compte rendu signé]")


async def _patient_and_guest(
    axe: Checker, browser: Browser, hub: LiveHub, settings: Settings, cid: int
) -> None:
    patient = await (await _context(browser, phone=True)).new_page()
    await patient.goto(hub.url + await _record_link(settings, cid))
    await expect(
        patient.get_by_role("link", name="Compte rendu de téléconsultation")
    ).to_be_visible()
    await axe.check(patient, "/mon-dossier/{token} [avec un compte rendu, téléphone]")
    for path, seen, name in (
        ("/mon-dossier/lien-invalide", "lien", "/mon-dossier/{token} [lien invalide]"),
        ("/page-qui-n-existe-pas", "Cette page n'existe pas", "[404]"),
    ):
        response = await patient.goto(hub.url + path)
        assert response is not None and response.status >= 400
        await expect(patient.locator("main")).to_contain_text(seen)
        await axe.check(patient, name)

    link = await _guest_link(settings, cid)
    guest = await (await _context(browser)).new_page()
    await guest.goto(hub.url + link)
    await expect(
        guest.get_by_label("Votre nom, tel que les participants le verront")
    ).to_be_visible()
    await axe.check(guest, "/invitation/{token}")
    elsewhere = await (await _context(browser)).new_page()
    response = await elsewhere.goto(hub.url + link)  # the link, forwarded to someone else
    assert response is not None and response.status == 410
    await axe.check(elsewhere, "/invitation/{token} [autre navigateur]")


async def _public(axe: Checker, browser: Browser, hub: LiveHub) -> None:
    visitor = await (await _context(browser, phone=True)).new_page()
    await visitor.goto(hub.url + "/connexion")
    await visitor.get_by_label("Identifiant").fill("infirmiere")
    await visitor.get_by_label("Mot de passe").fill("pas-le-bon")
    await visitor.get_by_role("button", name="Se connecter").click()
    await expect(visitor.get_by_role("alert")).to_be_visible()
    await axe.check(visitor, "/connexion [refusée]")

    await visitor.goto(f"{hub.url}/rdv/{ORG_SLUG}")
    await visitor.locator(".primary-link").click()
    await visitor.get_by_role("button", name="Réserver ce créneau").click()  # nothing filled
    await expect(visitor.get_by_role("alert").first).to_be_visible()
    await axe.check(visitor, "/rdv/{slug}/creneau/{slot_id} [formulaire incomplet]")
    await visitor.get_by_label("Douleur dans la poitrine").check()
    await visitor.get_by_role("button", name="J'ai coché un signe : que faire ?").click()
    await expect(visitor.get_by_role("heading", name="Appelez le 15 maintenant")).to_be_visible()
    await axe.check(visitor, "/rdv/{slug}/creneau/{slot_id} [signe d'alerte]")


async def _staff_after_a_post(
    axe: Checker, browser: Browser, hub: LiveHub, settings: Settings, cid: int
) -> None:
    nurse = await _signed_in(browser, hub, Role.NURSE)
    response = await nurse.goto(hub.url + "/coordination")
    assert response is not None and response.status == 403
    await axe.check(nurse, "/coordination [rôle refusé]")

    secretary = await _signed_in(browser, hub, Role.SECRETARY)
    async with session_for(settings) as session:
        patient_id = (await session.get_one(Consultation, cid)).patient_id
    await secretary.goto(f"{hub.url}/secretariat/patients/{patient_id}")
    await secretary.get_by_role("button", name="Envoyer un nouveau lien").click()
    await expect(secretary.locator("main")).to_contain_text("lien")
    await axe.check(secretary, "/secretariat/patients/{id}/lien-dossier")

    coordinator = await _signed_in(browser, hub, Role.COORDINATOR)
    await coordinator.goto(hub.url + "/coordination/rapport-annuel")
    await coordinator.get_by_label("Commentaire : Téléconsultations réalisées").fill("Ouverture.")
    await coordinator.get_by_role("button", name="Enregistrer").click()
    await expect(coordinator.get_by_role("status").first).to_contain_text("enregistrés")
    await axe.check(coordinator, "/coordination/rapport-annuel [enregistré]")
    await coordinator.goto(hub.url + "/coordination")
    await coordinator.get_by_label("Nom de la cabine").fill("Chariot 2")
    await coordinator.get_by_role("button", name="Créer la cabine et son jeton").click()
    await expect(coordinator.locator("main")).to_contain_text("Chariot 2")
    await axe.check(coordinator, "/coordination/cabines [jeton de la nouvelle cabine]")


async def test_pages_reached_by_a_step_have_no_serious_accessibility_violation(
    browser: Browser, live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    cid = await ended_consultation(settings, cpts.cabin_id)
    axe = Checker()
    await _doctor_signs(axe, browser, live_hub, cid)
    await _patient_and_guest(axe, browser, live_hub, settings, cid)
    await _public(axe, browser, live_hub)
    await _staff_after_a_post(axe, browser, live_hub, settings, cid)
    problems = axe.problems()
    assert problems == [], f"{len(problems)} serious or critical violations:\n" + "\n".join(
        problems
    )
