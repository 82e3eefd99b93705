"""Follow-up of the report relays for the secretariat: what was sent, what waits, what
failed and why (in words), and sending a failed one again."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.consultation.queries import consultation_places
from hub.errors import Conflict, NotFound
from hub.identity.queries import sites_of
from hub.notify import outbox
from hub.notify import queries as notify_queries
from hub.notify.models import MessageStatus, ReceiptKind
from hub.notify.receipts import receipts_of
from hub.records.queries import patient_names
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

if TYPE_CHECKING:
    from hub.notify.models import MessageReceipt, OutboundMessage

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


def delivery_failure_in_words(detail: str) -> str:
    """Why the recipient's server could not deliver, from a DSN's status code (RFC 3463)."""
    code = detail.split(" ", 1)[0]
    if code in ("5.1.1", "5.1.6", "5.1.10"):
        return "l'adresse du destinataire n'existe pas ; vérifiez son adresse MSSanté"
    if code in ("5.1.2", "4.4.4", "5.4.4"):
        return "le domaine de l'adresse du destinataire est introuvable"
    if code in ("4.2.2", "5.2.2"):
        return "la boîte aux lettres du destinataire est pleine"
    if code in ("5.2.1", "4.2.1"):
        return "la boîte aux lettres du destinataire est désactivée"
    if code.startswith(("5.7.", "4.7.")):
        return "le serveur du destinataire a refusé le message pour des raisons de sécurité"
    if code.startswith(("5.3.", "4.3.", "4.4.", "5.4.")):
        return "le serveur du destinataire est injoignable"
    return "le serveur du destinataire n'a pas pu remettre le message"


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """A delivery or read report of a relay, said in words, with when it happened."""

    label: str
    at: dt.datetime
    failed: bool


def _receipt_line(receipt: MessageReceipt) -> ReceiptLine | None:
    if receipt.kind is ReceiptKind.DELIVERED:
        return ReceiptLine("Remis au destinataire", receipt.reported_at, failed=False)
    if receipt.kind is ReceiptKind.FAILED:
        reason = delivery_failure_in_words(receipt.detail)
        return ReceiptLine(f"Échec de remise : {reason}", receipt.reported_at, failed=True)
    if receipt.kind is ReceiptKind.READ:
        return ReceiptLine("Lu par le destinataire", receipt.reported_at, failed=False)
    return None


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
    receipts: tuple[ReceiptLine, ...] = ()  # from the recipient's side, oldest first

    @property
    def failed(self) -> bool:
        return self.status is MessageStatus.FAILED


@dataclass(frozen=True, slots=True)
class _Place:
    """Where and for whom the consultation of a relayed report was (read in one statement
    composed of the consultation, identity and records slices' pieces)."""

    report_id: int
    consultation_id: int
    site_id: int
    site_name: str
    timezone: str
    birth_name: str
    first_names: str


def _report_ids(organisation_id: int, site_ids: Collection[int] | None) -> Select[int]:
    """The ids of the reports of a CPTS's consultations (at ``site_ids`` only, if given)."""
    places, sites = consultation_places(), sites_of(organisation_id)
    query = (
        select(Report.id)
        .join(places, places.c.id == Report.consultation_id)
        .join(sites, sites.c.id == places.c.site_id)
    )
    return query if site_ids is None else query.where(sites.c.id.in_(site_ids))


async def _places_of(
    session: AsyncSession, organisation_id: int, report_ids: set[int]
) -> dict[int, _Place]:
    if not report_ids:
        return {}
    places, sites, names = consultation_places(), sites_of(organisation_id), patient_names()
    rows = await session.execute(
        select(
            Report.id,
            Report.consultation_id,
            sites.c.id,
            sites.c.name,
            sites.c.timezone,
            names.c.birth_name,
            names.c.first_names,
        )
        .join(places, places.c.id == Report.consultation_id)
        .join(sites, sites.c.id == places.c.site_id)
        .join(names, names.c.id == places.c.patient_id)
        .where(Report.id.in_(report_ids))
    )
    return {row[0]: _Place(*row) for row in rows.all()}


def _relays(
    organisation_id: int,
    site_ids: Collection[int] | None = None,
    *,
    status: MessageStatus | None = None,
    message_id: int | None = None,
) -> Select[OutboundMessage]:
    """The relays of a CPTS's reports, of consultations at these sites only if given:
    failures first, then those waiting, then the sent ones, newest first within each."""
    return notify_queries.about(
        related_kind=RELATED_KIND,
        related_ids=_report_ids(organisation_id, site_ids),
        purposes=RELAY_PURPOSES,
        status=status,
        message_id=message_id,
    )


def _line(
    message: OutboundMessage, place: _Place, receipts: list[MessageReceipt] | None = None
) -> RelayLine:
    shown = (_receipt_line(r) for r in receipts or [])
    return RelayLine(
        message_id=message.id,
        report_id=place.report_id,
        consultation_id=place.consultation_id,
        site_id=place.site_id,
        site_name=place.site_name,
        timezone=place.timezone,
        patient_name=f"{place.birth_name} {place.first_names}".strip(),
        recipient=message.recipient,
        purpose_label=PURPOSE_LABELS.get(message.purpose, message.purpose),
        status=message.status,
        status_label=STATUS_LABELS[message.status],
        attempts=message.attempts,
        error=error_in_words(message.last_error),
        technical_error=message.last_error or "",
        created_at=message.created_at,
        sent_at=message.sent_at,
        receipts=tuple(r for r in shown if r is not None),
    )


async def _lines(
    session: AsyncSession, organisation_id: int, messages: list[OutboundMessage]
) -> list[RelayLine]:
    places = await _places_of(
        session, organisation_id, {m.related_id for m in messages if m.related_id is not None}
    )
    receipts = await receipts_of(session=session, message_ids=[m.id for m in messages])
    return [
        _line(m, places[m.related_id], receipts.get(m.id))
        for m in messages
        if m.related_id in places
    ]


async def list_relays(
    *,
    session: AsyncSession,
    organisation_id: int,
    site_ids: Collection[int] | None = None,
    limit: int = 200,
) -> list[RelayLine]:
    """The report relays of a CPTS's patients (of consultations at ``site_ids`` if given):
    failures first, then those waiting, then the sent ones, newest first within each."""
    messages = list(await session.scalars(_relays(organisation_id, site_ids).limit(limit)))
    return await _lines(session, organisation_id, messages)


async def count_relays_needing_attention(
    *, session: AsyncSession, organisation_id: int, site_ids: Collection[int] | None = None
) -> int:
    """How many report relays of a CPTS (of ``site_ids`` if given) failed for good (the
    secretary's home shows it)."""
    failed = _relays(organisation_id, site_ids, status=MessageStatus.FAILED).order_by(None)
    return int(await session.scalar(select(func.count()).select_from(failed.subquery())) or 0)


async def _relay(
    session: AsyncSession, organisation_id: int, message_id: int
) -> tuple[OutboundMessage, _Place]:
    message = await session.scalar(_relays(organisation_id, message_id=message_id))
    report_id = None if message is None else message.related_id
    places = {} if report_id is None else await _places_of(session, organisation_id, {report_id})
    if message is None or report_id not in places:
        raise NotFound(RELAY_MISSING)
    return message, places[report_id]


async def relay_site_id(*, session: AsyncSession, organisation_id: int, message_id: int) -> int:
    """The site of the consultation whose report this relay carries."""
    return (await _relay(session, organisation_id, message_id))[1].site_id


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
    message, place = await _relay(session, organisation_id, message_id)
    if message.status is not MessageStatus.FAILED:
        raise Conflict(
            f"Cette transmission est « {STATUS_LABELS[message.status]} » : "
            "seule une transmission en échec peut être renvoyée."
        )
    if not in_trust_space(parseaddr(message.recipient)[1], trust_space):
        raise Conflict(OUTSIDE_TRUST_SPACE_IN_WORDS)
    outbox.send_again(message, now=now)
    await session.flush()
    return _line(message, place)
