"""A real SMTP server for the tests (aiosmtpd on a loopback port) that keeps what it accepts."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from hub.notify.mailer import SmtpSettings
from tests.support.postgres import free_port


@dataclass
class Delivered:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpCollector:
    """An aiosmtpd handler that keeps what it accepts, or answers ``reply`` to DATA."""

    reply: str = "250 Message accepted for delivery"
    delivered: list[Delivered] = field(default_factory=list)
    refused: int = 0

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        if not self.reply.startswith("250"):
            self.refused += 1
            return self.reply
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.delivered.append(Delivered(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return self.reply


@dataclass
class SmtpServerFixture:
    collector: SmtpCollector
    settings: SmtpSettings
    logins: list[tuple[str, str]]


def _start_smtp(collector: SmtpCollector, logins: list[tuple[str, str]]) -> tuple[Controller, int]:
    def authenticate(
        server: SmtpServer, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = (data.login.decode(), data.password.decode())
        logins.append(login)
        return AuthResult(success=login == ("cpts", "s3cret"), handled=False)

    port = free_port()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    return controller, port


@pytest.fixture
def smtp_server() -> Iterator[SmtpServerFixture]:
    """A real SMTP server on a loopback port; plain text, login optional."""
    collector = SmtpCollector()
    logins: list[tuple[str, str]] = []
    controller, port = _start_smtp(collector, logins)
    settings = SmtpSettings(
        host="127.0.0.1",
        port=port,
        username=None,
        password=None,
        starttls=False,
        sender="CPTS du Pays de Rennes <noreply@cpts.example>",
        timeout=5.0,
    )
    try:
        yield SmtpServerFixture(collector, settings, logins)
    finally:
        controller.stop()
