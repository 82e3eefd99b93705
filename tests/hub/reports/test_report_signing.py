"""Signing a teleconsultation report: who may, when, what it freezes, the documents it makes
(checked by the ANS validator), and what publication does with them (shared record, relays)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import Settings
from hub.consultation.models import Consultation, DmpChoice, State
from hub.context import HubContext
from hub.errors import Conflict, Forbidden, Invalid
from hub.identity import service as identity
from hub.identity.models import Role, User
from hub.notify.models import MessageStatus, OutboundMessage
from hub.records.documents import DocumentStatus, SharedDocument
from hub.records.patient_links import PURPOSE as PATIENT_LINK
from hub.records.patients import Patient
from hub.relay.models import RelayDoctor
from hub.reports import publication
from hub.reports import service as report_service
from hub.reports.service import ReportDraft
from tests.conftest import login, text
from tests.support.cda import validate_cda
from tests.support.factories import Cpts, user_named
from tests.support.scenario import GP_ADDRESS as MT
from tests.support.scenario import ended_consultation

DRAFT = ReportDraft(
    reason="Toux fébrile",
    examination="Crépitants de la base droite.",
    conclusion="Pneumopathie sans signe de gravité.",
    prescriptions="Amoxicilline 1 g × 3 par jour pendant 7 jours.",
)


async def _consultation(
    settings: Settings,
    session: AsyncSession,
    cpts: Cpts,
    *,
    state: State = State.REPORTING,
    dmp: DmpChoice = DmpChoice.ACCEPTS,
    gp: bool = True,
) -> Consultation:
    cid = await ended_consultation(settings, cpts.cabin_id, state=state, dmp=dmp, gp=gp)
    return await _reload(session, cid)


async def _reload(session: AsyncSession, cid: int) -> Consultation:
    consultation = await session.get(Consultation, cid, populate_existing=True)
    assert consultation is not None
    return consultation


async def _sign_and_publish(
    session: AsyncSession, ctx: HubContext, consultation: Consultation, doctor: User
) -> publication.Publication:
    _, result = await publication.sign_and_publish(
        session=session, ctx=ctx, user=doctor, consultation=consultation, draft=DRAFT
    )
    return result


async def _messages(session: AsyncSession, purpose: str) -> list[OutboundMessage]:
    return list(
        await session.scalars(select(OutboundMessage).where(OutboundMessage.purpose == purpose))
    )


async def test_signing_freezes_the_session_and_its_documents_pass_the_ans_validator(
    settings: Settings, session: AsyncSession, ctx: HubContext, cpts: Cpts, tmp_path: Path
) -> None:
    consultation = await _consultation(settings, session, cpts)
    doctor = await user_named(session, "medecin")
    result = await _sign_and_publish(session, ctx, consultation, doctor)
    assert result.deposited and not result.missing_address
    (v1,) = await report_service.reports_of(session=session, consultation_id=consultation.id)
    assert v1.pdf is not None and v1.pdf.startswith(b"%PDF")
    assert v1.cda is not None
    frozen = json.loads(v1.measurements_json)
    # Every temperature reading, and the last value of the oximeter's stream only.
    assert [(m["kind"], m["value"]) for m in frozen] == [("body_temperature", 38.2), ("spo2", 94)]
    relays = await _messages(session, "report_relay")
    assert [MT in m.recipient for m in relays] == [True]
    # The patient is told where to read it, by e-mail and by SMS (no health data in either).
    links = await _messages(session, PATIENT_LINK)
    assert sorted(m.channel.value for m in links) == ["email", "sms"]
    assert all("Pneumopathie" not in m.body_text for m in links)

    # A later correction is version 2 of the same document; the shared record keeps the chain.
    consultation = await _reload(session, consultation.id)
    await report_service.amend(
        session=session, ctx=ctx, user=doctor, consultation=consultation, reason="Dose corrigée"
    )
    await _sign_and_publish(session, ctx, await _reload(session, consultation.id), doctor)
    v1, v2 = await report_service.reports_of(session=session, consultation_id=consultation.id)
    assert (v2.version, v2.set_oid, v2.replaces_id) == (2, v1.set_oid, v1.id)
    assert v2.cda is not None and b'typeCode="RPLC"' in v2.cda
    documents = list(await session.scalars(select(SharedDocument).order_by(SharedDocument.version)))
    assert [d.status for d in documents] == [DocumentStatus.DEPRECATED, DocumentStatus.APPROVED]
    assert documents[0].replaced_by_id == documents[1].id
    assert len(await _messages(session, "report_relay")) == 2

    verdicts = validate_cda(
        {"v1": v1.cda, "v2": v2.cda},
        workdir=tmp_path,
        cache_dir=Path(".pytest_cache") / "cda-validator",
    )
    assert verdicts["v1"].passed, verdicts["v1"].output
    assert verdicts["v2"].passed, verdicts["v2"].output
    assert b"258066311300116" in v1.cda  # the qualified identity carries its INS


async def test_opposition_keeps_the_report_out_of_the_shared_record_but_the_gp_gets_it(
    settings: Settings, session: AsyncSession, ctx: HubContext, cpts: Cpts
) -> None:
    consultation = await _consultation(settings, session, cpts, dmp=DmpChoice.OPPOSES)
    result = await _sign_and_publish(
        session, ctx, consultation, await user_named(session, "medecin")
    )
    assert not result.deposited
    assert (await session.scalar(select(SharedDocument.id))) is None
    assert len(await _messages(session, "report_relay")) == 1


async def test_a_gp_address_outside_the_mssante_trust_space_gets_nothing_and_the_doctor_is_told(
    settings: Settings,
    session: AsyncSession,
    ctx: HubContext,
    cpts: Cpts,
    client: httpx.AsyncClient,
) -> None:
    consultation = await _consultation(settings, session, cpts)
    patient = await session.get_one(Patient, consultation.patient_id)
    patient.medecin_traitant_mssante = "dr.bernard@gmail.com"  # a plain mailbox
    await session.commit()
    await _sign_and_publish(
        session, ctx, await _reload(session, consultation.id), await user_named(session, "medecin")
    )
    [relay] = await _messages(session, "report_relay")
    assert relay.status is MessageStatus.FAILED and relay.attempts == 0
    await login(client, "medecin")
    page = text(await client.get(f"/medecin/consultations/{consultation.id}"))
    assert "dr.bernard@gmail.com" in page and "échec" in page
    assert "n'appartient pas à l'espace de confiance MSSanté" in page
    assert "trust space" not in page  # the outbox's technical words stay out of the page


async def test_a_patient_without_gp_is_followed_by_the_relay_doctor_they_were_referred_to(
    settings: Settings, session: AsyncSession, ctx: HubContext, cpts: Cpts
) -> None:
    consultation = await _consultation(settings, session, cpts, gp=False)
    cid = consultation.id
    with pytest.raises(Invalid, match="pas de médecin traitant"):
        await report_service.sign(
            session=session,
            ctx=ctx,
            user=await user_named(session, "medecin"),
            consultation=consultation,
            draft=DRAFT,
        )
    await session.rollback()
    doctor = await user_named(session, "medecin")
    relay_doctor = await session.scalar(
        select(RelayDoctor).where(RelayDoctor.accepts_new_patients.is_(True))
    )
    assert relay_doctor is not None
    consultation = await _reload(session, cid)
    report = await report_service.sign(
        session=session,
        ctx=ctx,
        user=doctor,
        consultation=consultation,
        draft=dataclasses.replace(DRAFT, orientation="medecin_relais"),
    )
    await session.commit()
    assert report.signed_at is not None
    # Referred after signing: the relay doctor gets the signed report too.
    message = await publication.send_signed_report(
        session=session, ctx=ctx, consultation_id=consultation.id, doctor=relay_doctor
    )
    await session.commit()
    assert message is not None and relay_doctor.email in message.recipient
    assert message.purpose == "referral_report"


async def test_only_the_doctor_of_the_teleconsultation_signs_and_only_once_it_ended(
    settings: Settings, session: AsyncSession, ctx: HubContext, cpts: Cpts
) -> None:
    consultation = await _consultation(settings, session, cpts, state=State.IN_CONSULTATION)
    cid = consultation.id
    with pytest.raises(Conflict, match="Terminez la téléconsultation"):
        await report_service.sign(
            session=session,
            ctx=ctx,
            user=await user_named(session, "medecin"),
            consultation=consultation,
            draft=DRAFT,
        )
    await session.rollback()
    doctor = await user_named(session, "medecin")
    consultation = await _reload(session, cid)
    consultation.state = State.REPORTING
    await session.commit()
    org = doctor.organisation
    other = await identity.create_user(
        session=session,
        organisation=org,
        username="autre-medecin",
        full_name="Dr Autre Médecin",
        role=Role.DOCTOR,
        password="un-mot-de-passe-solide-52",
        sites=list(doctor.sites),
    )
    await session.commit()
    for someone in (other, await user_named(session, "infirmiere")):
        with pytest.raises(Forbidden, match="Seul le médecin qui a mené"):
            await report_service.save_draft(
                session=session, ctx=ctx, user=someone, consultation=consultation, draft=DRAFT
            )
    with pytest.raises(Invalid, match="indiquez la conclusion"):
        await report_service.sign(
            session=session,
            ctx=ctx,
            user=doctor,
            consultation=consultation,
            draft=ReportDraft(reason="Toux", conclusion="  "),
        )
    await session.rollback()
    with pytest.raises(Conflict, match="pas de compte rendu signé"):
        await report_service.amend(
            session=session,
            ctx=ctx,
            user=await user_named(session, "medecin"),
            consultation=await _reload(session, cid),
            reason="Correction",
        )
