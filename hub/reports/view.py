"""What the consoles show of a consultation's report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.notify import outbox
from hub.records.documents import deposited_unique_ids
from hub.reports import gather as report_facts
from hub.reports import service as report_service
from hub.reports.deposit import NOT_QUALIFIED
from hub.reports.models import ACT_LABELS, ORIENTATION_LABELS, ReportStatus
from hub.reports.tracking import error_in_words

if TYPE_CHECKING:
    from hub.consultation.models import Consultation
    from hub.records.observations import Observation

RELAY_STATUS = {
    "pending": "en attente d'envoi",
    "sent": "envoyé",
    "failed": "échec",
    "cancelled": "annulé",
}


async def console_view(
    *, session: AsyncSession, consultation: Consultation, observations: list[Observation]
) -> dict[str, object]:
    """What the consoles show of the report: its versions, the open draft, the measurements
    that signing will copy in, and where each signed version was sent (shared record
    included)."""
    versions = await report_service.reports_of(session=session, consultation_id=consultation.id)
    draft = versions[-1] if versions and versions[-1].status is ReportStatus.DRAFT else None
    signed = [r for r in versions if r.status is ReportStatus.SIGNED]
    relays = await outbox.messages_about(
        session=session, related_kind="report", related_ids=[r.id for r in signed]
    )
    deposited = await deposited_unique_ids(
        session=session, unique_ids=[r.document_oid for r in signed]
    )
    return {
        "report_draft": draft,
        "reports_signed": signed,
        "report_measurements": report_facts.session_measurements(observations),
        "report_relays": relays,
        "relay_errors": {m.id: error_in_words(m.last_error) for m in relays},  # in French
        "relay_status": RELAY_STATUS,
        # Document OIDs in the shared record, and why a signed one is not there yet.
        "deposited_oids": deposited,
        "deposit_waiting": NOT_QUALIFIED,
        "orientation_labels": ORIENTATION_LABELS,
        "act_labels": ACT_LABELS,
    }
