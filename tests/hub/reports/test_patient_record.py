"""The patient's own record page (signed link) and the professionals' shared-record pages."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from hub import db
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.consultation.models import Consultation
from hub.identity.models import User
from hub.notify.models import Channel, OutboundMessage
from hub.records.patient_links import (
    RECORD_LINK_EXPIRED,
    RECORD_LINK_INVALID,
    RECORD_LINK_REVOKED,
    record_token,
    revoke_record_links,
    send_record_link,
)
from hub.records.patients import Patient
from hub.rendering import when_fr
from hub.reports import record_pages as pages
from hub.reports.models import Report, ReportStatus
from hub.reports.registry import EmbeddedRegistry
from tests.conftest import TEST_SECRET, csrf_from, login, text
from tests.support.factories import Cpts
from tests.support.reports import sample_facts, sample_patient
from tests.support.scenario import booking_now, in_consultation

PDF = b"%PDF-1.4 compte rendu de test"
CDA = b"<ClinicalDocument/>"


@pytest.fixture(autouse=True)
def _records_pages(app: FastAPI) -> None:
    if not any(getattr(r, "path", "") == "/mon-dossier/{token}" for r in app.routes):
        app.include_router(pages.router)


@asynccontextmanager
async def _browser(app: FastAPI, username: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own (cookies), logged in as ``username`` when given."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        if username is not None:
            assert (await login(client, username)).status_code == 303
        yield client


@dataclass(frozen=True, slots=True)
class Deposited:
    patient_id: int
    document_id: int
    token: str


async def _deposit(
    settings: Settings,
    *,
    hidden: bool = False,
    with_report: bool = True,
    cda: bytes = CDA,
    now: dt.datetime | None = None,
) -> Deposited:
    """A teleconsultation at Clos Mortier whose signed report is in the shared record."""
    booking_id = await booking_now(settings)
    consultation_id = await in_consultation(settings, booking_id, "medecin")
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        consultation = await session.get(Consultation, consultation_id)
        assert consultation is not None
        doctor = (await session.scalars(select(User).where(User.username == "medecin"))).one()
        base = sample_facts()
        report_id = 0
        if with_report:
            report = Report(
                consultation_id=consultation_id,
                document_oid=base.document_oid,
                set_oid=base.set_oid,
                status=ReportStatus.SIGNED,
                author_id=doctor.id,
                pdf=PDF,
                cda=cda,
            )
            session.add(report)
            await session.flush()
            report_id = report.id
        facts = dataclasses.replace(
            base,
            consultation_id=consultation_id,
            report_id=report_id,
            patient=sample_patient(local_id=str(consultation.patient_id)),
            doctor=dataclasses.replace(
                base.doctor, user_id=doctor.id, given_name="Paul", family_name="DURAND"
            ),
        )
        document = await EmbeddedRegistry().deposit(
            session=session,
            facts=facts,
            cda=cda,
            actor=doctor,
            opposed=False,
            hidden_from_patient=hidden,
        )
        assert document is not None
        patient = await session.get(Patient, consultation.patient_id)
        assert patient is not None
        token = record_token(TEST_SECRET, patient, now=now or db.utcnow())
        await session.commit()
        result = Deposited(patient.id, document.id, token)
    await engine.dispose()
    return result


async def _events(settings: Settings, action: str) -> list[AuditEvent]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        rows = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
    await engine.dispose()
    return rows


async def test_patient_page_lists_the_report_and_who_read_it(
    app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    d = await _deposit(settings)
    async with _browser(app, "infirmiere") as nurse:
        listing = await nurse.get(f"/dossier-partage/patients/{d.patient_id}")
        assert listing.status_code == 200
        assert "Compte rendu de téléconsultation" in text(listing)
        assert "Dr Paul DURAND" in text(listing)
        pdf = await nurse.get(f"/dossier-partage/documents/{d.document_id}.pdf")
        assert pdf.status_code == 200 and pdf.content == PDF
        assert pdf.headers["content-type"] == "application/pdf"
        xml = await nurse.get(f"/dossier-partage/documents/{d.document_id}.xml")
        assert xml.status_code == 200 and xml.content == CDA
    [read, _] = await _events(settings, "dmp.read")
    assert read.target == f"document:{d.document_id}"

    async with _browser(app) as patient:
        page = await patient.get(f"/mon-dossier/{d.token}")
        assert page.status_code == 200
        body = text(page)
        assert "Compte rendu de téléconsultation" in body and "Paul DURAND" in body
        assert "Qui a consulté mon dossier" in body
        assert "Julie Petit" in body and "Infirmier·ère" in body
        assert "Consultation d'un document du dossier partagé" in body
        assert when_fr(read.at) in body
        assert "Dr Paul Durand" in body  # the deposit
        download = await patient.get(f"/mon-dossier/{d.token}/documents/{d.document_id}.pdf")
        assert download.status_code == 200 and download.content == PDF
    [view] = await _events(settings, "dmp.patient_view")
    assert view.actor_kind == "patient" and view.actor_id == d.patient_id
    assert len(await _events(settings, "dmp.patient_read")) == 1


async def test_without_a_report_the_pdf_comes_from_the_cda_body(
    app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    cda = (
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><component><nonXMLBody>'
        f'<text mediaType="application/pdf" representation="B64">'
        f"{base64.b64encode(PDF).decode()}</text></nonXMLBody></component></ClinicalDocument>"
    ).encode()
    d = await _deposit(settings, with_report=False, cda=cda)
    async with _browser(app) as patient:
        download = await patient.get(f"/mon-dossier/{d.token}/documents/{d.document_id}.pdf")
    assert download.status_code == 200 and download.content == PDF


async def test_the_patient_masks_a_document_from_other_professionals(
    app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    d = await _deposit(settings)
    async with _browser(app) as patient:
        page = await patient.get(f"/mon-dossier/{d.token}")
        assert "Masquer ce document aux autres professionnels" in text(page)
        url = f"/mon-dossier/{d.token}/documents/{d.document_id}/masquage"
        forged = await patient.post(url, data={"masquer": "oui"})
        assert forged.status_code == 403
        masked = await patient.post(
            url, data={"masquer": "oui", "csrf_token": csrf_from(page.text)}
        )
        assert masked.status_code == 303
        after = await patient.get(masked.headers["location"])
        assert "maintenant masqué aux autres professionnels" in text(after)
        assert "Ne plus masquer" in text(after)
    [mask] = await _events(settings, "dmp.mask")
    assert mask.actor_kind == "patient"

    async with _browser(app, "infirmiere") as nurse:
        listing = await nurse.get(f"/dossier-partage/patients/{d.patient_id}")
        assert listing.status_code == 200
        assert "Compte rendu de téléconsultation" not in text(listing)
        for suffix in ("pdf", "xml"):
            hidden = await nurse.get(f"/dossier-partage/documents/{d.document_id}.{suffix}")
            missing = await nurse.get(f"/dossier-partage/documents/{d.document_id + 99}.{suffix}")
            assert hidden.status_code == missing.status_code == 404
            assert "Ce document n'existe pas ou n'est plus disponible." in text(hidden)
    async with _browser(app, "medecin") as doctor:
        listing = await doctor.get(f"/dossier-partage/patients/{d.patient_id}")
        assert "Compte rendu de téléconsultation" in text(listing)
        assert "Masqué par le patient" in text(listing)
        pdf = await doctor.get(f"/dossier-partage/documents/{d.document_id}.pdf")
        assert pdf.status_code == 200 and pdf.content == PDF


async def test_a_withheld_report_appears_once_the_doctor_announced_it(
    app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    d = await _deposit(settings, hidden=True)
    async with _browser(app) as patient:
        page = await patient.get(f"/mon-dossier/{d.token}")
        assert "Aucun document pour le moment" in text(page)
        early = await patient.get(f"/mon-dossier/{d.token}/documents/{d.document_id}.pdf")
        assert early.status_code == 404
    async with _browser(app, "infirmiere") as nurse:
        listing = await nurse.get(f"/dossier-partage/patients/{d.patient_id}")
        assert "Pas encore visible par le patient" in text(listing)
        refused = await nurse.post(
            f"/dossier-partage/documents/{d.document_id}/annonce",
            data={"csrf_token": csrf_from(listing.text)},
        )
        assert refused.status_code == 403
    async with _browser(app, "medecin") as doctor:
        listing = await doctor.get(f"/dossier-partage/patients/{d.patient_id}")
        announced = await doctor.post(
            f"/dossier-partage/documents/{d.document_id}/annonce",
            data={"csrf_token": csrf_from(listing.text)},
        )
        assert announced.status_code == 303
        after = await doctor.get(announced.headers["location"])
        assert "maintenant visible par le patient" in text(after)
    async with _browser(app) as patient:
        page = await patient.get(f"/mon-dossier/{d.token}")
        assert "Compte rendu de téléconsultation" in text(page)
    assert len(await _events(settings, "dmp.disclose")) == 1


async def test_a_tampered_or_revoked_link_shows_nothing(
    app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    d = await _deposit(settings)
    async with _browser(app) as patient:
        tampered = await patient.get(f"/mon-dossier/{d.token[:-2]}xx")
        assert tampered.status_code == 404 and RECORD_LINK_INVALID in text(tampered)
        assert (await patient.get(f"/mon-dossier/{d.token}")).status_code == 200
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        patient_row = await session.get(Patient, d.patient_id)
        assert patient_row is not None
        revoke_record_links(session=session, patient=patient_row, actor_kind="system")
        await session.commit()
    await engine.dispose()
    async with _browser(app) as patient:
        revoked = await patient.get(f"/mon-dossier/{d.token}")
        assert revoked.status_code == 410 and RECORD_LINK_REVOKED in text(revoked)
        pdf = await patient.get(f"/mon-dossier/{d.token}/documents/{d.document_id}.pdf")
        assert pdf.status_code == 410
        assert "Compte rendu" not in text(revoked) + text(pdf)


class Clock:
    """The hub's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = db.utcnow()

    def __call__(self) -> dt.datetime:
        return self.now


async def test_a_record_link_expires_and_a_new_document_brings_a_new_one(
    cpts: Cpts, settings: Settings
) -> None:
    clock = Clock()
    app = create_app(settings, clock=clock)
    issued = clock.now
    d = await _deposit(settings, now=issued)
    days = settings.record_link_days
    async with app.router.lifespan_context(app), _browser(app) as patient:
        clock.now = issued + dt.timedelta(days=days - 1)
        page = await patient.get(f"/mon-dossier/{d.token}")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        until = when_fr(issued + dt.timedelta(days=days))
        assert f"Ce lien est valable jusqu'au {until}" in text(page)
        pdf = await patient.get(f"/mon-dossier/{d.token}/documents/{d.document_id}.pdf")
        assert pdf.status_code == 200 and pdf.headers["cache-control"] == "no-store"

        clock.now = issued + dt.timedelta(days=days)
        expired = await patient.get(f"/mon-dossier/{d.token}")
        assert expired.status_code == 410 and RECORD_LINK_EXPIRED in text(expired)
        assert "secrétariat de la CPTS" in text(expired)
        assert "Compte rendu" not in text(expired) and "Lambert" not in text(expired)
        pdf = await patient.get(f"/mon-dossier/{d.token}/documents/{d.document_id}.pdf")
        assert pdf.status_code == 410 and pdf.content != PDF

        # The link sent with the next document is valid from then on; the old one stays expired.
        engine = db.make_engine(settings.database_url)
        async with db.make_session_factory(engine)() as session:
            patient_row = await session.get(Patient, d.patient_id)
            assert patient_row is not None
            fresh = record_token(TEST_SECRET, patient_row, now=clock.now)
            await session.commit()
        await engine.dispose()
        assert (await patient.get(f"/mon-dossier/{fresh}")).status_code == 200
        assert (await patient.get(f"/mon-dossier/{d.token}")).status_code == 410


async def test_the_patient_revokes_their_links_after_confirming(
    app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    d = await _deposit(settings)
    async with _browser(app) as patient:
        page = await patient.get(f"/mon-dossier/{d.token}")
        assert f'href="/mon-dossier/{d.token}/desactivation"' in page.text
        confirm = await patient.get(f"/mon-dossier/{d.token}/desactivation")
        assert confirm.status_code == 200 and "Oui, désactiver mes liens" in text(confirm)
        assert (await patient.get(f"/mon-dossier/{d.token}")).status_code == 200  # not yet
        done = await patient.post(
            f"/mon-dossier/{d.token}/desactivation", data={"csrf_token": csrf_from(confirm.text)}
        )
        assert done.status_code == 200 and "Votre lien est désactivé" in text(done)
        gone = await patient.get(f"/mon-dossier/{d.token}")
        assert gone.status_code == 410 and RECORD_LINK_REVOKED in text(gone)
    [event] = await _events(settings, "dmp.link_revoked")
    assert event.actor_kind == "patient" and event.target == f"patient:{d.patient_id}"


async def _sent_links(settings: Settings) -> list[str]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        bodies = list(
            await session.scalars(
                select(OutboundMessage.body_text)
                .where(OutboundMessage.purpose == "record_link")
                .order_by(OutboundMessage.id)
            )
        )
    await engine.dispose()
    return [
        m.group(1) for body in bodies for m in re.finditer(r"https?://\S+(/mon-dossier/\S+)", body)
    ]


async def test_staff_revoke_a_patients_links_and_the_secretariat_sends_a_new_one(
    app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    d = await _deposit(settings)
    async with _browser(app, "secretariat") as secretary:
        page = await secretary.get(f"/secretariat/patients/{d.patient_id}")
        assert "Désactiver ses liens" in text(page)
        url = f"/secretariat/patients/{d.patient_id}/lien-dossier/desactivation"
        unconfirmed = await secretary.post(url, data={"csrf_token": csrf_from(page.text)})
        assert unconfirmed.status_code == 422
        assert (await secretary.get(f"/mon-dossier/{d.token}")).status_code == 200
        revoked = await secretary.post(
            url, data={"csrf_token": csrf_from(page.text), "confirmation": "oui"}
        )
        assert revoked.status_code == 200 and "sont désactivés" in text(revoked)
        assert (await secretary.get(f"/mon-dossier/{d.token}")).status_code == 410
        sent = await secretary.post(
            f"/secretariat/patients/{d.patient_id}/lien-dossier",
            data={"csrf_token": csrf_from(page.text)},
        )
        assert sent.status_code == 200 and "Un nouveau lien" in text(sent)
    [event] = await _events(settings, "dmp.link_revoked")
    assert event.actor_kind == "user" and event.target == f"patient:{d.patient_id}"
    [sent_event] = await _events(settings, "dmp.link_sent")
    assert sent_event.actor_kind == "user" and sent_event.actor_id == event.actor_id
    [new_link] = await _sent_links(settings)
    async with _browser(app) as patient:
        assert (await patient.get(new_link)).status_code == 200

    async with _browser(app, "medecin") as doctor:
        listing = await doctor.get(f"/dossier-partage/patients/{d.patient_id}")
        done = await doctor.post(
            f"/dossier-partage/patients/{d.patient_id}/lien-dossier/desactivation",
            data={"csrf_token": csrf_from(listing.text), "confirmation": "oui"},
        )
        assert done.status_code == 303
        assert "sont désactivés" in text(await doctor.get(done.headers["location"]))
    async with _browser(app, "etablissement") as other:
        listing = await other.get("/etablissement")
        refused = await other.post(
            f"/dossier-partage/patients/{d.patient_id}/lien-dossier/desactivation",
            data={"csrf_token": csrf_from(listing.text), "confirmation": "oui"},
        )
        assert refused.status_code == 403
    assert len(await _events(settings, "dmp.link_revoked")) == 2
    async with _browser(app) as patient:
        assert (await patient.get(new_link)).status_code == 410


async def test_a_professional_of_another_site_is_refused(
    app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    d = await _deposit(settings)
    async with _browser(app, "etablissement") as other:
        listing = await other.get(f"/dossier-partage/patients/{d.patient_id}")
        assert listing.status_code == 403
        assert "ce patient est suivi sur un site pour lequel vous n'agissez pas" in text(listing)
        pdf = await other.get(f"/dossier-partage/documents/{d.document_id}.pdf")
        assert pdf.status_code == 403
    async with _browser(app, "secretariat") as secretary:
        listing = await secretary.get(f"/dossier-partage/patients/{d.patient_id}")
        assert listing.status_code == 403
    assert await _events(settings, "dmp.read") == []
    assert await _events(settings, "dmp.list") == []


async def test_the_record_link_is_sent_without_health_data(
    app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    d = await _deposit(settings)
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        patient = await session.get(Patient, d.patient_id)
        assert patient is not None
        patient.email = "odile.lambert@example.org"
        await send_record_link(
            session=session,
            patient=patient,
            base_url="https://cpts.example.org",
            secret=TEST_SECRET,
            now=db.utcnow(),
            valid_for=dt.timedelta(days=settings.record_link_days),
        )
        await session.commit()
        messages = list(
            await session.scalars(
                select(OutboundMessage).where(OutboundMessage.purpose == "record_link")
            )
        )
    await engine.dispose()
    by_channel = {m.channel: m for m in messages}
    assert set(by_channel) == {Channel.EMAIL, Channel.SMS}
    assert by_channel[Channel.EMAIL].recipient == "odile.lambert@example.org"
    assert by_channel[Channel.SMS].recipient == "+33611223344"
    [link, sms_link] = await _sent_links(settings)
    assert link == sms_link
    facts = sample_facts()
    for message in messages:
        assert f"https://cpts.example.org{link}" in message.body_text
        for clinical in (facts.conclusion, facts.reason, "Toux", "pneumopathie"):
            assert clinical not in message.body_text + message.subject
    async with _browser(app) as browser:
        page = await browser.get(link)
        assert page.status_code == 200 and "Compte rendu de téléconsultation" in text(page)


async def test_repeated_reads_by_one_person_read_as_one_line(
    app: FastAPI, cpts: Cpts, settings: Settings
) -> None:
    """A nurse's page reloading the record through a consultation does not flood the patient's
    list: one line says how many times, from when."""
    d = await _deposit(settings)
    async with _browser(app, "infirmiere") as nurse:
        for _ in range(3):
            read = await nurse.get(f"/dossier-partage/documents/{d.document_id}.pdf")
            assert read.status_code == 200
    reads = await _events(settings, "dmp.read")
    assert len(reads) == 3
    async with _browser(app) as patient:
        body = text(await patient.get(f"/mon-dossier/{d.token}"))
    assert body.count("Consultation d'un document du dossier partagé") == 1
    assert f"(3 fois depuis {when_fr(reads[0].at)})" in body
