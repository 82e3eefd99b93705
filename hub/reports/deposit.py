"""Depositing a signed report in the patient's shared record, only with a qualified identity.

A document goes into the shared record (DMP) only under the patient's INS, and only a
``qualifiée`` identity carries it (INS returned by the INSi teleservice and checked against an
identity document). A report signed for a patient whose identity is not qualified yet is still
signed and relayed by secure messaging (the traits are enough there); its deposit waits, traced,
and ``deposit_waiting`` makes it once the identity is qualified (the room's identity check and
the identity desk call it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import record_event
from hub.consultation.service import shareable_consultation_ids_of
from hub.context import HubContext
from hub.records.documents import deposited_unique_ids
from hub.records.patient_service import patient_by_id
from hub.records.patients import IdentityStatus
from hub.reports.cda import build_tlm_cr
from hub.reports.facts import ReportFacts
from hub.reports.gather import facts_of
from hub.reports.models import Report
from hub.reports.registry import document_sharing
from hub.reports.service import latest_signed

if TYPE_CHECKING:
    from hub.identity.models import User
    from hub.records.patients import Patient

NOT_QUALIFIED = (
    "Dépôt au DMP impossible : l'identité du patient n'est pas qualifiée (INS non vérifiée par "
    "le téléservice INSi). Le compte rendu est signé et transmis par messagerie sécurisée ; il "
    "sera déposé dans son dossier partagé dès que son identité sera qualifiée."
)
WAITING = "identité non qualifiée : dépôt en attente"


def identity_allows_deposit(patient: Patient, facts: ReportFacts) -> bool:
    """Whether the document may go into the shared record: a qualified identity whose INS the
    document carries."""
    return patient.identity_status is IdentityStatus.QUALIFIED and facts.patient.ins is not None


def note_waiting(session: AsyncSession, *, report: Report, patient: Patient, actor: User) -> None:
    """Trace that the report's deposit waits for the patient's identity to be qualified."""
    record_event(
        session=session,
        action="dmp.deposit_waiting",
        actor_kind="user",
        actor_id=actor.id,
        outcome="refused",
        target=f"patient:{patient.id}",
        detail=f"report:{report.id} — {WAITING}",
    )


async def is_deposited(session: AsyncSession, report: Report) -> bool:
    """Whether this version of the report is in the shared record."""
    found = await deposited_unique_ids(session=session, unique_ids=[report.document_oid])
    return report.document_oid in found


async def waiting_reports(*, session: AsyncSession, patient_id: int) -> list[Report]:
    """The patient's signed reports (latest version of each consultation's) not in the shared
    record though the patient did not object: their deposit waits for a qualified identity."""
    waiting = []
    for consultation_id in await shareable_consultation_ids_of(
        session=session, patient_id=patient_id
    ):
        report = await latest_signed(session=session, consultation_id=consultation_id)
        if report is None or report.cda is None:
            continue
        if not await is_deposited(session, report):
            waiting.append(report)
    return waiting


async def deposit_waiting(
    *, session: AsyncSession, ctx: HubContext, patient_id: int, actor: User
) -> int:
    """Deposit the patient's waiting reports now that their identity is qualified; return how
    many were deposited (none while it is not). The CDA is made again so that it carries the
    INS (the signed PDF it holds is unchanged). The caller commits."""
    patient = await patient_by_id(session=session, patient_id=patient_id)
    if patient is None or patient.identity_status is not IdentityStatus.QUALIFIED:
        return 0
    deposited = 0
    for report in await waiting_reports(session=session, patient_id=patient_id):
        facts = await facts_of(session=session, report=report, oid_root=ctx.settings.oid_root)
        if not identity_allows_deposit(patient, facts) or report.pdf is None:
            continue
        report.cda = build_tlm_cr(facts, report.pdf)
        document = await document_sharing(ctx).deposit(
            session=session,
            facts=facts,
            cda=report.cda,
            actor=actor,
            opposed=False,
            hidden_from_patient=report.hidden_from_patient,
        )
        if document is not None:
            deposited += 1
    return deposited
