"""Reading the hub's own mailbox over IMAP (blocking :mod:`imaplib`, run in a worker thread):
the delivery status notifications and read receipts of the MSSanté relays come back there.

Each round takes the unseen messages, hands each to ``hub.notify.receipts.record_report``,
commits, then flags the reports seen: a report is read again only if the round died in between,
and recording it again changes nothing. A message that is no report stays unseen for a person.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import imaplib
import logging
import ssl
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from hub.notify.errors import DeliveryError
from hub.notify.receipts import parse_report, record_report

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """``imaps://host[:993][/folder]`` (TLS) or ``imap://host[:143][/folder]`` (STARTTLS
    unless ``starttls`` is off); the folder defaults to INBOX."""

    url: str
    username: str
    password: str = field(repr=False)
    starttls: bool = True
    timeout: float = 30.0

    @property
    def folder(self) -> str:
        return unquote(urlsplit(self.url).path.strip("/")) or "INBOX"


@dataclass(frozen=True, slots=True)
class MailboxRound:
    """What one round did: reports recorded, messages that were no (new) report."""

    recorded: int = 0
    ignored: int = 0


def _connect(settings: ImapSettings) -> imaplib.IMAP4:
    parts = urlsplit(settings.url)
    host = parts.hostname or ""
    if parts.scheme == "imaps":
        return imaplib.IMAP4_SSL(
            host,
            parts.port or 993,
            ssl_context=ssl.create_default_context(),
            timeout=settings.timeout,
        )
    if parts.scheme != "imap":
        raise ValueError(f"not an IMAP URL: {settings.url!r}")
    client = imaplib.IMAP4(host, parts.port or 143, timeout=settings.timeout)
    if settings.starttls:
        client.starttls(ssl.create_default_context())
    return client


def _fetch_unseen(settings: ImapSettings) -> list[tuple[str, bytes]]:
    """The unseen messages of the folder: (uid, raw message)."""
    with _connect(settings) as client:
        client.login(settings.username, settings.password)
        client.select(_quoted(settings.folder))
        _status, data = client.uid("SEARCH", "UNSEEN")
        found: list[tuple[str, bytes]] = []
        for uid in bytes(data[0] or b"").decode("ascii").split():
            _status, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if raw is not None:
                found.append((uid, raw))
        return found


def _flag_seen(settings: ImapSettings, uids: list[str]) -> None:
    if not uids:
        return
    with _connect(settings) as client:
        client.login(settings.username, settings.password)
        client.select(_quoted(settings.folder))
        client.uid("STORE", ",".join(uids), "+FLAGS", "(\\Seen)")


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def read_reports(
    *, session: AsyncSession, settings: ImapSettings, now: dt.datetime
) -> MailboxRound:
    """Record the reports waiting in the mailbox (see the module); commits.

    Raises ``DeliveryError`` when the mailbox cannot be read."""
    try:
        unseen = await asyncio.to_thread(_fetch_unseen, settings)
    except (imaplib.IMAP4.error, OSError, ValueError) as exc:
        raise DeliveryError(f"IMAP {settings.url} failed: {type(exc).__name__}: {exc}") from exc
    recorded = ignored = 0
    reports: list[str] = []
    for uid, raw in unseen:
        if parse_report(raw, received_at=now) is None:
            ignored += 1
            continue
        reports.append(uid)
        try:
            receipt = await record_report(session=session, raw=raw, received_at=now)
            await session.commit()
        except Exception:  # one unreadable report must not stop the others
            await session.rollback()
            logger.exception("mailbox: a report could not be recorded; left aside")
            receipt = None
        if receipt is None:
            ignored += 1
        else:
            recorded += 1
    try:
        await asyncio.to_thread(_flag_seen, settings, reports)
    except (imaplib.IMAP4.error, OSError, ValueError) as exc:
        raise DeliveryError(f"IMAP {settings.url} failed: {type(exc).__name__}: {exc}") from exc
    return MailboxRound(recorded=recorded, ignored=ignored)
