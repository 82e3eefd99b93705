"""The outbox table: every e-mail, SMS and report to an outside platform the hub means to send,
and what became of it."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, IntPk, utcnow


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    # A FHIR resource reported to an outside platform (the SAS's): HTTP, not a person.
    PLATFORM = "platform"


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the maximum number of attempts
    CANCELLED = "cancelled"  # withdrawn before sending (e.g. the booking was cancelled)


def _enum(cls: type[StrEnum], name: str) -> Enum:
    return Enum(
        cls, name=name, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
    )


class OutboundMessage(Base):
    """One e-mail, SMS or platform report, written in the same transaction as the event that
    causes it. A platform report keeps its HTTP method in ``subject``, the path under the
    platform's base in ``recipient`` and the JSON body in ``body_text``.

    ``attachments`` is JSON text: ``[{"filename", "mime_type", "content_b64"}]``; ``headers``
    is a JSON object of extra e-mail headers. ``related_kind``/``related_id`` point at what the
    message is about (``"booking"``, 42) without a foreign key, so any slice can use the outbox.
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_messages_due", "status", "next_attempt_at"),
        Index("ix_outbound_messages_related", "related_kind", "related_id"),
    )

    id: Mapped[IntPk]
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "outbound_channel"))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[str] = mapped_column(Text, default="[]")
    headers: Mapped[str] = mapped_column(Text, default="{}")
    purpose: Mapped[str] = mapped_column(String(80))
    related_kind: Mapped[str | None] = mapped_column(String(40))
    related_id: Mapped[int | None]
    status: Mapped[MessageStatus] = mapped_column(
        _enum(MessageStatus, "outbound_status"), default=MessageStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class ReceiptKind(StrEnum):
    DELIVERED = "delivered"  # a DSN with Action: delivered (or relayed/expanded)
    FAILED = "failed"  # a DSN with Action: failed
    READ = "read"  # an MDN with the disposition "displayed"
    OTHER = "other"  # an MDN with another disposition (deleted, processed...)


class Unmatched(StrEnum):
    """Why a report was kept aside, applied to no e-mail."""

    UNKNOWN_MESSAGE = "unknown_message"  # it names no e-mail of the outbox
    OTHER_RECIPIENT = "other_recipient"  # its Final-Recipient is not the e-mail's recipient


class MessageReceipt(Base):
    """A delivery status notification (RFC 3464) or a read receipt (RFC 8098) read from the
    hub's mailbox. ``message_id`` is the outbox e-mail it reports on, None for a report that
    matched none (kept aside, logged, listed for the secretariat, ``unmatched`` saying why):
    a report matches an e-mail it names only when its ``final_recipient`` is that e-mail's
    recipient. ``report_message_id`` (the report's own Message-ID)
    makes reading the mailbox again harmless. ``detail`` keeps the technical text (status code
    and diagnostic, or the disposition); ``reported_at`` is when the report says it happened."""

    __tablename__ = "message_receipts"
    __table_args__ = (Index("ix_message_receipts_message", "message_id"),)

    id: Mapped[IntPk]
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_messages.id", ondelete="CASCADE")
    )
    kind: Mapped[ReceiptKind] = mapped_column(_enum(ReceiptKind, "receipt_kind"))
    detail: Mapped[str] = mapped_column(Text, default="")
    reference: Mapped[str] = mapped_column(String(320), default="")  # envelope or Message-ID
    final_recipient: Mapped[str] = mapped_column(String(320), default="")  # as the report says
    unmatched: Mapped[Unmatched | None] = mapped_column(_enum(Unmatched, "receipt_unmatched"))
    report_message_id: Mapped[str] = mapped_column(String(320), unique=True)
    reported_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
