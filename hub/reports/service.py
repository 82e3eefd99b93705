"""Writing, signing and amending the doctor's report of a teleconsultation.

Only the doctor who held the teleconsultation writes and signs its report. Signing freezes a
version: the session's measurements are copied in, the PDF and the CDA are generated, and the
report is published (``publication.publish``). An amendment opens version n + 1 of the same
document, written and signed the same way.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import record_event
from hub.consultation.models import State
from hub.context import HubContext
from hub.errors import Conflict, Forbidden, Invalid
from hub.identity.models import Role
from hub.lengths import Text, too_long
from hub.records.observations import observations_of_booking
from hub.records.patient_service import patient_by_id
from hub.reports.cda import build_tlm_cr
from hub.reports.gather import facts_of, measurements_json, session_measurements
from hub.reports.models import (
    DoctorAct,
    NurseAct,
    Orientation,
    Report,
    ReportStatus,
)

if TYPE_CHECKING:
    from hub.consultation.models import Consultation
    from hub.identity.models import User

MAX_TEXT = 20_000
# The report's free texts, as the doctor's form names them.
REPORT_TEXT = {
    "reason": Text("Motif", MAX_TEXT),
    "examination": Text("Examen", MAX_TEXT),
    "conclusion": Text("Conclusion", MAX_TEXT),
    "prescriptions": Text("Prescriptions", MAX_TEXT),
}


@dataclass(frozen=True, slots=True)
class ReportDraft:
    """What the doctor typed in the report form."""

    reason: str = ""
    examination: str = ""
    conclusion: str = ""
    prescriptions: str = ""
    orientation: str = Orientation.MEDECIN_TRAITANT.value
    doctor_act: str = DoctorAct.TCG.value
    nurse_act: str = NurseAct.TLL.value
    psychiatric: bool = False
    hidden_from_patient: bool = False


def new_oid() -> str:
    """A globally unique OID for a document or a set ("2.25." + a random UUID as an integer)."""
    return f"2.25.{uuid.uuid4().int}"


async def reports_of(*, session: AsyncSession, consultation_id: int) -> list[Report]:
    """Every version of a consultation's report, oldest first."""
    rows = await session.scalars(
        select(Report).where(Report.consultation_id == consultation_id).order_by(Report.version)
    )
    return list(rows)


async def latest_signed(*, session: AsyncSession, consultation_id: int) -> Report | None:
    """The newest signed version of a consultation's report, if any."""
    return await session.scalar(
        select(Report)
        .where(Report.consultation_id == consultation_id, Report.status == ReportStatus.SIGNED)
        .order_by(Report.version.desc())
        .limit(1)
    )


def _check_author(user: User, consultation: Consultation) -> None:
    if user.role is not Role.DOCTOR or consultation.doctor_id != user.id:
        raise Forbidden("Seul le médecin qui a mené la téléconsultation rédige son compte rendu.")


def _trace(
    session: AsyncSession, action: str, user: User, consultation: Consultation, report: Report
) -> None:
    record_event(
        session=session,
        action=action,
        actor_kind="user",
        actor_id=user.id,
        site_id=consultation.site_id,
        target=f"consultation:{consultation.id}",
        detail=f"report:{report.id} v{report.version}",
    )


def _apply(report: Report, draft: ReportDraft) -> None:
    texts = {
        "reason": draft.reason,
        "examination": draft.examination,
        "conclusion": draft.conclusion,
        "prescriptions": draft.prescriptions,
    }
    if problems := too_long(texts, REPORT_TEXT):
        raise Invalid(" ".join(problems.values()), fields=problems)
    for name, value in texts.items():
        setattr(report, name, value.strip())
    try:
        report.orientation = Orientation(draft.orientation)
    except ValueError:
        raise Invalid("Choisissez l'orientation du patient.") from None
    try:
        report.doctor_act = DoctorAct(draft.doctor_act)
    except ValueError:
        raise Invalid("Choisissez l'acte du médecin (TCG ou TC).") from None
    if draft.nurse_act:
        try:
            report.nurse_act = NurseAct(draft.nurse_act)
        except ValueError:
            raise Invalid("L'acte infirmier doit être TLL, TLS ou TLD.") from None
    else:
        report.nurse_act = None
    report.psychiatric = draft.psychiatric
    report.hidden_from_patient = draft.hidden_from_patient


async def _draft_of(
    session: AsyncSession, consultation: Consultation, user: User, now: dt.datetime
) -> Report:
    """The open draft of the consultation's report, created for the first version."""
    versions = await reports_of(session=session, consultation_id=consultation.id)
    if versions and versions[-1].status is ReportStatus.DRAFT:
        return versions[-1]
    if versions:
        raise Conflict("Le compte rendu est signé : pour le corriger, ouvrez une nouvelle version.")
    report = Report(
        consultation_id=consultation.id,
        version=1,
        document_oid=new_oid(),
        set_oid=new_oid(),
        reason=consultation.reason,
        author_id=user.id,
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    return report


async def save_draft(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation: Consultation,
    draft: ReportDraft,
) -> Report:
    """Keep what the doctor wrote so far (the report is not sent)."""
    _check_author(user, consultation)
    if consultation.state not in (State.IN_CONSULTATION, State.REPORTING, State.CLOSED):
        raise Conflict("Le compte rendu s'écrit pendant ou après la téléconsultation.")
    now = ctx.clock()
    report = await _draft_of(session, consultation, user, now)
    _apply(report, draft)
    report.updated_at = now
    await session.flush()
    _trace(session, "report.draft_saved", user, consultation, report)
    await session.commit()
    return report


async def sign(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation: Consultation,
    draft: ReportDraft,
) -> Report:
    """Sign the report: freeze it with the session's measurements, render the PDF and the CDA.

    The caller publishes it (shared record, relay) and closes the consultation."""
    _check_author(user, consultation)
    if consultation.state not in (State.REPORTING, State.CLOSED):
        raise Conflict("Terminez la téléconsultation avant de signer le compte rendu.")
    now = ctx.clock()
    report = await _draft_of(session, consultation, user, now)
    _apply(report, draft)
    missing = [
        label
        for label, value in (("le motif", report.reason), ("la conclusion", report.conclusion))
        if not value
    ]
    if missing:
        raise Invalid("Avant de signer, indiquez " + " et ".join(missing) + ".")
    if report.version > 1 and not report.amendment_reason:
        raise Invalid("Indiquez ce que corrige cette nouvelle version.")
    patient = await patient_by_id(session=session, patient_id=consultation.patient_id)
    assert patient is not None
    if report.orientation is Orientation.MEDECIN_TRAITANT and patient.has_medecin_traitant is False:
        raise Invalid(
            "Le patient n'a pas de médecin traitant : choisissez « Suivi par un médecin "
            "relais » (ou une autre orientation)."
        )
    observations = await observations_of_booking(
        session=session, booking_id=consultation.booking_id
    )
    report.measurements_json = measurements_json(session_measurements(observations))
    report.status = ReportStatus.SIGNED
    report.author_id = user.id
    report.signed_at = now
    report.updated_at = now
    await session.flush()
    facts = await facts_of(session=session, report=report, oid_root=ctx.settings.oid_root)
    from hub.reports.pdf import render_report_pdf  # reportlab: loaded when first needed

    report.pdf = render_report_pdf(facts)
    report.cda = build_tlm_cr(facts, report.pdf)
    _trace(session, "report.signed", user, consultation, report)
    await session.flush()
    return report


async def amend(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation: Consultation,
    reason: str,
) -> Report:
    """Open a new version of a signed report, pre-filled with the signed one."""
    _check_author(user, consultation)
    if not reason.strip():
        raise Invalid("Indiquez ce que corrige la nouvelle version.")
    versions = await reports_of(session=session, consultation_id=consultation.id)
    if not versions or versions[-1].status is not ReportStatus.SIGNED:
        raise Conflict("Il n'y a pas de compte rendu signé à corriger.")
    previous = versions[-1]
    now = ctx.clock()
    report = Report(
        consultation_id=consultation.id,
        version=previous.version + 1,
        document_oid=new_oid(),
        set_oid=previous.set_oid,
        replaces_id=previous.id,
        reason=previous.reason,
        examination=previous.examination,
        conclusion=previous.conclusion,
        prescriptions=previous.prescriptions,
        orientation=previous.orientation,
        doctor_act=previous.doctor_act,
        nurse_act=previous.nurse_act,
        psychiatric=previous.psychiatric,
        hidden_from_patient=previous.hidden_from_patient,
        amendment_reason=reason.strip()[:2000],
        author_id=user.id,
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    await session.flush()
    _trace(session, "report.amendment_opened", user, consultation, report)
    await session.commit()
    return report


async def get_report(*, session: AsyncSession, report_id: int) -> Report | None:
    """The report version with this id, None if there is none."""
    return await session.get(Report, report_id)
