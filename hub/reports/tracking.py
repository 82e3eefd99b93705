"""Follow-up of the report relays for the secretariat: what was sent, what waits, what
failed and why (in words), and sending a failed one again."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.consultation.models import Consultation
from hub.errors import Conflict, NotFound
from hub.identity.models import Site
from hub.notify import outbox
from hub.notify.models import MessageStatus, OutboundMessage
from hub.records.patients import Patient
from hub.reports.models import Report
from hub.reports.mssante import (
    OUTSIDE_TRUST_SPACE,
    OUTSIDE_TRUST_SPACE_IN_WORDS,
    PURPOSE_MEDECIN_TRAITANT,
    PURPOSE_RELAY_DOCTOR,
    PURPOSE_REQUESTER,
    RELATED_KIND,
    RELAY_PURPOSES,
    in_trust_space,
)

STATUS_LABELS = {
    MessageStatus.PENDING: "en attente",
    MessageStatus.SENT: "envoyé",
    MessageStatus.FAILED: "échec",
    MessageStatus.CANCELLED: "annulé",
}
PURPOSE_LABELS = {
    PURPOSE_MEDECIN_TRAITANT: "Médecin traitant",
    PURPOSE_RELAY_DOCTOR: "Médecin relais",
    PURPOSE_REQUESTER: "Médecin demandeur",
}


RELAY_MISSING = "Transmission introuvable."


def error_in_words(error: str | None) -> str:
    """What went wrong with a delivery, said for the secretariat (the outbox keeps the
    technical text)."""
    if not error:
        return ""
    if error == outbox.NO_SMTP:
        return "Aucun serveur de messagerie n'est configuré : prévenez l'administrateur."
    if error == OUTSIDE_TRUST_SPACE:
        return OUTSIDE_TRUST_SPACE_IN_WORDS
    if error == outbox.INTERRUPTED:
        return "L'envoi a été interrompu à chaque tentative."
    if "refused every recipient" in error or "refused recipients" in error:
        return (
            "Le serveur de messagerie a refusé l'adresse du destinataire : "
            "vérifiez l'adresse MSSanté du médecin."
        )
    if re.search(r"refused: 4\d\d", error):
        return "Le serveur de messagerie a refusé le message pour le moment (refus temporaire)."
    if "refused:" in error:
        return "Le serveur de messagerie a refusé le message."
    if " failed: " in error:
        return "Le serveur de messagerie est injoignable."
    return "Erreur technique lors de l'envoi."


@dataclass(frozen=True, slots=True)
class RelayLine:
    """One relay of a report, as the secretariat follows it."""

    message_id: int
    report_id: int
    consultation_id: int
    site_id: int
    site_name: str
    timezone: str
    patient_name: str
    recipient: str
    purpose_label: str
    status: MessageStatus
    status_label: str
    attempts: int
    error: str  # in words
    technical_error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None

    @property
    def failed(self) -> bool:
        return self.status is MessageStatus.FAILED


def _relays_query(
    organisation_id: int, site_ids: Collection[int] | None = None
) -> Select[OutboundMessage, Report, Consultation, Site, Patient]:
    """The relays of a CPTS's reports, of consultations at these sites only if given."""
    query = (
        select(OutboundMessage, Report, Consultation, Site, Patient)
        .join(
            Report,
            and_(
                OutboundMessage.related_kind == RELATED_KIND,
                Report.id == OutboundMessage.related_id,
            ),
        )
        .join(Consultation, Consultation.id == Report.consultation_id)
        .join(Site, Site.id == Consultation.site_id)
        .join(Patient, Patient.id == Consultation.patient_id)
        .where(Site.organisation_id == organisation_id, OutboundMessage.purpose.in_(RELAY_PURPOSES))
    )
    return query if site_ids is None else query.where(Site.id.in_(site_ids))


def _line(
    message: OutboundMessage,
    report: Report,
    consultation: Consultation,
    site: Site,
    patient: Patient,
) -> RelayLine:
    return RelayLine(
        message_id=message.id,
        report_id=report.id,
        consultation_id=consultation.id,
        site_id=site.id,
        site_name=site.name,
        timezone=site.timezone,
        patient_name=f"{patient.birth_name} {patient.first_names}".strip(),
        recipient=message.recipient,
        purpose_label=PURPOSE_LABELS.get(message.purpose, message.purpose),
        status=message.status,
        status_label=STATUS_LABELS[message.status],
        attempts=message.attempts,
        error=error_in_words(message.last_error),
        technical_error=message.last_error or "",
        created_at=message.created_at,
        sent_at=message.sent_at,
    )


async def list_relays(
    *,
    session: AsyncSession,
    organisation_id: int,
    site_ids: Collection[int] | None = None,
    limit: int = 200,
) -> list[RelayLine]:
    """The report relays of a CPTS's patients (of consultations at ``site_ids`` if given):
    failures first, then those waiting, then the sent ones, newest first within each."""
    order = case(
        (OutboundMessage.status == MessageStatus.FAILED, 0),
        (OutboundMessage.status == MessageStatus.PENDING, 1),
        else_=2,
    )
    rows = await session.execute(
        _relays_query(organisation_id, site_ids)
        .order_by(order, OutboundMessage.id.desc())
        .limit(limit)
    )
    return [_line(*row) for row in rows]


async def count_relays_needing_attention(
    *, session: AsyncSession, organisation_id: int, site_ids: Collection[int] | None = None
) -> int:
    """How many report relays of a CPTS (of ``site_ids`` if given) failed for good (the
    secretary's home shows it)."""
    failed = (
        _relays_query(organisation_id, site_ids)
        .where(OutboundMessage.status == MessageStatus.FAILED)
        .with_only_columns(OutboundMessage.id)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(failed)) or 0)


async def relay_site_id(*, session: AsyncSession, organisation_id: int, message_id: int) -> int:
    """The site of the consultation whose report this relay carries."""
    site_id = await session.scalar(
        _relays_query(organisation_id)
        .where(OutboundMessage.id == message_id)
        .with_only_columns(Site.id)
    )
    if site_id is None:
        raise NotFound(RELAY_MISSING)
    return int(site_id)


async def resend_relay(
    *,
    session: AsyncSession,
    organisation_id: int,
    message_id: int,
    now: dt.datetime,
    trust_space: Sequence[str],
) -> RelayLine:
    """Put a failed relay back in the outbox, due at ``now``, with a fresh count of attempts;
    the caller commits (and records who asked). A relay to an address outside the MSSanté
    ``trust_space`` stays refused."""
    row = (
        await session.execute(
            _relays_query(organisation_id).where(OutboundMessage.id == message_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(RELAY_MISSING)
    message = row[0]
    if message.status is not MessageStatus.FAILED:
        raise Conflict(
            f"Cette transmission est « {STATUS_LABELS[message.status]} » : "
            "seule une transmission en échec peut être renvoyée."
        )
    if not in_trust_space(parseaddr(message.recipient)[1], trust_space):
        raise Conflict(OUTSIDE_TRUST_SPACE_IN_WORDS)
    message.status = MessageStatus.PENDING
    message.attempts = 0
    message.next_attempt_at = now
    message.last_error = None
    await session.flush()
    return _line(*row)
