"""The relay tests use a real SMTP server, and a real IMAP server for the hub's mailbox."""

from __future__ import annotations

from tests.support.imap import imap_server, mailbox
from tests.support.smtp import smtp_server

__all__ = ["imap_server", "mailbox", "smtp_server"]
