"""The embedded DMP-style registry: deposit with XDS metadata, opposition, masking, withheld
documents, versions, and the audit trail every read and write leaves."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.models import AuditEvent
from hub.audit.service import record_event
from hub.config import Settings
from hub.consultation.models import Consultation
from hub.errors import Forbidden, NotFound
from hub.identity.models import User
from hub.records.documents import Confidentiality, DocumentStatus, SharedDocument
from hub.reports.facts import ReportFacts
from hub.reports.models import Report, ReportStatus
from hub.reports.registry import DOCUMENT_MISSING, EmbeddedRegistry, document_sharing
from tests.support.factories import user_named
from tests.support.reports import sample_facts, sample_patient
from tests.support.scenario import booking_now, in_consultation

CDA = b"<ClinicalDocument/>"
registry = EmbeddedRegistry()


@dataclass(frozen=True, slots=True)
class Care:
    patient_id: int
    consultation_id: int
    doctor: User
    nurse: User


@pytest.fixture
async def care(settings: Settings, session: AsyncSession) -> Care:
    """A patient in teleconsultation at Clos Mortier with the CPTS's doctor."""
    booking_id = await booking_now(settings)
    consultation_id = await in_consultation(settings, booking_id, "medecin")
    consultation = await session.get(Consultation, consultation_id)
    assert consultation is not None
    return Care(
        patient_id=consultation.patient_id,
        consultation_id=consultation_id,
        doctor=await user_named(session, "medecin"),
        nurse=await user_named(session, "infirmiere"),
    )


async def _signed(
    session: AsyncSession, care: Care, *, version: int = 1, set_oid: str | None = None
) -> ReportFacts:
    """A signed report row of the consultation, and the facts the generators get for it."""
    base = sample_facts()
    document_oid = f"{base.document_oid}{version}"
    set_oid = set_oid or base.set_oid
    report = Report(
        consultation_id=care.consultation_id,
        version=version,
        document_oid=document_oid,
        set_oid=set_oid,
        status=ReportStatus.SIGNED,
        author_id=care.doctor.id,
        pdf=b"%PDF-1.4 compte rendu",
        cda=CDA,
    )
    session.add(report)
    await session.commit()
    return dataclasses.replace(
        base,
        consultation_id=care.consultation_id,
        report_id=report.id,
        document_oid=document_oid,
        set_oid=set_oid,
        version=version,
        replaces_oid=f"{base.document_oid}{version - 1}" if version > 1 else None,
        patient=sample_patient(local_id=str(care.patient_id)),
        doctor=dataclasses.replace(
            base.doctor, user_id=care.doctor.id, given_name="Paul", family_name="DURAND"
        ),
    )


async def _deposit(
    session: AsyncSession, care: Care, facts: ReportFacts, *, hidden: bool = False
) -> SharedDocument:
    document = await registry.deposit(
        session=session,
        facts=facts,
        cda=CDA,
        actor=care.doctor,
        opposed=False,
        hidden_from_patient=hidden,
    )
    assert document is not None
    await session.commit()
    return document


async def _events(session: AsyncSession, action: str) -> list[AuditEvent]:
    return list(
        await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


async def test_the_embedded_registry_is_the_configured_one(settings: Settings) -> None:
    assert isinstance(document_sharing(settings), EmbeddedRegistry)


async def test_opposition_deposits_nothing_and_traces_the_refusal(
    session: AsyncSession, care: Care
) -> None:
    facts = await _signed(session, care)
    document = await registry.deposit(
        session=session,
        facts=facts,
        cda=CDA,
        actor=care.doctor,
        opposed=True,
        hidden_from_patient=False,
    )
    await session.commit()
    assert document is None
    assert await session.scalar(select(func.count()).select_from(SharedDocument)) == 0
    [event] = await _events(session, "dmp.deposit_skipped")
    assert event.detail == "opposition du patient"
    assert event.target == f"patient:{care.patient_id}" and event.actor_id == care.doctor.id
    assert event.outcome == "refused"


async def test_deposit_carries_the_xds_metadata_and_is_idempotent(
    session: AsyncSession, care: Care
) -> None:
    facts = dataclasses.replace(await _signed(session, care), confidentiality="R")
    document = await _deposit(session, care, facts)
    assert (document.unique_id, document.set_id, document.version) == (
        facts.document_oid,
        facts.set_oid,
        1,
    )
    assert (document.class_code, document.class_display) == ("10", "Compte rendu")
    assert (document.type_code, document.type_display) == ("85208-7", "CR de télémédecine")
    assert document.format_code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert document.practice_setting == "AMBULATOIRE"
    assert document.confidentiality is Confidentiality.RESTRICTED
    assert document.content_sha1 == hashlib.sha1(CDA, usedforsecurity=False).hexdigest()
    assert document.mime_type == "text/xml" and document.content == CDA
    assert document.author_name == "Dr Paul DURAND" and document.author_id == care.doctor.id
    assert (document.service_start, document.service_stop) == (facts.started_at, facts.ended_at)
    assert document.report_id == facts.report_id and document.title == facts.title

    again = await _deposit(session, care, facts)
    assert again.id == document.id
    assert await session.scalar(select(func.count()).select_from(SharedDocument)) == 1
    [event] = await _events(session, "dmp.deposit")
    assert (event.target, event.detail) == (
        f"document:{document.id}",
        f"patient:{care.patient_id}",
    )
    assert event.actor_id == care.doctor.id


async def test_a_masked_document_is_invisible_to_another_professional_not_to_its_author(
    session: AsyncSession, care: Care
) -> None:
    document = await _deposit(session, care, await _signed(session, care))
    assert [
        d.id
        for d in await registry.documents_for_professional(
            session=session, patient_id=care.patient_id, reader=care.nurse
        )
    ] == [document.id]

    await registry.set_masked(
        session=session, document_id=document.id, patient_id=care.patient_id, masked=True
    )
    await session.commit()
    [mask] = await _events(session, "dmp.mask")
    assert mask.actor_kind == "patient" and mask.target == f"document:{document.id}"

    assert (
        await registry.documents_for_professional(
            session=session, patient_id=care.patient_id, reader=care.nurse
        )
        == []
    )
    with pytest.raises(NotFound) as masked:
        await registry.get_for_professional(
            session=session, document_id=document.id, reader=care.nurse
        )
    with pytest.raises(NotFound) as missing:
        await registry.get_for_professional(
            session=session, document_id=document.id + 1000, reader=care.nurse
        )
    assert masked.value.message == missing.value.message == DOCUMENT_MISSING

    own = await registry.documents_for_professional(
        session=session, patient_id=care.patient_id, reader=care.doctor
    )
    assert [d.id for d in own] == [document.id]
    read = await registry.get_for_professional(
        session=session, document_id=document.id, reader=care.doctor
    )
    assert read.content == CDA

    reads = await _events(session, "dmp.read")
    assert [(e.actor_id, e.outcome) for e in reads] == [
        (care.nurse.id, "refused"),
        (care.doctor.id, "success"),
    ]
    assert len(await _events(session, "dmp.list")) == 3

    await registry.set_masked(
        session=session, document_id=document.id, patient_id=care.patient_id, masked=False
    )
    await session.commit()
    assert await registry.get_for_professional(
        session=session, document_id=document.id, reader=care.nurse
    )
    assert len(await _events(session, "dmp.unmask")) == 1


async def test_a_withheld_document_reaches_the_patient_only_once_disclosed(
    session: AsyncSession, care: Care
) -> None:
    document = await _deposit(session, care, await _signed(session, care), hidden=True)
    assert await registry.documents_for_patient(session=session, patient_id=care.patient_id) == []
    with pytest.raises(NotFound):
        await registry.get_for_patient(
            session=session, document_id=document.id, patient_id=care.patient_id
        )
    with pytest.raises(Forbidden):
        await registry.disclose(session=session, document_id=document.id, author=care.nurse)

    await registry.disclose(session=session, document_id=document.id, author=care.doctor)
    await session.commit()
    [shown] = await registry.documents_for_patient(session=session, patient_id=care.patient_id)
    assert shown.id == document.id and shown.disclosed_at is not None
    got = await registry.get_for_patient(
        session=session, document_id=document.id, patient_id=care.patient_id
    )
    assert got.id == document.id
    [disclosed] = await _events(session, "dmp.disclose")
    assert disclosed.actor_id == care.doctor.id
    views = await _events(session, "dmp.patient_view")
    assert len(views) == 2 and {e.actor_kind for e in views} == {"patient"}
    [read] = await _events(session, "dmp.patient_read")
    assert read.target == f"document:{document.id}" and read.actor_id == care.patient_id


async def test_version_2_deprecates_version_1_and_keeps_the_patients_mask(
    session: AsyncSession, care: Care
) -> None:
    first = await _deposit(session, care, await _signed(session, care))
    await registry.set_masked(
        session=session, document_id=first.id, patient_id=care.patient_id, masked=True
    )
    await session.commit()
    second = await _deposit(session, care, await _signed(session, care, version=2))
    await session.refresh(first)
    assert first.status is DocumentStatus.DEPRECATED and first.replaced_by_id == second.id
    assert second.status is DocumentStatus.APPROVED and second.version == 2
    assert second.masked

    current = await registry.documents_for_professional(
        session=session, patient_id=care.patient_id, reader=care.doctor
    )
    assert [d.id for d in current] == [second.id]
    everything = await registry.documents_for_professional(
        session=session, patient_id=care.patient_id, reader=care.doctor, include_deprecated=True
    )
    assert {d.id for d in everything} == {first.id, second.id}
    [replaced] = await _events(session, "dmp.replace")
    assert replaced.target == f"document:{first.id}"


async def test_access_history_names_the_staff_newest_first(
    session: AsyncSession, care: Care
) -> None:
    document = await _deposit(session, care, await _signed(session, care))
    await registry.get_for_professional(session=session, document_id=document.id, reader=care.nurse)
    record_event(
        session=session,
        action="consultation.something_new",
        actor_kind="user",
        actor_id=care.doctor.id,
        target=f"consultation:{care.consultation_id}",
    )
    await session.commit()
    await registry.documents_for_patient(session=session, patient_id=care.patient_id)

    history = await registry.access_history(session=session, patient_id=care.patient_id)
    assert [(h.actor_name, h.actor_role, h.action) for h in history] == [
        ("Dr Paul Durand", "Médecin téléconsultant", "Accès au dossier"),
        ("Julie Petit", "Infirmier·ère", "Consultation d'un document du dossier partagé"),
        ("Dr Paul Durand", "Médecin téléconsultant", "Dépôt d'un document dans le dossier partagé"),
    ]
    assert history[0].at >= history[1].at >= history[2].at
