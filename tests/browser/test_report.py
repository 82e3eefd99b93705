"""The end of a teleconsultation in a real browser: the doctor writes and signs the report; the
médecin traitant's mailbox (a real SMTP server) receives it as an MSSanté-style IHE_XDM.ZIP;
the patient opens the link they were sent and sees the document and who accessed their data
(scenario 8 of SCENARIOS.md, the doctor orienting the patient back to their médecin traitant;
its screenshots are tests/artifacts/scenarios/8-*.png)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from hub.config import Settings
from hub.demo import DemoSeed
from tests.browser.walk import shot
from tests.support.live import LiveHub
from tests.support.scenario import GP_ADDRESS as MT_ADDRESS
from tests.support.scenario import PATIENT_EMAIL, ended_consultation
from tests.support.smtp import Delivered, SmtpServerFixture, smtp_server
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser
__all__ = ["smtp_server"]


@pytest.fixture
async def mail_hub(settings: Settings, smtp_server: SmtpServerFixture) -> AsyncIterator[LiveHub]:
    """A live hub whose jobs deliver the outbox to the test's SMTP server every half second."""
    hub = LiveHub(
        settings.model_copy(
            update={
                "jobs_enabled": True,
                "jobs_interval_seconds": 0.5,
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_server.settings.port,
                "smtp_starttls": False,
                "mssante_sender": "cpts-demo@cpts.mssante.fr",
            }
        )
    )
    await hub.start()
    yield hub
    await hub.stop()


async def _login(page: Page, hub: LiveHub, username: str, password: str) -> None:
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill(username)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()


def _mail_to(smtp: SmtpServerFixture, address: str) -> Delivered | None:
    for delivered in smtp.collector.delivered:
        if address in delivered.rcpt_tos:
            return delivered
    return None


async def _received(smtp: SmtpServerFixture, address: str) -> Delivered:
    await eventually(lambda: _mail_to(smtp, address), timeout=20)
    mail = _mail_to(smtp, address)
    assert mail is not None
    return mail


async def test_doctor_signs_the_report_the_gp_receives_it_the_patient_sees_it(
    browser: Browser,
    mail_hub: LiveHub,
    demo: DemoSeed,
    settings: Settings,
    smtp_server: SmtpServerFixture,
) -> None:
    hub = mail_hub
    cid = await ended_consultation(settings, demo.cabin_id)
    doctor_ctx = await browser.new_context(locale="fr-FR")
    patient_ctx = await browser.new_context(locale="fr-FR")
    try:
        doctor = await doctor_ctx.new_page()
        await _login(doctor, hub, "medecin", "demo-medecin-52")
        await doctor.goto(f"{hub.url}/medecin/consultations/{cid}")
        report = doctor.locator("#compte-rendu")
        await expect(report.get_by_text("Température")).to_be_visible()
        await expect(report.get_by_label("Motif")).to_have_value("Toux fébrile")
        await report.get_by_label("Examen").fill("Crépitants de la base droite.")
        await report.get_by_label("Conclusion").fill("Pneumopathie sans signe de gravité.")
        await report.get_by_label("Prescriptions").fill("Amoxicilline 1 g × 3 par jour, 7 jours.")
        # A physical examination is needed: the patient goes back to their médecin traitant.
        await report.get_by_label("Retour vers le médecin traitant").check()
        # Signing without a conclusion is refused in words; the text typed so far is kept.
        await report.get_by_label("Conclusion").fill("")
        await report.get_by_role("button", name="Signer et envoyer").click()
        await expect(doctor.get_by_role("alert")).to_contain_text("indiquez la conclusion")
        await (
            doctor.locator("#compte-rendu")
            .get_by_label("Conclusion")
            .fill("Pneumopathie sans signe de gravité.")
        )
        await (
            doctor.locator("#compte-rendu").get_by_role("button", name="Signer et envoyer").click()
        )
        await expect(doctor.get_by_text("Version 1 signée")).to_be_visible()
        await expect(doctor.get_by_text("Dossier partagé : déposé")).to_be_visible()
        await shot(doctor, 8, "compte-rendu-signe")

        # The médecin traitant's secure mailbox receives the XDM package.
        mail = await _received(smtp_server, MT_ADDRESS)
        assert mail.message["X-MSS-CODECDA"] == "85208-7"
        (attachment,) = [part for part in mail.message.iter_attachments() if part.get_filename()]
        assert attachment.get_filename() == "IHE_XDM.ZIP"
        archive = zipfile.ZipFile(io.BytesIO(attachment.get_content()))
        assert "IHE_XDM/SUBSET01/DOC0001.XML" in archive.namelist()
        cda = archive.read("IHE_XDM/SUBSET01/DOC0001.XML").decode()
        assert "85208-7" in cda and "LAMBERT" in cda
        await doctor.reload()
        await expect(
            doctor.get_by_text(
                re.compile(rf"Médecin traitant \(.*{re.escape(MT_ADDRESS)}.*\) : envoyé")
            )
        ).to_be_visible()

        # The patient follows the link they were sent.
        note = await _received(smtp_server, PATIENT_EMAIL)
        body = note.message.get_body(preferencelist=("plain",))
        assert body is not None
        link = re.search(r"https?://\S+/mon-dossier/\S+", body.get_content())
        assert link is not None
        patient = await patient_ctx.new_page()
        await patient.goto(link.group(0))
        await expect(
            patient.get_by_role("heading", name="Mon dossier de téléconsultation")
        ).to_be_visible()
        documents = patient.locator(
            "section", has=patient.get_by_role("heading", name="Mes documents")
        )
        await expect(
            documents.get_by_role("link", name="Compte rendu de téléconsultation")
        ).to_be_visible()
        traces = patient.locator(
            "section", has=patient.get_by_role("heading", name="Qui a consulté mon dossier")
        )
        await expect(traces.get_by_text("Dr Paul Durand").first).to_be_visible()
        await shot(patient, 8, "dossier-du-patient")
        href = await documents.get_by_role(
            "link", name="Compte rendu de téléconsultation"
        ).get_attribute("href")
        assert href is not None
        pdf = await patient.request.get(hub.url + href)
        assert pdf.ok and (await pdf.body()).startswith(b"%PDF")
    finally:
        await doctor_ctx.close()
        await patient_ctx.close()
