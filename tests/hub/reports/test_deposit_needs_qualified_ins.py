"""A report goes into the shared record only under a qualified identity (INS from INSi,
checked against an identity document): before that it is signed and relayed by secure
messaging, the doctor is told why it is not deposited, and it is deposited as soon as the
nurse's identity check qualifies the identity. Every step is in the audit trail."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub import db
from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.consultation.models import Consultation
from hub.context import HubContext
from hub.identity.models import User
from hub.notify.models import OutboundMessage
from hub.records.documents import SharedDocument
from hub.records.patients import IdentityStatus, Patient
from hub.reports import publication
from hub.reports import service as report_service
from hub.reports.service import ReportDraft
from tests.conftest import csrf_from, login, text
from tests.support.factories import Cpts
from tests.support.scenario import ended_consultation

DRAFT = ReportDraft(reason="Toux fébrile", conclusion="Bronchite aiguë sans signe de gravité.")
INS = b"258066311300116"


async def _signed(
    settings: Settings, session: AsyncSession, app: FastAPI, cpts: Cpts, status: IdentityStatus
) -> tuple[int, publication.Publication]:
    cid = await ended_consultation(settings, cpts.cabin_id, identity=status)
    consultation = await session.get(Consultation, cid)
    doctor = (
        await session.scalars(
            select(User).where(User.username == "medecin").options(selectinload(User.sites))
        )
    ).one()
    assert consultation is not None
    ctx: HubContext = app.state.hub
    _, result = await publication.sign_and_publish(
        session=session, ctx=ctx, user=doctor, consultation=consultation, draft=DRAFT
    )
    return cid, result


async def _documents(settings: Settings) -> list[SharedDocument]:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as s:
            return list(await s.scalars(select(SharedDocument)))
    finally:
        await engine.dispose()


async def _actions(session: AsyncSession) -> list[str]:
    session.expire_all()
    return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def _as(client: httpx.AsyncClient, username: str) -> None:
    client.cookies.clear()
    await login(client, username)


async def _check_identity(client: httpx.AsyncClient, cid: int) -> httpx.Response:
    await _as(client, "infirmiere")
    room = await client.get(f"/salle/consultations/{cid}")
    return await client.post(
        f"/salle/consultations/{cid}/identite",
        data={
            "document": "cni",
            "traits_match": "oui",
            "birth_place_code": "63113",
            "csrf_token": csrf_from(room.text),
        },
    )


async def test_an_insi_identity_not_yet_checked_waits_then_is_deposited_once_qualified(
    settings: Settings,
    session: AsyncSession,
    app: FastAPI,
    cpts: Cpts,
    client: httpx.AsyncClient,
) -> None:
    cid, result = await _signed(settings, session, app, cpts, IdentityStatus.RETRIEVED)
    assert result.deposit_waiting and not result.deposited
    assert await _documents(settings) == []
    # Still relayed to the médecin traitant: secure messaging accepts the traits.
    relays = list(
        await session.scalars(
            select(OutboundMessage).where(OutboundMessage.purpose == "report_relay")
        )
    )
    assert len(relays) == 1
    assert "dmp.deposit_waiting" in await _actions(session)
    assert "dmp.deposit" not in await _actions(session)

    await _as(client, "medecin")
    console = text(await client.get(f"/medecin/consultations/{cid}"))
    assert "Dépôt au DMP impossible : l'identité du patient n'est pas qualifiée" in console
    assert "Dossier partagé : déposé" not in console

    response = await _check_identity(client, cid)
    assert response.status_code == 303, text(response)
    (document,) = await _documents(settings)
    assert INS in document.content  # the deposited document carries the INS
    (report,) = await report_service.reports_of(session=session, consultation_id=cid)
    assert document.unique_id == report.document_oid
    actions = await _actions(session)
    assert actions.index("identity.status") < actions.index("dmp.deposit")
    nurse = await session.scalar(select(User.id).where(User.username == "infirmiere"))
    deposit_actor = await session.scalar(
        select(AuditEvent.actor_id).where(AuditEvent.action == "dmp.deposit")
    )
    assert deposit_actor == nurse

    await _as(client, "medecin")
    console = text(await client.get(f"/medecin/consultations/{cid}"))
    assert "Dossier partagé : déposé" in console
    assert "Dépôt au DMP impossible" not in console


async def test_an_identity_checked_without_insi_stays_out_of_the_shared_record(
    settings: Settings,
    session: AsyncSession,
    app: FastAPI,
    cpts: Cpts,
    client: httpx.AsyncClient,
) -> None:
    cid, result = await _signed(settings, session, app, cpts, IdentityStatus.PROVISIONAL)
    assert result.deposit_waiting
    response = await _check_identity(client, cid)
    assert response.status_code == 303, text(response)
    patient = await session.scalar(
        select(Patient)
        .join(Consultation, Consultation.patient_id == Patient.id)
        .where(Consultation.id == cid)
        .execution_options(populate_existing=True)
    )
    assert patient is not None and patient.identity_status is IdentityStatus.VALIDATED
    assert await _documents(settings) == []  # validated is not qualified: still waiting


async def test_a_qualified_identity_is_deposited_at_signature(
    settings: Settings, session: AsyncSession, app: FastAPI, cpts: Cpts
) -> None:
    _, result = await _signed(settings, session, app, cpts, IdentityStatus.QUALIFIED)
    assert result.deposited and not result.deposit_waiting
    assert "dmp.deposit_waiting" not in await _actions(session)
