"""The end of a teleconsultation in a real browser: the doctor writes and signs the report; the
médecin traitant's mailbox (a real SMTP server) receives it as an MSSanté-style IHE_XDM.ZIP;
the patient opens the link they were sent and sees the document and who accessed their data."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.consultation.models import Consultation, DmpChoice, State
from hub.demo import DemoSeed
from hub.identity.models import User
from hub.records.observations import Observation
from hub.records.patients import Patient
from hub.scheduling.models import Booking
from tests.support.live import LiveHub
from tests.support.scenario import booking_now, in_consultation
from tests.support.smtp import Delivered, SmtpServerFixture, smtp_server
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser
__all__ = ["smtp_server"]

MT_ADDRESS = "paul.bernard@medecin.mssante.fr"
PATIENT_EMAIL = "odile.lambert@example.org"


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


async def _reporting_consultation(settings: Settings, demo: DemoSeed) -> int:
    """Odile Lambert's teleconsultation has just ended: her GP has a secure address, she
    accepted the shared record, and her temperature was taken."""
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        now = dt.datetime.now(dt.UTC)
        booking = await session.get(Booking, booking_id)
        consultation = await session.get(Consultation, cid)
        nurse = await session.scalar(select(User).where(User.username == "infirmiere"))
        assert booking is not None and consultation is not None and nurse is not None
        patient = await session.get(Patient, booking.patient_id)
        assert patient is not None
        patient.email = PATIENT_EMAIL
        patient.has_medecin_traitant = True
        patient.medecin_traitant_name = "Dr Paul Bernard"
        patient.medecin_traitant_mssante = MT_ADDRESS
        consultation.state = State.REPORTING
        consultation.nurse_id = nurse.id
        consultation.identity_document = "cni"
        consultation.identity_checked_at = now - dt.timedelta(minutes=20)
        consultation.consent_at = now - dt.timedelta(minutes=19)
        consultation.dmp_choice = DmpChoice.ACCEPTS
        consultation.started_at = now - dt.timedelta(minutes=15)
        consultation.ended_at = now - dt.timedelta(minutes=1)
        session.add(
            Observation(
                cabin_id=demo.cabin_id,
                seq=1,
                site_id=booking.site_id,
                booking_id=booking.id,
                device_name="thermometer",
                kind="body_temperature",
                value=38.2,
                unit="Cel",
                loinc="8310-5",
                measured_at=now - dt.timedelta(minutes=10),
                device_model="Thermomètre BLE",
                device_serial="TH-0042",
            )
        )
        await session.commit()
    await engine.dispose()
    return cid


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
    cid = await _reporting_consultation(settings, demo)
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
        href = await documents.get_by_role(
            "link", name="Compte rendu de téléconsultation"
        ).get_attribute("href")
        assert href is not None
        pdf = await patient.request.get(hub.url + href)
        assert pdf.ok and (await pdf.body()).startswith(b"%PDF")
    finally:
        await doctor_ctx.close()
        await patient_ctx.close()
