"""Scenarios 8 and 10 of SCENARIOS.md walked in Chromium, by the people they name: the report
reaches the médecin traitant (the secretary records her; the nurse checks the patient in, her
identity qualified through INSi; the doctor orients her back; the MT's secure mailbox — the
tests' real SMTP server — receives it; the patient opens her link), or a relay doctor when there
is none; and the coordinator's yearly activity report (indicators of last year, the CSV and the
PDF read back). A screenshot at each key step goes to tests/artifacts/scenarios/."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pypdfium2
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Page, expect

from hub import db
from hub.app import create_app as hub_create_app
from hub.config import Settings
from hub.insi.adapter import OID_INS_NIR, InsIdentity, Traits
from tests.browser.walk import PHONE, SHOTS, on_a_phone, shot, staff
from tests.hub.reporting.dataset import seed_year_2025
from tests.support import live
from tests.support.factories import CLOS_MORTIER, LA_NOUE, Cpts, session_for
from tests.support.insi import LoopbackInsi, insi
from tests.support.live import LiveHub
from tests.support.scenario import booking_now
from tests.support.smtp import Delivered, SmtpServerFixture, smtp_server
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser
__all__ = ["insi", "smtp_server"]

MT = "paul.bernard@medecin.mssante.fr"  # Odile Lambert's médecin traitant
RELAY = "relais@medecin.mssante.fr"  # Dr Anne Roy, the relay doctor of the tests' CPTS
ODILE = "odile.lambert@example.org"
LAMBERT = InsIdentity(
    ins="258066311300116",
    oid=OID_INS_NIR,
    traits=Traits("LAMBERT", "ODILE", dt.date(1958, 6, 1), "F", "63113"),
)


@pytest.fixture
async def mail_hub(
    settings: Settings, cpts: Cpts, smtp_server: SmtpServerFixture, insi: LoopbackInsi
) -> AsyncIterator[LiveHub]:
    """A live hub on the tests' CPTS whose jobs deliver the outbox to the test's SMTP server
    every half second, and which asks the loopback INSi."""
    insi.add(LAMBERT)
    hub = LiveHub(
        settings.model_copy(
            update={
                "jobs_enabled": True,
                "jobs_interval_seconds": 0.5,
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_server.settings.port,
                "smtp_starttls": False,
                "mssante_sender": "cpts@cpts.mssante.fr",
                "insi_url": insi.url,
            }
        )
    )
    await hub.start()
    yield hub
    await hub.stop()


def _mail_to(smtp: SmtpServerFixture, address: str, subject: str = "") -> Delivered | None:
    for delivered in smtp.collector.delivered:
        if address in delivered.rcpt_tos and subject in str(delivered.message["Subject"]):
            return delivered
    return None


async def _received(smtp: SmtpServerFixture, address: str, subject: str = "") -> Delivered:
    await eventually(lambda: _mail_to(smtp, address, subject), timeout=30)
    mail = _mail_to(smtp, address, subject)
    assert mail is not None
    return mail


def _xdm_document(mail: Delivered) -> str:
    """The CDA document of an MSSanté message's IHE_XDM.ZIP."""
    (attachment,) = [p for p in mail.message.iter_attachments() if p.get_filename()]
    assert attachment.get_filename() == "IHE_XDM.ZIP"
    archive = zipfile.ZipFile(io.BytesIO(attachment.get_content()))
    return archive.read("IHE_XDM/SUBSET01/DOC0001.XML").decode()


async def _secretary_records_the_mt(browser: Browser, hub: LiveHub, *, has_mt: bool) -> None:
    """The secretary finds Odile Lambert, records her e-mail and her médecin traitant (or that
    she has none)."""
    secretary = await staff(browser, hub, "secretariat")
    await secretary.get_by_label("Nom", exact=True).fill("lambert")
    await secretary.get_by_role("button", name="Chercher").click()
    await (
        secretary.locator("tr", has_text="LAMBERT Odile").get_by_role("link", name="Ouvrir").click()
    )
    await secretary.get_by_label("E-mail").fill(ODILE)
    await secretary.get_by_role("button", name="Enregistrer les coordonnées").click()
    mt = secretary.locator("section", has=secretary.get_by_role("heading", name="Médecin traitant"))
    if has_mt:
        await mt.get_by_label("Oui").check()
        await mt.get_by_label("Nom du médecin traitant", exact=True).fill("Bernard")
        await mt.get_by_label("Prénom du médecin traitant").fill("Paul")
        await mt.get_by_label("Messagerie sécurisée (MSSanté)").fill(MT)
    else:
        await mt.get_by_label("Non").check()
    await mt.get_by_role("button", name="Enregistrer").click()
    if has_mt:
        await expect(secretary.locator("dl")).to_contain_text(MT)
        await shot(secretary, 8, "medecin-traitant-renseigne")
    await secretary.context.close()


async def _nurse_prepares(browser: Browser, hub: LiveHub, *, step: str) -> Page:
    """Check-in, identity from INSi then checked on the ID card (qualifiée), consent, no
    opposition to the shared record, ready for the doctor."""
    nurse = await staff(browser, hub, "infirmiere")
    await (
        nurse.locator("tr", has_text="LAMBERT Odile")
        .get_by_role("button", name="Accueillir")
        .click()
    )
    await nurse.get_by_role("button", name="Interroger INSi").click()
    await expect(nurse.locator(".identity-status")).to_have_text(re.compile("récupérée"))
    await nurse.get_by_label("Pièce présentée").select_option("cni")
    await nurse.get_by_label("Les traits ci-dessus correspondent à la pièce").check()
    await nurse.get_by_role("button", name="Valider l'identité").click()
    await expect(nurse.get_by_text("Identité vérifiée")).to_be_visible()
    await expect(nurse.locator(".identity-status")).to_have_text(re.compile("qualifiée"))
    await shot(nurse, 8, step)
    await nurse.get_by_label("Le patient consent à la téléconsultation").check()
    await nurse.get_by_label("Accepte le dépôt du compte rendu").check()
    await nurse.get_by_role("button", name="Enregistrer").first.click()
    await nurse.get_by_role("button", name="Commencer la préconsultation").click()
    await nurse.get_by_role("button", name="Prêt pour le médecin").click()
    await expect(nurse.get_by_text("Le patient attend le médecin.")).to_be_visible()
    return nurse


async def _doctor_signs(browser: Browser, hub: LiveHub, orientation: str) -> Page:
    """The doctor joins, ends the teleconsultation and signs the report with that
    orientation."""
    doctor = await staff(browser, hub, "medecin")
    await (
        doctor.locator("tr", has_text="LAMBERT Odile")
        .get_by_role("button", name="Rejoindre")
        .click()
    )
    await doctor.get_by_role("button", name="Terminer → compte rendu").click()
    report = doctor.locator("#compte-rendu")
    await report.get_by_label("Examen").fill("Douleur du genou droit, épanchement à palper.")
    await report.get_by_label("Conclusion").fill(
        "Examen physique du genou nécessaire : à revoir en cabinet."
    )
    await report.get_by_label(orientation).check()
    await report.get_by_role("button", name="Signer et envoyer").click()
    await expect(doctor.get_by_text(re.compile("Version 1 signée"))).to_be_visible()
    return doctor


async def test_scenario_8_the_report_reaches_the_medecin_traitant(
    browser: Browser, mail_hub: LiveHub, settings: Settings, smtp_server: SmtpServerFixture
) -> None:
    hub = mail_hub
    await booking_now(settings)
    await _secretary_records_the_mt(browser, hub, has_mt=True)
    await _nurse_prepares(browser, hub, step="identite-qualifiee")

    doctor = await _doctor_signs(browser, hub, "Retour vers le médecin traitant")
    # The patient did not oppose it: the signed report is in the shared record.
    await expect(doctor.get_by_text("Dossier partagé : déposé")).to_be_visible()
    await shot(doctor, 8, "compte-rendu-signe")

    # The médecin traitant's secure mailbox receives the report as an IHE_XDM.ZIP.
    mail = await _received(smtp_server, MT)
    assert mail.message["X-MSS-CODECDA"] == "85208-7"
    cda = _xdm_document(mail)
    assert "85208-7" in cda and "LAMBERT" in cda
    assert f'<telecom value="mailto:{MT}"/>' in cda and "<family>BERNARD</family>" in cda
    await doctor.reload()
    await expect(
        doctor.get_by_text(re.compile(rf"Médecin traitant \(.*{re.escape(MT)}.*\) : envoyé"))
    ).to_be_visible()
    await shot(doctor, 8, "envoye-au-medecin-traitant")

    # Later the patient opens the link she was sent and sees the document and who read it.
    note = await _received(smtp_server, ODILE)
    body = note.message.get_body(preferencelist=("plain",))
    assert body is not None
    link = re.search(r"https?://\S+/mon-dossier/\S+", body.get_content())
    assert link is not None
    patient = await on_a_phone(browser)
    await patient.goto(link.group(0))
    documents = patient.locator("section", has=patient.get_by_role("heading", name="Mes documents"))
    document = documents.get_by_role("link", name="Compte rendu de téléconsultation")
    await expect(document).to_be_visible()
    traces = patient.locator(
        "section", has=patient.get_by_role("heading", name="Qui a consulté mon dossier")
    )
    await expect(traces.get_by_text("Dr Paul Durand").first).to_be_visible()
    # On her phone, nothing runs off the screen (the tables read as one block per line).
    assert await patient.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    await shot(patient, 8, "dossier-de-la-patiente")
    href = await document.get_attribute("href")
    assert href is not None
    pdf = await patient.request.get(hub.url + href)
    assert pdf.ok and (await pdf.body()).startswith(b"%PDF")


async def test_scenario_8_without_a_medecin_traitant_a_relay_doctor_is_booked(
    browser: Browser, mail_hub: LiveHub, settings: Settings, smtp_server: SmtpServerFixture
) -> None:
    hub = mail_hub
    await booking_now(settings)
    await _secretary_records_the_mt(browser, hub, has_mt=False)
    nurse = await _nurse_prepares(browser, hub, step="identite-qualifiee-sans-medecin-traitant")
    doctor = await _doctor_signs(browser, hub, "Suivi par un médecin relais")
    await expect(doctor.get_by_text("Dossier partagé : déposé")).to_be_visible()

    # Without a médecin traitant, the nurse books a relay doctor who accepts new patients.
    await nurse.reload()
    relay = nurse.locator("section", has=nurse.get_by_role("heading", name="Médecin relais"))
    await expect(
        relay.get_by_label("Médecin qui accepte de nouveaux patients")
    ).not_to_contain_text(
        "Dr Luc Marchal"  # he takes no new patients
    )
    await relay.get_by_role("button", name="Orienter le patient").click()
    await expect(nurse.locator("body")).to_contain_text("Orienté vers Dr Anne Roy")
    await shot(nurse, 8, "medecin-relais")

    # The relay doctor is told, then receives the signed report over the secure channel.
    told = await _received(smtp_server, RELAY, "vous est adressé")
    assert "LAMBERT" not in told.message.as_string()  # no health data outside MSSanté
    await eventually(
        lambda: sum(1 for d in smtp_server.collector.delivered if RELAY in d.rcpt_tos) == 2,
        timeout=30,
    )
    (report,) = [
        d
        for d in smtp_server.collector.delivered
        if RELAY in d.rcpt_tos and d.message["X-MSS-CODECDA"] == "85208-7"
    ]
    assert "LAMBERT" in _xdm_document(report)

    # The secretary sees the report sent to Dr Anne Roy.
    secretary = await staff(browser, hub, "secretariat")
    await secretary.goto(hub.url + "/secretariat/transmissions")
    line = secretary.locator("tr", has_text=RELAY)
    await expect(line).to_contain_text("envoyé")
    await expect(line).to_contain_text("LAMBERT")
    await shot(secretary, 8, "transmission-au-medecin-relais")


# The coordinator's "January": the hub's clock runs from this instant (2025 is last year).
JANUARY = dt.datetime(2026, 1, 12, 8, 30, tzinfo=dt.UTC)


@pytest.fixture
async def january_hub(
    settings: Settings, cpts: Cpts, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LiveHub]:
    """A live hub whose clock reads January 2026, on the seeded year 2025."""
    async with session_for(settings) as session:
        await seed_year_2025(session)
        await session.commit()
    offset = dt.datetime.now(dt.UTC) - JANUARY

    def create_app(s: Settings) -> FastAPI:
        return hub_create_app(s, clock=lambda: db.utcnow() - offset)

    monkeypatch.setattr(live, "create_app", create_app)
    hub = LiveHub(settings)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def _download(page: Page, link: str) -> tuple[str, bytes]:
    async with page.expect_download() as info:
        await page.get_by_role("link", name=link).click()
    download = await info.value
    path = Path(await download.path())
    return download.suggested_filename, await asyncio.to_thread(path.read_bytes)


def _pdf_text(content: bytes) -> tuple[list[str], Path]:
    """The PDF's lines of text, and its first page drawn as a PNG next to the screenshots."""
    document = pypdfium2.PdfDocument(content)
    try:
        lines = [
            " ".join(line.split())
            for page in document
            for line in page.get_textpage().get_text_range().splitlines()
        ]
        SHOTS.mkdir(parents=True, exist_ok=True)
        first = SHOTS / "10-rapport-pdf-page-1.png"
        document[0].render(scale=1.5).to_pil().save(first)
    finally:
        document.close()
    return lines, first


async def test_scenario_10_the_yearly_activity_report(
    browser: Browser, january_hub: LiveHub
) -> None:
    hub = january_hub
    coordinator = await staff(browser, hub, "coordination")
    await coordinator.get_by_role("link", name="Indicateurs de la CPTS").click()
    await expect(coordinator.locator(".lead")).to_contain_text("du 01/01/2026 au 12/01/2026")
    # A period typed backwards is refused next to the dates, as typed.
    await coordinator.get_by_label("Du", exact=True).fill("2025-12-31")
    await coordinator.get_by_label("Au", exact=True).fill("2025-01-01")
    await coordinator.get_by_role("button", name="Afficher").click()
    await expect(coordinator.get_by_role("alert")).to_contain_text("La période est à l'envers")
    await expect(coordinator.get_by_label("Du", exact=True)).to_have_value("2025-12-31")
    await expect(coordinator.get_by_label("Au", exact=True)).to_have_value("2025-01-01")
    await shot(coordinator, 10, "periode-a-l-envers")

    # Last year's indicators: consultations per room, share without MT, delay against the
    # 24 h / 48 h targets, no-shows, dependent patients, orientations.
    await coordinator.get_by_role("link", name="année 2025").click()
    await expect(coordinator.locator(".lead")).to_contain_text("du 01/01/2025 au 31/12/2025")
    await expect(coordinator.locator("dl.kpis dd").first).to_have_text("14")
    for chart in (
        "Téléconsultations réalisées par site",
        "Délai entre la demande de soins et la téléconsultation",
        "Taux de rendez-vous non honorés, par mois",
        "Orientations à l'issue de la téléconsultation",
    ):
        await expect(coordinator.get_by_role("img", name=chart)).to_be_visible()
    await shot(coordinator, 10, "indicateurs-2025")

    name, content = await _download(coordinator, "Télécharger les indicateurs (CSV)")
    assert name == "indicateurs-cpts-2025-01-01-2025-12-31.csv"
    rows = {
        (r[2], r[4]): r[7]
        for r in csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";")
    }
    whole = next(scope for scope, code in rows if scope.startswith("Toute la CPTS"))
    assert rows[(whole, "consultations")] == "14"
    assert rows[(whole, "share_within_48h")] == "84,6"
    # La Noue saw one patient: the count is « < 5 », her 100 % within 24 h is « masqué ».
    assert rows[(LA_NOUE, "consultations")] == "< 5"
    assert rows[(LA_NOUE, "share_within_24h")] == "masqué"
    assert rows[(CLOS_MORTIER, "consultations")] == "10"

    # The yearly report opens on last year by itself.
    await coordinator.goto(hub.url + "/coordination")
    await coordinator.get_by_role("link", name="Rapport d'activité annuel").click()
    await expect(coordinator.get_by_role("heading", name="Rapport d'activité 2025")).to_be_visible()
    await coordinator.get_by_label("Commentaire : Téléconsultations réalisées").fill(
        "Deux salles ouvertes toute l'année."
    )
    await coordinator.get_by_role("button", name="Enregistrer").click()
    await expect(coordinator.get_by_role("status")).to_contain_text("enregistrés")
    await shot(coordinator, 10, "rapport-annuel")

    name, content = await _download(coordinator, "Télécharger le rapport (PDF)")
    assert name == "rapport-activite-2025.pdf"
    lines, _ = await asyncio.to_thread(_pdf_text, content)
    text = " ".join(lines)
    assert "Rapport d'activité 2025" in text
    assert "Deux salles ouvertes toute l'année." in text
    # La Noue's line: one patient, so her rates are written « masqué », not « < 5 ».
    assert f"{LA_NOUE} < 5 masqué masqué" in lines
    # Column headers break between words, never inside one nor between a figure and its unit.
    assert "Téléconsultations" in lines and "48 h" in lines and "h" not in lines
