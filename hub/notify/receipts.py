"""Delivery status notifications (RFC 3464) and read receipts (RFC 8098) of the outbox's
e-mails: read from a report message, matched to the e-mail they report on, recorded and audited.

An e-mail that asked for them (``hub.notify.outbox``) went out under the envelope id
``outbox-<id>.<created>`` with the Message-ID ``<outbox.<id>.<created>@domain>``: a DSN names
the first in ``Original-Envelope-Id`` (and returns the headers, Message-ID included), an MDN
names the second in ``Original-Message-ID``. Both name the address they report on in
``Final-Recipient``: a report applies to the e-mail it names only when that address is the
e-mail's recipient. A report that names no e-mail of the outbox, or another recipient, is kept
with no message and the reason (``Unmatched``), logged and listed for the secretariat
(``unmatched_reports``), never raised.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import parseaddr, parsedate_to_datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import record_event
from hub.notify.models import Channel, MessageReceipt, OutboundMessage, ReceiptKind, Unmatched
from hub.notify.outbox import created_stamp

logger = logging.getLogger(__name__)

AUDIT_ACTIONS = {
    ReceiptKind.DELIVERED: "relay.delivered",
    ReceiptKind.FAILED: "relay.delivery_failed",
    ReceiptKind.READ: "relay.read",
    ReceiptKind.OTHER: "relay.disposition",
}
_ENVELOPE_ID = re.compile(r"^\s*outbox-(\d+)\.(\d+)\s*$", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<outbox\.(\d+)\.(\d+)@[^>]+>", re.IGNORECASE)
_DELIVERED_ACTIONS = {"delivered", "relayed", "expanded"}


@dataclass(frozen=True, slots=True)
class Report:
    """What one report message says."""

    kind: ReceiptKind
    detail: str
    reference: str  # the envelope id or Message-ID it names, as written
    outbox_id: tuple[int, int] | None  # the outbox e-mail it names (id, created), if any
    report_message_id: str
    reported_at: dt.datetime
    final_recipient: str = ""  # the address reported on (Final-Recipient), "" if none given


def parse_report(raw: bytes, *, received_at: dt.datetime) -> Report | None:
    """The DSN or MDN in ``raw``; None when it is neither (a multipart/report of another
    type, or an ordinary e-mail)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    if message.get_content_type() != "multipart/report":
        return None
    report_type = str(message.get_param("report-type", "", header="content-type")).lower()
    own_id = str(message.get("Message-ID", "")).strip()
    date = _date(message.get("Date"), received_at)
    if report_type == "delivery-status":
        return _dsn(message, own_id, date)
    if report_type == "disposition-notification":
        return _mdn(message, own_id, date)
    return None


def _fields(message: EmailMessage, content_type: str) -> list[Message]:
    """The header blocks of the machine-readable part (the per-message block first)."""
    for part in message.walk():
        if part.get_content_type() != content_type:
            continue
        # The email package parses a message/* part's blocks into sub-messages (each block of
        # a delivery-status, the one block of a disposition-notification).
        blocks = part.get_payload()
        if isinstance(blocks, list) and blocks:
            return [b for b in blocks if isinstance(b, Message)]
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        return [email.message_from_string(block) for block in re.split(r"\r?\n\r?\n", text)]
    return []


def _dsn(message: EmailMessage, own_id: str, date: dt.datetime) -> Report | None:
    blocks = _fields(message, "message/delivery-status")
    if len(blocks) < 2:
        return None
    per_message, recipients = blocks[0], blocks[1:]
    reference = str(per_message.get("Original-Envelope-Id", "")).strip()
    found = _ENVELOPE_ID.match(reference)
    outbox_id = _named(found) if found else _returned_message_id(message)
    recipient = recipients[0]
    action = str(recipient.get("Action", "")).strip().lower()
    status = str(recipient.get("Status", "")).strip()
    diagnostic = " ".join(str(recipient.get("Diagnostic-Code", "")).split())
    if action in _DELIVERED_ACTIONS:
        kind = ReceiptKind.DELIVERED
    elif action == "failed":
        kind = ReceiptKind.FAILED
    else:  # "delayed": not asked for, nothing to show
        return None
    when = _date(recipient.get("Last-Attempt-Date") or per_message.get("Arrival-Date"), date)
    detail = f"{status} {diagnostic}".strip()
    recipient_address = _address(recipient.get("Final-Recipient"))
    return Report(kind, detail, reference, outbox_id, own_id, when, recipient_address)


def _named(found: re.Match[str]) -> tuple[int, int]:
    return int(found.group(1)), int(found.group(2))


def _returned_message_id(message: EmailMessage) -> tuple[int, int] | None:
    """The outbox e-mail whose headers the DSN returned (RET=HDRS), if any."""
    for part in message.walk():
        if part.get_content_type() in ("text/rfc822-headers", "message/rfc822"):
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(part)
            found = _MESSAGE_ID.search(text)
            if found:
                return _named(found)
    return None


def _mdn(message: EmailMessage, own_id: str, date: dt.datetime) -> Report | None:
    blocks = _fields(message, "message/disposition-notification")
    if not blocks:
        return None
    fields = blocks[0]
    reference = str(fields.get("Original-Message-ID", "")).strip()
    found = _MESSAGE_ID.search(reference)
    disposition = " ".join(str(fields.get("Disposition", "")).split())
    kind = ReceiptKind.READ if disposition.lower().endswith("displayed") else ReceiptKind.OTHER
    outbox_id = _named(found) if found else None
    final = _address(fields.get("Final-Recipient"))
    return Report(kind, disposition, reference, outbox_id, own_id, date, final)


def _address(value: object) -> str:
    """The address of a ``Final-Recipient`` field (``rfc822; someone@example.org``)."""
    if not value:
        return ""
    _kind, _, address = str(value).partition(";")
    return " ".join((address or _kind).split()).strip("<>")


def same_address(reported: str, recipient: str) -> bool:
    """Whether the reported address is the recipient's (``Name <address>`` or a bare address):
    the same mailbox, compared without case (the MSSanté operators ignore it)."""
    address = parseaddr(recipient)[1] or recipient
    return bool(reported) and reported.strip().lower() == address.strip().lower()


def _date(value: object, default: dt.datetime) -> dt.datetime:
    if not value:
        return default
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return default
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


async def record_report(
    *, session: AsyncSession, raw: bytes, received_at: dt.datetime
) -> MessageReceipt | None:
    """Record the report in ``raw`` against the e-mail it names, audited; the caller commits.

    None when ``raw`` is no report, or one already recorded. A report naming no e-mail of the
    outbox that asked for reports is kept with no message and logged."""
    report = parse_report(raw, received_at=received_at)
    if report is None:
        logger.info("mailbox: a message that is no delivery or read report was left alone")
        return None
    own_id = report.report_message_id or f"<{hashlib.sha256(raw).hexdigest()}@no-message-id>"
    seen = await session.scalar(
        select(MessageReceipt.id).where(MessageReceipt.report_message_id == own_id[:320])
    )
    if seen is not None:
        return None
    message = None
    unmatched: Unmatched | None = Unmatched.UNKNOWN_MESSAGE
    if report.outbox_id is not None:
        outbox_id, created = report.outbox_id
        message = await session.get(OutboundMessage, outbox_id)
        if message is not None and (
            message.channel is not Channel.EMAIL or created_stamp(message) != created
        ):
            message = None
    if message is not None:
        if same_address(report.final_recipient, message.recipient):
            unmatched = None
        else:  # the report is about another address: not this relay's delivery or reading
            unmatched, message = Unmatched.OTHER_RECIPIENT, None
    receipt = MessageReceipt(
        message_id=None if message is None else message.id,
        kind=report.kind,
        detail=report.detail[:2000],
        reference=report.reference[:320],
        final_recipient=report.final_recipient[:320],
        unmatched=unmatched,
        report_message_id=own_id[:320],
        reported_at=report.reported_at,
        received_at=received_at,
    )
    session.add(receipt)
    if message is None:
        logger.warning(
            "mailbox: a report (%s) matches no e-mail of the outbox (%s, %r); kept aside",
            report.kind.value,
            unmatched,
            report.reference,
        )
        await session.flush()
        return receipt
    record_event(
        session=session,
        action=AUDIT_ACTIONS[report.kind],
        actor_kind="system",
        target=f"outbound_message:{message.id}",
        detail=f"{message.related_kind}:{message.related_id} {report.detail}"[:500],
    )
    await session.flush()
    return receipt


async def unmatched_reports(*, session: AsyncSession, limit: int = 200) -> list[MessageReceipt]:
    """The reports applied to no e-mail (see the module), latest received first."""
    rows = await session.scalars(
        select(MessageReceipt)
        .where(MessageReceipt.message_id.is_(None))
        .order_by(MessageReceipt.received_at.desc(), MessageReceipt.id.desc())
        .limit(limit)
    )
    return list(rows)


async def count_unmatched(*, session: AsyncSession) -> int:
    """How many reports were applied to no e-mail."""
    found = await session.scalar(
        select(func.count()).select_from(MessageReceipt).where(MessageReceipt.message_id.is_(None))
    )
    return int(found or 0)


async def receipts_of(
    *, session: AsyncSession, message_ids: list[int]
) -> dict[int, list[MessageReceipt]]:
    """The reports recorded for these e-mails, oldest first."""
    if not message_ids:
        return {}
    found: dict[int, list[MessageReceipt]] = {}
    rows = await session.scalars(
        select(MessageReceipt)
        .where(MessageReceipt.message_id.in_(message_ids))
        .order_by(MessageReceipt.reported_at, MessageReceipt.id)
    )
    for receipt in rows:
        assert receipt.message_id is not None
        found.setdefault(receipt.message_id, []).append(receipt)
    return found
