"""Building and sending e-mail over SMTP (blocking :mod:`smtplib`, run in a worker thread).

A message sent with a ``dsn_envid`` asks the server for delivery status notifications
(RFC 3461: ``MAIL FROM … RET=HDRS ENVID=…``, ``RCPT TO … NOTIFY=SUCCESS,FAILURE``) when the
server announces the DSN extension; the reports come back to the envelope sender carrying that
envelope id."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from types import MappingProxyType

from hub.notify.errors import DeliveryError

logger = logging.getLogger(__name__)

NO_HEADERS: Mapping[str, str] = MappingProxyType({})
# Headers build_message sets itself; callers may not override them through ``headers``.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "cc",
        "bcc",
    }
)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to hand e-mail over: an SMTP relay, with STARTTLS and login if set."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    sender: str = "CPTS <noreply@cpts.example>"
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to attach; ``mime_type`` may carry parameters (``text/calendar; method=REQUEST``)."""

    filename: str
    content: bytes = field(repr=False)
    mime_type: str


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    headers: Mapping[str, str] = NO_HEADERS,
    now: dt.datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """A UTF-8 MIME message with Date and a Message-ID (new, in the sender's domain, if not given).

    ``headers`` are added as given (e.g. ``X-MSS-*`` for an MSSanté relay); line breaks in
    any header are refused with ``ValueError``.
    """
    sender_address = _address(sender, "sender")
    _address(to, "recipient")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime((now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    msg["Message-ID"] = message_id or make_msgid(domain=sender_address.domain)
    for name, value in headers.items():
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name} is set by build_message and cannot be overridden")
        msg[name] = value
    msg.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    for attachment in attachments:
        maintype, subtype, params = _split_mime_type(attachment.mime_type)
        msg.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params=params,
        )
    return msg


async def send_email(
    settings: SmtpSettings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    headers: Mapping[str, str] = NO_HEADERS,
    message_id: str | None = None,
    dsn_envid: str | None = None,
) -> str:
    """Send one e-mail through the SMTP relay; return its Message-ID. With ``dsn_envid``,
    delivery status notifications are requested under that envelope id (see the module).

    Raises ``DeliveryError`` when the server cannot be reached or refuses the message.
    """
    msg = build_message(
        sender=settings.sender,
        to=to,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        headers=headers,
        message_id=message_id,
    )
    await send_message(settings, msg, dsn_envid=dsn_envid)
    return str(msg["Message-ID"])


async def send_message(
    settings: SmtpSettings, msg: EmailMessage, *, dsn_envid: str | None = None
) -> None:
    """Hand an already built message to the SMTP relay (envelope from ``settings.sender``)."""
    await asyncio.to_thread(_send_blocking, settings, msg, dsn_envid)


def dsn_options(envid: str) -> tuple[list[str], list[str]]:
    """The MAIL FROM and RCPT TO parameters asking for delivery status notifications (RFC
    3461): the headers only are returned, on success and on failure. ``envid`` must be
    printable ASCII without ``+``, ``=`` or spaces (no xtext encoding is done)."""
    if not envid or not all(33 <= ord(c) <= 126 and c not in "+=" for c in envid):
        raise ValueError(f"an envelope id must be plain printable ASCII: {envid!r}")
    return ["RET=HDRS", f"ENVID={envid}"], ["NOTIFY=SUCCESS,FAILURE"]


def _send_blocking(settings: SmtpSettings, msg: EmailMessage, dsn_envid: str | None) -> None:
    envelope_from = parseaddr(settings.sender)[1]
    recipients = [parseaddr(str(v))[1] for v in msg.get_all("To", [])]
    where = f"SMTP {settings.host}:{settings.port}"
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.ehlo_or_helo_if_needed()
            mail_options: list[str] = []
            rcpt_options: list[str] = []
            if dsn_envid is not None and smtp.has_extn("dsn"):
                mail_options, rcpt_options = dsn_options(dsn_envid)
            refused = smtp.send_message(
                msg,
                from_addr=envelope_from,
                to_addrs=recipients,
                mail_options=mail_options,
                rcpt_options=rcpt_options,
            )
    except smtplib.SMTPResponseException as exc:
        error = exc.smtp_error
        answer = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        raise DeliveryError(f"{where} refused: {exc.smtp_code} {answer}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        refusals = _refusals(exc.recipients)
        raise DeliveryError(f"{where} refused every recipient: {refusals}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{where} failed: {type(exc).__name__}: {exc}") from exc
    if refused:
        raise DeliveryError(f"{where} refused recipients: {_refusals(refused)}")
    logger.debug("message %s handed to %s", msg["Message-ID"], where)


def _refusals(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{code} {answer.decode('utf-8', 'replace')}" for code, answer in refused.values()
    )


def sender_domain(sender: str) -> str:
    """The domain of a sender such as ``CPTS <noreply@cpts.example>``."""
    return _address(sender, "sender").domain


def check_address(value: str) -> str:
    """The bare address in ``Jeanne <j@x.fr>`` (``j@x.fr``); ``ValueError`` if there is none."""
    return _address(value, "recipient").addr_spec


def _address(value: str, role: str) -> Address:
    if any(ch in value for ch in "\r\n"):
        raise ValueError(f"the {role} address must not contain line breaks")
    _name, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain:
        raise ValueError(f"the {role} address {value!r} is not an e-mail address")
    try:
        return Address(addr_spec=addr)
    except (ValueError, HeaderParseError) as exc:
        raise ValueError(f"the {role} address {value!r} is not an e-mail address") from exc


def _split_mime_type(mime_type: str) -> tuple[str, str, dict[str, str]]:
    kind, *raw_params = (part.strip() for part in mime_type.split(";"))
    maintype, slash, subtype = kind.partition("/")
    if not slash or not maintype or not subtype:
        raise ValueError(f"not a MIME type: {mime_type!r}")
    params: dict[str, str] = {}
    for raw in raw_params:
        key, eq, value = raw.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"bad parameter {raw!r} in MIME type {mime_type!r}")
        params[key.strip().lower()] = value.strip().strip('"')
    return maintype.lower(), subtype.lower(), params
