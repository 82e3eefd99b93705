"""The report relayed to the médecin traitant: an IHE_XDM.ZIP with the CDA and its metadata,
MSSanté headers, delivered to a real SMTP server, retried, failed, shown to the secretariat
and sent again."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from email.message import EmailMessage
from xml.etree import ElementTree as ET

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub import db
from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.consultation.models import Consultation, State
from hub.identity import service as identity
from hub.identity.models import SiteKind
from hub.notify.models import MessageStatus, OutboundMessage
from hub.notify.outbox import DeliveryReport, deliver_due
from hub.records.patients import Patient, Sex
from hub.reports import mssante, xdm
from hub.reports.facts import ReportFacts, local_oid
from hub.reports.models import Report, ReportStatus
from hub.scheduling.models import Booking, Channel, Slot
from tests.conftest import csrf_from, login, text
from tests.support.factories import Cpts
from tests.support.reports import sample_facts, sample_patient
from tests.support.scenario import booking_now, in_consultation
from tests.support.smtp import SmtpServerFixture
from tests.support.terminologie import SUBMISSION_SET_CONTENT_TYPE, classifications, jdv_j59

RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
LAYOUT = [
    "README.TXT",
    "INDEX.HTM",
    "IHE_XDM/SUBSET01/METADATA.XML",
    "IHE_XDM/SUBSET01/DOC0001.XML",
]
CDA = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3">'
    b'<code code="85208-7" codeSystem="2.16.840.1.113883.6.1"/></ClinicalDocument>\n'
)
SENDER = "cpts-val-de-loire@cpts.mssante.fr"
MT = "paul.bernard@medecin.mssante.fr"
PRODUCT = "TELECAB-2026-001"
NO_INS = sample_patient(ins=None, ins_oid=None, identity_status="provisoire")


# --- reading a package -------------------------------------------------------------------------


def unzip(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def metadata(files: dict[str, bytes]) -> ET.Element:
    return ET.fromstring(files["IHE_XDM/SUBSET01/METADATA.XML"])


def identifier(root: ET.Element, scheme: str) -> str:
    [found] = [
        e.get("value", "")
        for e in root.iter(f"{RIM}ExternalIdentifier")
        if e.get("identificationScheme") == scheme
    ]
    return found


def slot(element: ET.Element, name: str) -> list[str]:
    for s in element.findall(f"{RIM}Slot"):
        if s.get("name") == name:
            return [v.text or "" for v in s.iter(f"{RIM}Value")]
    raise AssertionError(f"no slot {name}")


def code(document: ET.Element, scheme: str) -> tuple[str, list[str]]:
    [found] = [
        c
        for c in document.findall(f"{RIM}Classification")
        if c.get("classificationScheme") == scheme
    ]
    return found.get("nodeRepresentation", ""), slot(found, "codingScheme")


# --- the package -------------------------------------------------------------------------------


def test_package_holds_the_cda_and_metadata_that_describe_it() -> None:
    facts = sample_facts()
    files = unzip(xdm.build_xdm_zip(facts, CDA, sender=SENDER, recipient=MT))
    assert list(files) == LAYOUT
    assert files["IHE_XDM/SUBSET01/DOC0001.XML"] == CDA
    root = metadata(files)
    [document] = root.iter(f"{RIM}ExtrinsicObject")
    assert identifier(root, xdm.DE_UNIQUE_ID) == facts.document_oid
    assert slot(document, "hash") == [hashlib.sha1(CDA).hexdigest()]
    assert slot(document, "size") == [str(len(CDA))]
    assert slot(document, "URI") == ["DOC0001.XML"]
    assert slot(document, "creationTime") == ["20261120095500"]  # signed at 10:55 Paris
    assert slot(document, "serviceStartTime") == ["20261120093000"]
    ins = "258036311301155^^^&1.2.250.1.213.1.4.8&ISO^NH"
    assert identifier(root, xdm.DE_PATIENT_ID) == ins
    assert identifier(root, xdm.SS_PATIENT_ID) == ins
    # The INS traits as INSi returns them (upper case, no diacritics).
    assert "PID-5|LEFEVRE^HELENE^MARIE^^^^L" in slot(document, "sourcePatientInfo")
    assert code(document, xdm.DE_TYPE_CODE) == ("85208-7", ["2.16.840.1.113883.6.1"])
    assert code(document, xdm.DE_FORMAT_CODE) == (
        "urn:ihe:iti:xds-sd:pdf:2008",
        ["1.3.6.1.4.1.19376.1.2.3"],
    )
    [author] = [
        c
        for c in document.findall(f"{RIM}Classification")
        if c.get("classificationScheme") == xdm.DE_AUTHOR
    ]
    assert slot(author, "authorPerson")[0].startswith("810003456789^DURAND^Claire^")
    [package] = root.iter(f"{RIM}RegistryPackage")
    assert [
        c.get("classifiedObject")
        for c in root.findall(f"{RIM}RegistryObjectList/{RIM}Classification")
        if c.get("classificationNode") == xdm.SUBMISSION_SET_NODE
    ] == [package.get("id")]
    [association] = root.iter(f"{RIM}Association")
    assert association.get("associationType", "").endswith("HasMember")
    assert (association.get("sourceObject"), association.get("targetObject")) == (
        package.get("id"),
        document.get("id"),
    )
    assert slot(package, "intendedRecipient") == [f"|^BERNARD^Paul^^^DR|^^Internet^{MT}"]
    assert code(document, xdm.DE_CONFIDENTIALITY) == ("N", ["2.16.840.1.113883.5.25"])


def test_the_medecin_traitant_is_named_by_rpps_with_the_structured_names() -> None:
    facts = sample_facts(
        medecin_traitant_name="Bernard Paul, cabinet des Lilas",
        medecin_traitant_rpps="10001234565",
        medecin_traitant_family_name="BERNARD",
        medecin_traitant_given_name="Paul",
    )
    files = unzip(xdm.build_xdm_zip(facts, CDA, sender=SENDER, recipient=MT))
    [package] = metadata(files).iter(f"{RIM}RegistryPackage")
    assert slot(package, "intendedRecipient") == [
        f"|810001234565^BERNARD^Paul^^^DR^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS|^^Internet^{MT}"
    ]


def test_the_sender_is_an_address_and_a_relay_doctor_is_named_in_parts() -> None:
    files = unzip(
        xdm.build_xdm_zip(
            sample_facts(),
            CDA,
            sender=f"CPTS du Val de Loire <{SENDER}>",
            recipient="anne.roy@medecin.mssante.fr",
            recipient_name="Dr Anne ROY",
        )
    )
    root = metadata(files)
    [package] = root.iter(f"{RIM}RegistryPackage")
    [author] = [
        c
        for c in package.findall(f"{RIM}Classification")
        if c.get("classificationScheme") == xdm.SS_AUTHOR
    ]
    assert slot(author, "authorTelecommunication") == [f"^^Internet^{SENDER}"]
    assert slot(package, "intendedRecipient") == [
        "|^ROY^Anne^^^DR|^^Internet^anne.roy@medecin.mssante.fr"
    ]


@pytest.mark.parametrize(
    ("hidden", "masked", "visibility"),
    [
        (True, False, ["INVISIBLE_PATIENT"]),
        (False, True, ["MASQUE_PS"]),
        (True, True, ["INVISIBLE_PATIENT", "MASQUE_PS"]),
    ],
)
def test_visibility_in_the_shared_record_becomes_confidentiality_codes(
    hidden: bool, masked: bool, visibility: list[str]
) -> None:
    facts = sample_facts(hidden_from_patient=hidden, masked=masked)
    [document] = metadata(unzip(xdm.build_xdm_zip(facts, CDA, sender=SENDER, recipient=MT))).iter(
        f"{RIM}ExtrinsicObject"
    )
    codes = [
        (c.get("nodeRepresentation"), slot(c, "codingScheme"))
        for c in document.findall(f"{RIM}Classification")
        if c.get("classificationScheme") == xdm.DE_CONFIDENTIALITY
    ]
    assert codes == [("N", ["2.16.840.1.113883.5.25"])] + [
        (code, ["1.2.250.1.213.1.1.4.13"]) for code in visibility
    ]
    ids = [c.get("id") for c in document.findall(f"{RIM}Classification")]
    assert len(ids) == len(set(ids))


def test_an_amendment_replaces_the_entry_of_the_previous_version() -> None:
    first = sample_facts()
    second = sample_facts(version=2, document_oid="2.25.424242", replaces_oid=first.document_oid)
    [previous_entry] = metadata(
        unzip(xdm.build_xdm_zip(first, CDA, sender=SENDER, recipient=MT))
    ).iter(f"{RIM}ExtrinsicObject")
    root = metadata(unzip(xdm.build_xdm_zip(second, CDA, sender=SENDER, recipient=MT)))
    [entry] = root.iter(f"{RIM}ExtrinsicObject")
    [replaces] = [
        a for a in root.iter(f"{RIM}Association") if a.get("associationType", "").endswith(":RPLC")
    ]
    assert (replaces.get("sourceObject"), replaces.get("targetObject")) == (
        entry.get("id"),
        previous_entry.get("id"),
    )
    assert not [
        a
        for a in metadata(unzip(xdm.build_xdm_zip(first, CDA, sender=SENDER, recipient=MT))).iter(
            f"{RIM}Association"
        )
        if a.get("associationType", "").endswith(":RPLC")
    ]


def test_without_a_qualified_identity_the_package_carries_no_ins() -> None:
    facts = sample_facts(patient=NO_INS)
    files = unzip(xdm.build_xdm_zip(facts, CDA, sender=SENDER, recipient=MT))
    root = metadata(files)
    oid = local_oid(facts.place, "patient")
    assert identifier(root, xdm.DE_PATIENT_ID) == f"42^^^&{oid}&ISO^PI"
    assert oid.startswith("2.25.") and oid != "2.25."
    for content in files.values():
        assert b"258036311301155" not in content
        assert b"1.2.250.1.213.1.4.8" not in content


def test_package_is_the_same_for_the_same_report() -> None:
    facts = sample_facts()
    first = xdm.build_xdm_zip(facts, CDA, sender=SENDER, recipient=MT)
    assert xdm.build_xdm_zip(facts, CDA, sender=SENDER, recipient=MT) == first
    other = xdm.build_xdm_zip(facts, CDA + b" ", sender=SENDER, recipient=MT)
    assert other != first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2026, 11, 20, 10, 55, 0)}


# --- delivery ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def queue(
    settings: Settings, facts: ReportFacts, now: dt.datetime, *, recipient: str = MT
) -> int:
    async with opened(settings) as session:
        message = await mssante.enqueue_report_relay(
            session=session,
            facts=facts,
            cda=CDA,
            recipient=recipient,
            recipient_name="Dr Paul BERNARD",
            sender=SENDER,
            now=now,
            product_reference=PRODUCT,
            trust_space=settings.mssante_trust_space(),
        )
        await session.commit()
        return message.id


async def deliver(settings: Settings, smtp: SmtpServerFixture, now: dt.datetime) -> DeliveryReport:
    """What the periodic job does (``hub.jobs.deliver_outbox``), with its default attempts."""
    async with opened(settings) as session:
        return await deliver_due(session=session, now=now, smtp=smtp.settings, sms=None)


async def message(settings: Settings, message_id: int) -> OutboundMessage:
    async with opened(settings) as session:
        return await session.get_one(OutboundMessage, message_id)


def xdm_of(received: EmailMessage) -> bytes:
    [part] = [p for p in received.iter_attachments() if p.get_filename() == "IHE_XDM.ZIP"]
    assert part.get_content_type() == "application/zip"
    content = part.get_content()
    assert isinstance(content, bytes)
    return content


@pytest.mark.parametrize(
    ("facts", "ins_header"),
    [(sample_facts(), "O"), (sample_facts(patient=NO_INS), "N")],
    ids=["qualified-ins", "no-ins"],
)
async def test_the_doctor_receives_the_xdm_with_mssante_headers(
    settings: Settings, smtp_server: SmtpServerFixture, facts: ReportFacts, ins_header: str
) -> None:
    now = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
    await queue(settings, facts, now)
    assert await deliver(settings, smtp_server, now) == DeliveryReport(sent=1)
    [delivered] = smtp_server.collector.delivered
    assert delivered.rcpt_tos == [MT]
    received = delivered.message
    assert received["X-MSS-CODECDA"] == "85208-7"
    assert received["X-MSS-INS"] == ins_header
    assert received["X-MSS-NIL"] == PRODUCT
    # The subject shows in every inbox list: no name, nothing clinical.
    assert received["Subject"] == (
        f"Compte rendu de téléconsultation du 20/11/2026 — réf. {facts.report_id}"
    )
    assert facts.patient.birth_name not in received["Subject"]
    body = received.get_body(("plain",))
    assert body is not None
    body_text = body.get_content()
    assert "Bonjour Dr Paul BERNARD" in body_text
    assert "LEFÈVRE" in body_text  # the patient is named inside
    for clinical in (facts.conclusion, facts.reason, "Amoxicilline"):  # only in the document
        assert clinical not in received["Subject"] and clinical not in body_text
    files = unzip(xdm_of(received))
    assert list(files) == LAYOUT
    root = metadata(files)
    [document] = root.iter(f"{RIM}ExtrinsicObject")
    assert identifier(root, xdm.DE_UNIQUE_ID) == facts.document_oid
    assert slot(document, "hash") == [hashlib.sha1(CDA).hexdigest()]
    assert slot(document, "size") == [str(len(CDA))]
    patient_id = identifier(root, xdm.DE_PATIENT_ID)
    assert patient_id.endswith("&1.2.250.1.213.1.4.8&ISO^NH") == (ins_header == "O")
    [content_type] = classifications(
        files["IHE_XDM/SUBSET01/METADATA.XML"], SUBMISSION_SET_CONTENT_TYPE
    )
    assert (content_type.coding_scheme, content_type.code) in jdv_j59()


# --- the secretariat's follow-up ---------------------------------------------------------------


async def signed_report(settings: Settings, *, version: int = 1) -> ReportFacts:
    """A consultation at Clos Mortier (patient LAMBERT Odile) with a signed report."""
    consultation_id = await in_consultation(settings, await booking_now(settings), "medecin")
    facts = sample_facts(consultation_id=consultation_id)
    async with opened(settings) as session:
        report = Report(
            consultation_id=consultation_id,
            version=version,
            document_oid=facts.document_oid,
            set_oid=facts.set_oid,
            status=ReportStatus.SIGNED,
            signed_at=facts.signed_at,
        )
        session.add(report)
        await session.commit()
        return sample_facts(consultation_id=consultation_id, report_id=report.id)


async def test_a_refused_relay_is_retried_then_failed_shown_and_sent_again(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, smtp_server: SmtpServerFixture
) -> None:
    now = dt.datetime.now(dt.UTC)
    facts = await signed_report(settings)
    message_id = await queue(settings, facts, now)
    smtp_server.collector.reply = "550 5.7.1 Message refused by the operator"
    first = await deliver(settings, smtp_server, now)
    assert first == DeliveryReport(retried=1)
    waiting = await message(settings, message_id)
    assert waiting.status is MessageStatus.PENDING and waiting.next_attempt_at > now
    assert await deliver(settings, smtp_server, now) == DeliveryReport()  # not due yet
    for _ in range(5):
        now = (await message(settings, message_id)).next_attempt_at
        await deliver(settings, smtp_server, now)
    failed = await message(settings, message_id)
    assert (failed.status, failed.attempts) == (MessageStatus.FAILED, 6)
    assert smtp_server.collector.refused == 6 and not smtp_server.collector.delivered

    await login(client, "secretariat")
    page = await client.get("/secretariat/transmissions")
    assert page.status_code == 200
    shown = text(page)
    assert "LAMBERT Odile" in shown and MT in shown
    assert "échec" in shown and "Le serveur de messagerie a refusé le message." in shown
    assert "550 5.7.1 Message refused by the operator" in shown

    renvoyer = f"/secretariat/transmissions/{message_id}/renvoyer"
    refused = await client.post(renvoyer, data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert (await message(settings, message_id)).status is MessageStatus.FAILED
    done = await client.post(renvoyer, data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 303
    again = await message(settings, message_id)
    assert (again.status, again.attempts) == (MessageStatus.PENDING, 0)
    async with opened(settings) as session:
        [event] = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "relay.resend")
        )
    assert event.target == f"outbound_message:{message_id}"
    assert "en attente" in text(await client.get("/secretariat/transmissions"))

    smtp_server.collector.reply = "250 Message accepted for delivery"
    assert await deliver(settings, smtp_server, dt.datetime.now(dt.UTC)) == DeliveryReport(sent=1)
    assert smtp_server.collector.delivered[0].message["X-MSS-CODECDA"] == "85208-7"
    sent = text(await client.get("/secretariat/transmissions"))
    assert "<td>envoyé</td>" in sent and "Renvoyer</button>" not in sent
    conflict = await client.post(renvoyer, data={"csrf_token": csrf_from(page.text)})
    assert conflict.status_code == 409  # only a failed relay can be sent again


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("paul.bernard@medecin.mssante.fr", True),
        ("PAUL@CH-TOURS.MSSANTE.FR", True),
        ("secretariat@mssante.fr", True),
        ("paul.bernard@gmail.com", False),
        ("paul@mssante.fr.example.com", False),
        ("paul@notmssante.fr", False),
        ("pas-une-adresse", False),
    ],
)
def test_the_trust_space_is_its_domains_and_their_subdomains(address: str, inside: bool) -> None:
    assert mssante.in_trust_space(address, ("mssante.fr",)) is inside


async def test_an_address_outside_the_trust_space_is_refused_before_sending(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, smtp_server: SmtpServerFixture
) -> None:
    now = dt.datetime.now(dt.UTC)
    facts = await signed_report(settings)
    message_id = await queue(settings, facts, now, recipient="dr.bernard@gmail.com")
    assert await deliver(settings, smtp_server, now) == DeliveryReport()
    assert not smtp_server.collector.delivered  # nothing left for a plain mailbox
    refused = await message(settings, message_id)
    assert refused.status is MessageStatus.FAILED and refused.attempts == 0

    await login(client, "secretariat")
    page = await client.get("/secretariat/transmissions")
    shown = text(page)
    assert "dr.bernard@gmail.com" in shown
    assert "n'appartient pas à l'espace de confiance MSSanté" in shown
    again = await client.post(
        f"/secretariat/transmissions/{message_id}/renvoyer",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert again.status_code == 409
    assert "espace de confiance MSSanté" in text(again)
    assert (await message(settings, message_id)).status is MessageStatus.FAILED


async def test_failures_come_first_and_only_staff_of_the_secretariat_see_the_page(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, smtp_server: SmtpServerFixture
) -> None:
    now = dt.datetime.now(dt.UTC)
    facts = await signed_report(settings)
    sent_id = await queue(settings, facts, now)
    await deliver(settings, smtp_server, now)
    failed_id = await queue(settings, facts, now)
    async with opened(settings) as session:
        row = await session.get_one(OutboundMessage, failed_id)
        row.status, row.last_error = MessageStatus.FAILED, "SMTP x:25 failed: OSError: down"
        await session.commit()
    await login(client, "coordination")
    page = await client.get("/secretariat/transmissions")
    assert page.status_code == 200
    assert page.text.index(f"/transmissions/{failed_id}/renvoyer") < page.text.index(
        "<td>envoyé</td>"
    )
    assert "Le serveur de messagerie est injoignable." in text(page)
    assert f"/transmissions/{sent_id}/renvoyer" not in page.text
    await client.post("/deconnexion", data={"csrf_token": csrf_from(page.text)})
    await login(client, "infirmiere")
    assert (await client.get("/secretariat/transmissions")).status_code == 403


async def other_cpts_report(settings: Settings, now: dt.datetime) -> ReportFacts:
    """A signed report of a patient of another CPTS."""
    async with opened(settings) as session:
        org = await identity.create_organisation(
            session=session, name="CPTS voisine", slug="voisine"
        )
        site = await identity.create_site(
            session=session, organisation=org, name="Cabinet voisin", kind=SiteKind.MOBILE_KIT
        )
        patient = Patient(
            organisation_id=org.id,
            birth_name="VOISIN",
            birth_name_key="VOISIN",
            first_names="Marc",
            birth_date=dt.date(1970, 1, 1),
            sex=Sex.MALE,
        )
        slot = Slot(site_id=site.id, starts_at=now, ends_at=now + dt.timedelta(minutes=20), seats=1)
        session.add_all([patient, slot])
        await session.flush()
        booking = Booking(
            reference="RDV-VOISIN",
            slot_id=slot.id,
            seat=1,
            site_id=site.id,
            patient_id=patient.id,
            starts_at=now,
            channel=Channel.PHONE,
            care_requested_at=now,
            link_nonce="n",
        )
        session.add(booking)
        await session.flush()
        consultation = Consultation(
            booking_id=booking.id, site_id=site.id, patient_id=patient.id, state=State.CLOSED
        )
        session.add(consultation)
        await session.flush()
        report = Report(
            consultation_id=consultation.id,
            document_oid="2.25.1234",
            set_oid="2.25.1234",
            status=ReportStatus.SIGNED,
        )
        session.add(report)
        await session.commit()
        return sample_facts(consultation_id=consultation.id, report_id=report.id)


async def test_the_secretariat_sees_and_resends_only_its_own_cptss_relays(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    now = dt.datetime.now(dt.UTC)
    ours = await queue(settings, await signed_report(settings), now)
    theirs = await queue(settings, await other_cpts_report(settings, now), now)
    async with opened(settings) as session:
        for message_id in (ours, theirs):
            row = await session.get_one(OutboundMessage, message_id)
            row.status, row.last_error = MessageStatus.FAILED, "refused every recipient"
        await session.commit()
    await login(client, "secretariat")
    page = await client.get("/secretariat/transmissions")
    assert "LAMBERT Odile" in text(page) and "VOISIN" not in text(page)
    assert f"/transmissions/{theirs}/renvoyer" not in page.text
    token = csrf_from(page.text)
    refused = await client.post(
        f"/secretariat/transmissions/{theirs}/renvoyer", data={"csrf_token": token}
    )
    assert refused.status_code == 404
    assert (await message(settings, theirs)).status is MessageStatus.FAILED


def test_the_product_header_is_always_there() -> None:
    """X-MSS-NIL: the ANS's reference once configured, a visible sentinel until then."""
    assert mssante.mssante_headers(sample_facts())["X-MSS-NIL"] == "NIL-NON-ATTRIBUE"
    assert (
        mssante.mssante_headers(sample_facts(), product_reference=f" {PRODUCT} ")["X-MSS-NIL"]
        == PRODUCT
    )


def test_an_amended_report_says_its_version_in_the_subject_only_by_number() -> None:
    subject = mssante.relay_subject(sample_facts(version=2))
    assert subject.endswith(", version 2") and "LEFÈVRE" not in subject
