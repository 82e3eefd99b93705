"""The durable outbox: queue e-mail, SMS and reports to an outside FHIR platform (the SAS's)
with the event that causes them, send them later.

``enqueue_email``/``enqueue_sms``/``enqueue_platform_report`` only add a row to the caller's
session (``email_row``/``sms_row`` then ``insert_rows``: several in one INSERT statement, with
the caller's own INSERT too on PostgreSQL, ``Along``): the message is committed (or rolled
back) together with the booking, cancellation… that caused it.
A periodic task calls ``deliver_due`` with a session of its own.

Delivery is *at least once*. Each message is claimed by a committed update (attempt counted,
a lease of ``CLAIM_LEASE`` set) before it is handed to the transport, and its outcome is
committed right after. Several workers never take the same message at the same time; but if
the process dies after the SMTP server or SMS gateway accepted a message and before the outcome
is committed, the message is sent again once the lease has expired. E-mails keep one
Message-ID across attempts so that receiving systems can recognise a duplicate.

An e-mail whose headers ask for a read receipt (``Disposition-Notification-To``, RFC 8098)
also asks the SMTP server for delivery status notifications under the envelope id
``outbox-<id>.<created>`` (``envelope_id``); ``hub.notify.receipts`` reads both kinds of
report back.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Insert, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from hub.errors import Invalid
from hub.notify.errors import DeliveryError
from hub.notify.mailer import (
    Attachment,
    SmtpSettings,
    build_message,
    check_address,
    send_email,
    sender_domain,
)
from hub.notify.models import Channel, MessageStatus, OutboundMessage
from hub.notify.platform import METHODS, FhirPlatform
from hub.notify.sms import SmsGateway, normalise_french_mobile

logger = logging.getLogger(__name__)

NO_SMTP = "aucun serveur SMTP configuré"
NO_SMS_GATEWAY = "aucune passerelle SMS configurée"
NO_PLATFORM = "aucune plateforme configurée"
INTERRUPTED = "envoi interrompu à chaque tentative"
CLAIM_LEASE = dt.timedelta(minutes=10)
FIRST_RETRY_DELAY = dt.timedelta(minutes=1)
MAX_RETRY_DELAY = dt.timedelta(hours=6)
MAX_ERROR_LENGTH = 1000
_CHECK_SENDER = "outbox-check@cpts.invalid"
RECEIPT_REQUEST_HEADER = "Disposition-Notification-To"
_MESSAGES = cast(Table, OutboundMessage.__table__)
_INSERT_MESSAGE = insert(_MESSAGES)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one ``deliver_due`` run did.

    ``skipped`` counts due messages left pending because their channel has no transport.
    """

    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0


# --- queueing ------------------------------------------------------------------------------


def email_row(
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    headers: Mapping[str, str] | None = None,
    purpose: str,
    related_kind: str | None = None,
    related_id: int | None = None,
    now: dt.datetime,
    due: dt.datetime | None = None,
) -> dict[str, object]:
    """The outbox row of an e-mail due at ``due`` (default ``now``), for ``insert_rows``.

    Raises ``Invalid`` for an unusable address, ``ValueError`` for a message that could never be
    built (a header with a line break, a malformed MIME type).
    """
    try:
        check_address(to)
    except ValueError as exc:
        raise Invalid(f"Adresse e-mail invalide : {to.strip()}") from exc
    extra = dict(headers or {})
    build_message(  # the same checks delivery will make, so a bad message fails here
        sender=_CHECK_SENDER,
        to=to,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        headers=extra,
        now=now,
    )
    stored = [
        {
            "filename": a.filename,
            "mime_type": a.mime_type,
            "content_b64": base64.b64encode(a.content).decode("ascii"),
        }
        for a in attachments
    ]
    return _row(
        channel=Channel.EMAIL,
        recipient=to,
        subject=subject,
        body_text=text,
        body_html=html,
        attachments=json.dumps(stored),
        headers=json.dumps(extra, ensure_ascii=False),
        purpose=purpose,
        related_kind=related_kind,
        related_id=related_id,
        now=now,
        due=due,
    )


def sms_row(
    *,
    to: str,
    text: str,
    purpose: str,
    related_kind: str | None = None,
    related_id: int | None = None,
    now: dt.datetime,
    due: dt.datetime | None = None,
) -> dict[str, object]:
    """The outbox row of an SMS to a French mobile due at ``due`` (default ``now``), for
    ``insert_rows``.

    Raises ``Invalid`` (« Numéro de portable invalide : … ») for a number that is not a mobile.
    """
    try:
        recipient = normalise_french_mobile(to)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    if not text.strip():
        raise ValueError("an SMS needs a text")
    return _row(
        channel=Channel.SMS,
        recipient=recipient,
        body_text=text,
        purpose=purpose,
        related_kind=related_kind,
        related_id=related_id,
        now=now,
        due=due,
    )


@dataclass(frozen=True, slots=True)
class Along:
    """A caller's INSERT that goes in with the messages, in the same statement (a
    data-modifying CTE: PostgreSQL only): a statement built once whose values are all bound
    parameters, and their values."""

    insert: Insert
    params: Mapping[str, object]


_ALONG: dict[tuple[Insert, int], Insert] = {}


def _messages_along(first: Insert, count: int) -> Insert:
    """``count`` messages inserted with ``first``, in one statement built once per count
    (message ``i``'s values bound as ``message{i}_{column}``). One single-row INSERT per
    message, as CTEs: a multi-row VALUES statement is never cached, and compiling it each time
    cost more than a second statement."""
    key = (first, count)
    if key not in _ALONG:
        columns = [c for c in _MESSAGES.c if not c.primary_key]
        inserts = [
            insert(_MESSAGES).values(
                {c.name: bindparam(f"message{i}_{c.name}", type_=c.type) for c in columns}
            )
            for i in range(count)
        ]
        others = [one.cte(f"message{i}") for i, one in enumerate(inserts[1:], start=1)]
        _ALONG[key] = inserts[0].add_cte(first.cte("along"), *others)
    return _ALONG[key]


async def insert_rows(
    session: AsyncSession, rows: Sequence[dict[str, object]], *, along: Along | None = None
) -> None:
    """Queue these messages (``email_row``, ``sms_row``) in the caller's transaction, in one
    call of one INSERT statement (compiled once, not per message count) and without ORM
    objects; with the caller's own INSERT ``along`` when given, in the same statement. The
    caller commits."""
    if along is not None:
        params = dict(along.params)
        for i, row in enumerate(rows):
            params |= {f"message{i}_{name}": value for name, value in row.items()}
        statement = _messages_along(along.insert, len(rows)) if rows else along.insert
        await (await session.connection()).execute(statement, params)
    elif rows:
        await (await session.connection()).execute(_INSERT_MESSAGE, list(rows))


async def enqueue_email(
    *,
    session: AsyncSession,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    headers: Mapping[str, str] | None = None,
    purpose: str,
    related_kind: str | None = None,
    related_id: int | None = None,
    now: dt.datetime,
) -> OutboundMessage:
    """An e-mail added to the session and flushed, due at ``now``; the caller commits.
    Refused as ``email_row`` refuses it."""
    row = email_row(
        to=to,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        headers=headers,
        purpose=purpose,
        related_kind=related_kind,
        related_id=related_id,
        now=now,
    )
    return await _pending(session, row)


async def enqueue_sms(
    *,
    session: AsyncSession,
    to: str,
    text: str,
    purpose: str,
    related_kind: str | None = None,
    related_id: int | None = None,
    now: dt.datetime,
) -> OutboundMessage:
    """An SMS to a French mobile added to the session and flushed, due at ``now``; the caller
    commits. Refused as ``sms_row`` refuses it."""
    row = sms_row(
        to=to,
        text=text,
        purpose=purpose,
        related_kind=related_kind,
        related_id=related_id,
        now=now,
    )
    return await _pending(session, row)


async def enqueue_platform_report(
    *,
    session: AsyncSession,
    method: str,
    path: str,
    resource: Mapping[str, object],
    purpose: str,
    related_kind: str | None = None,
    related_id: int | None = None,
    now: dt.datetime,
) -> OutboundMessage:
    """A FHIR resource to send to the outside platform (``method`` ``path`` under its base),
    added to the session, due at ``now``; the caller commits."""
    if method not in METHODS:
        raise ValueError(f"unsupported method for a platform report: {method}")
    row = _row(
        channel=Channel.PLATFORM,
        recipient=path,
        subject=method,
        body_text=json.dumps(resource, ensure_ascii=False),
        purpose=purpose,
        related_kind=related_kind,
        related_id=related_id,
        now=now,
    )
    return await _pending(session, row)


def _row(
    *,
    channel: Channel,
    recipient: str,
    body_text: str,
    purpose: str,
    related_kind: str | None,
    related_id: int | None,
    now: dt.datetime,
    due: dt.datetime | None = None,
    subject: str = "",
    body_html: str | None = None,
    attachments: str = "[]",
    headers: str = "{}",
) -> dict[str, object]:
    """Every column of a message waiting in the outbox (but its id), due at ``due`` or ``now``."""
    return {
        "channel": channel,
        "recipient": recipient,
        "subject": subject,
        "body_text": body_text,
        "body_html": body_html,
        "attachments": attachments,
        "headers": headers,
        "purpose": purpose,
        "related_kind": related_kind,
        "related_id": related_id,
        "status": MessageStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": due or now,
        "last_error": None,
        "provider_id": None,
        "created_at": now,
        "sent_at": None,
    }


async def _pending(session: AsyncSession, row: Mapping[str, object]) -> OutboundMessage:
    """A message waiting in the outbox, added to the session and flushed."""
    message = OutboundMessage(**row)
    session.add(message)
    await session.flush()
    return message


async def cancel_pending(
    *,
    session: AsyncSession,
    related_kind: str,
    related_id: int,
    purpose: str | None = None,
    due_after: dt.datetime | None = None,
) -> int:
    """Withdraw the messages not yet sent about one thing (e.g. a booking's reminders), or only
    those due after ``due_after`` (a message already due is left to its delivery).

    Returns how many were cancelled; the caller commits.
    """
    stmt = (
        update(OutboundMessage)
        .where(
            OutboundMessage.related_kind == related_kind,
            OutboundMessage.related_id == related_id,
            OutboundMessage.status == MessageStatus.PENDING,
        )
        .values(status=MessageStatus.CANCELLED)
        .returning(OutboundMessage.id)
        .execution_options(synchronize_session=False)
    )
    if purpose is not None:
        stmt = stmt.where(OutboundMessage.purpose == purpose)
    if due_after is not None:
        stmt = stmt.where(OutboundMessage.next_attempt_at > due_after)
    cancelled = list((await session.execute(stmt)).scalars())
    for message in session.identity_map.values():
        if isinstance(message, OutboundMessage) and message.id in cancelled:
            set_committed_value(message, "status", MessageStatus.CANCELLED)
    return len(cancelled)


# --- delivery ------------------------------------------------------------------------------


def send_again(message: OutboundMessage, *, now: dt.datetime) -> None:
    """Put a failed message back in the outbox, due at ``now``, with a fresh count of attempts;
    the caller flushes or commits."""
    message.status = MessageStatus.PENDING
    message.attempts = 0
    message.next_attempt_at = now
    message.last_error = None


async def deliver_due(
    *,
    session: AsyncSession,
    now: dt.datetime,
    smtp: SmtpSettings | None,
    sms: SmsGateway | None,
    platform: FhirPlatform | None = None,
    max_attempts: int = 6,
    batch: int = 50,
) -> DeliveryReport:
    """Send the pending messages due at ``now`` (at most ``batch``), committing each outcome.

    A failed attempt is retried after 1, 2, 4, 8… minutes; the message is marked failed after
    ``max_attempts`` attempts, with the last error kept. Messages of a channel without a
    transport stay pending, their ``last_error`` saying so. Commits: give it its own session.
    """
    if max_attempts < 1 or batch < 1:
        raise ValueError("max_attempts and batch must be at least 1")
    skipped = 0
    ready: list[Channel] = []
    for channel, configured, reason in (
        (Channel.EMAIL, smtp is not None, NO_SMTP),
        (Channel.SMS, sms is not None, NO_SMS_GATEWAY),
        (Channel.PLATFORM, platform is not None, NO_PLATFORM),
    ):
        if configured:
            ready.append(channel)
        else:
            skipped += await _note_missing_transport(session, channel, reason, now)
    await session.commit()
    if not ready:
        return DeliveryReport(skipped=skipped)
    due = list(
        await session.scalars(
            select(OutboundMessage.id)
            .where(
                OutboundMessage.status == MessageStatus.PENDING,
                OutboundMessage.next_attempt_at <= now,
                OutboundMessage.channel.in_(ready),
            )
            .order_by(OutboundMessage.next_attempt_at, OutboundMessage.id)
            .limit(batch)
        )
    )
    counts = {MessageStatus.SENT: 0, MessageStatus.PENDING: 0, MessageStatus.FAILED: 0}
    for message_id in due:
        outcome = await _deliver_one(
            session,
            message_id,
            now=now,
            transports=_Transports(smtp, sms, platform),
            max_attempts=max_attempts,
        )
        if outcome is not None:
            counts[outcome] += 1
    return DeliveryReport(
        sent=counts[MessageStatus.SENT],
        retried=counts[MessageStatus.PENDING],
        failed=counts[MessageStatus.FAILED],
        skipped=skipped,
    )


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: 1, 2, 4, 8… minutes, at most 6 h."""
    return min(FIRST_RETRY_DELAY * (1 << min(max(attempts, 1) - 1, 20)), MAX_RETRY_DELAY)


async def _note_missing_transport(
    session: AsyncSession, channel: Channel, reason: str, now: dt.datetime
) -> int:
    """Say on every due message of the channel why it waits; return how many there are."""
    due = (
        OutboundMessage.channel == channel,
        OutboundMessage.status == MessageStatus.PENDING,
        OutboundMessage.next_attempt_at <= now,
    )
    newly = (
        update(OutboundMessage)
        .where(
            *due, or_(OutboundMessage.last_error.is_(None), OutboundMessage.last_error != reason)
        )
        .values(last_error=reason)
        .returning(OutboundMessage.id)
        .execution_options(synchronize_session=False)
    )
    noted = len(list((await session.execute(newly)).scalars()))
    if noted:  # logged once per message, not at every run
        logger.info("%d %s message(s) now waiting: %s", noted, channel.value, reason)
    waiting = await session.scalar(select(func.count()).select_from(OutboundMessage).where(*due))
    return waiting or 0


async def _claim(session: AsyncSession, message_id: int, now: dt.datetime) -> bool:
    """Count an attempt and lease the message, unless another worker got it first."""
    stmt = (
        update(OutboundMessage)
        .where(
            OutboundMessage.id == message_id,
            OutboundMessage.status == MessageStatus.PENDING,
            OutboundMessage.next_attempt_at <= now,
        )
        .values(attempts=OutboundMessage.attempts + 1, next_attempt_at=now + CLAIM_LEASE)
        .returning(OutboundMessage.id)
        .execution_options(synchronize_session=False)
    )
    claimed = (await session.execute(stmt)).scalar_one_or_none()
    await session.commit()
    return claimed is not None


@dataclass(frozen=True, slots=True)
class _Transports:
    smtp: SmtpSettings | None
    sms: SmsGateway | None
    platform: FhirPlatform | None


async def _deliver_one(
    session: AsyncSession,
    message_id: int,
    *,
    now: dt.datetime,
    transports: _Transports,
    max_attempts: int,
) -> MessageStatus | None:
    if not await _claim(session, message_id, now):
        return None
    message = await session.get_one(OutboundMessage, message_id, populate_existing=True)
    if message.attempts > max_attempts:
        # Every allowed attempt was claimed but none recorded an outcome: the worker died while
        # sending (see the module docstring). Stop rather than risk crashing on it forever.
        message.status = MessageStatus.FAILED
        message.last_error = INTERRUPTED
        await session.commit()
        logger.warning(
            "outbox message %s (%s) given up: sending was interrupted %d times",
            message.id,
            message.purpose,
            max_attempts,
        )
        return MessageStatus.FAILED
    try:
        provider_id = await _send(message, transports)
    except DeliveryError as exc:
        error = exc.message
    except Exception as exc:  # a message that cannot be sent must not stop the others
        logger.exception("outbox message %s could not be sent", message.id)
        error = f"{type(exc).__name__}: {exc}"
    else:
        message.status = MessageStatus.SENT
        message.provider_id = provider_id[:200]
        message.sent_at = now
        message.last_error = None
        await session.commit()
        logger.info("outbox message %s (%s) sent", message.id, message.purpose)
        return MessageStatus.SENT
    message.last_error = error[:MAX_ERROR_LENGTH]
    logger.debug("outbox message %s attempt %d: %s", message.id, message.attempts, error)
    if message.attempts >= max_attempts:
        message.status = MessageStatus.FAILED
        logger.warning(
            "outbox message %s (%s) failed after %d attempts",
            message.id,
            message.purpose,
            message.attempts,
        )
    else:
        message.next_attempt_at = now + retry_delay(message.attempts)
        logger.info(
            "outbox message %s (%s) attempt %d failed; next at %s",
            message.id,
            message.purpose,
            message.attempts,
            message.next_attempt_at.isoformat(),
        )
    status = message.status
    await session.commit()
    return status


async def _send(message: OutboundMessage, transports: _Transports) -> str:
    """Hand the message to its transport; return the provider's id (Message-ID for e-mail)."""
    smtp, sms = transports.smtp, transports.sms
    if message.channel is Channel.PLATFORM:
        if transports.platform is None:
            raise DeliveryError(NO_PLATFORM)
        return await transports.platform.send(
            method=message.subject, path=message.recipient, body=message.body_text
        )
    if message.channel is Channel.SMS:
        if sms is None:
            raise DeliveryError(NO_SMS_GATEWAY)
        return await sms.send(to=message.recipient, text=message.body_text)
    if smtp is None:
        raise DeliveryError(NO_SMTP)
    headers = _headers(message.headers)
    wants_receipts = any(name.lower() == RECEIPT_REQUEST_HEADER.lower() for name in headers)
    return await send_email(
        smtp,
        to=message.recipient,
        subject=message.subject,
        text=message.body_text,
        html=message.body_html,
        attachments=_attachments(message.attachments),
        headers=headers,
        message_id=stable_message_id(message, sender_domain(smtp.sender)),
        dsn_envid=envelope_id(message) if wants_receipts else None,
    )


def created_stamp(message: OutboundMessage) -> int:
    """When the message was queued, in whole seconds: with its id, what names it outside
    (another database's message ``outbox-7`` is not this one)."""
    return int(message.created_at.timestamp())


def envelope_id(message: OutboundMessage) -> str:
    """The SMTP envelope id (RFC 3461 ENVID) an e-mail of the outbox is sent under."""
    return f"outbox-{message.id}.{created_stamp(message)}"


def stable_message_id(message: OutboundMessage, domain: str) -> str:
    """The Message-ID an e-mail of the outbox keeps across its attempts."""
    return f"<outbox.{message.id}.{created_stamp(message)}@{domain}>"


def _attachments(stored: str) -> list[Attachment]:
    try:
        return [
            Attachment(
                filename=str(item["filename"]),
                content=base64.b64decode(item["content_b64"], validate=True),
                mime_type=str(item["mime_type"]),
            )
            for item in json.loads(stored)
        ]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise DeliveryError(f"stored attachments are unreadable: {exc}") from exc


def _headers(stored: str) -> dict[str, str]:
    try:
        loaded = json.loads(stored)
    except ValueError as exc:
        raise DeliveryError(f"stored headers are unreadable: {exc}") from exc
    if not isinstance(loaded, dict):
        raise DeliveryError("stored headers are not a JSON object")
    return {str(k): str(v) for k, v in loaded.items()}


async def messages_about(
    *, session: AsyncSession, related_kind: str, related_ids: list[int]
) -> list[OutboundMessage]:
    """The messages queued about these rows of one kind (a report's relays...), oldest first."""
    if not related_ids:
        return []
    rows = await session.scalars(
        select(OutboundMessage)
        .where(
            OutboundMessage.related_kind == related_kind,
            OutboundMessage.related_id.in_(related_ids),
        )
        .order_by(OutboundMessage.id)
    )
    return list(rows)


async def recent_messages(*, session: AsyncSession, limit: int = 50) -> list[OutboundMessage]:
    """The latest messages of the outbox, newest first (for the coordinator's follow-up)."""
    rows = await session.scalars(
        select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(limit)
    )
    return list(rows)
