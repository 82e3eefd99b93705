"""The delivery and read reports of the hub's mailbox that were applied to no relay (they name
no e-mail the hub sent, or another address than the relay's recipient), said in French for the
secretariat and the coordinator: what the report says, why it was set aside, and its raw text."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.notify.models import ReceiptKind, Unmatched
from hub.notify.receipts import unmatched_reports
from hub.reports.tracking import delivery_failure_in_words

if TYPE_CHECKING:
    from hub.notify.models import MessageReceipt

KIND_LABELS = {
    ReceiptKind.DELIVERED: "Avis de remise",
    ReceiptKind.FAILED: "Avis d'échec de remise",
    ReceiptKind.READ: "Accusé de lecture",
    ReceiptKind.OTHER: "Avis de traitement du message",
}


def why_set_aside(receipt: MessageReceipt) -> str:
    """Why the report was applied to no relay, in French."""
    if receipt.unmatched is Unmatched.OTHER_RECIPIENT:
        if not receipt.final_recipient:
            return (
                "Il cite une transmission de ce hub mais ne dit pas à quelle adresse il se "
                "rapporte : il n'a pas été appliqué à cette transmission."
            )
        return (
            f"Il cite une transmission de ce hub, mais concerne l'adresse "
            f"{receipt.final_recipient}, qui n'est pas celle du destinataire de cette "
            "transmission : il n'a pas été appliqué à cette transmission."
        )
    return (
        "Il ne cite aucun compte rendu envoyé par ce hub (il peut venir d'un autre logiciel "
        "utilisant la même boîte) : il n'a été rattaché à aucune transmission."
    )


def said(receipt: MessageReceipt) -> str:
    """What the report says happened, in French."""
    if receipt.kind is ReceiptKind.FAILED:
        return f"Échec de remise : {delivery_failure_in_words(receipt.detail)}"
    if receipt.kind is ReceiptKind.DELIVERED:
        return "Remis au destinataire"
    if receipt.kind is ReceiptKind.READ:
        return "Lu par le destinataire"
    return "Message traité par le destinataire sans être affiché"


@dataclass(frozen=True, slots=True)
class StrayReport:
    """One report applied to no relay, as the secretariat reads it."""

    kind_label: str
    said: str
    why: str
    final_recipient: str
    reference: str
    raw: str  # the report's technical text (status and diagnostic, or disposition)
    reported_at: dt.datetime
    received_at: dt.datetime


async def list_stray_reports(*, session: AsyncSession) -> list[StrayReport]:
    """The reports applied to no relay, latest received first."""
    return [
        StrayReport(
            kind_label=KIND_LABELS[r.kind],
            said=said(r),
            why=why_set_aside(r),
            final_recipient=r.final_recipient,
            reference=r.reference,
            raw=r.detail,
            reported_at=r.reported_at,
            received_at=r.received_at,
        )
        for r in await unmatched_reports(session=session)
    ]
