"""A real SMTP server for the tests (aiosmtpd on a loopback port) that keeps what it accepts.

It announces and accepts the DSN extension (RFC 3461: ``RET``/``ENVID`` on MAIL FROM,
``NOTIFY``/``ORCPT`` on RCPT TO), which aiosmtpd alone refuses with 555, and keeps the
parameters it was given; ``announce_dsn=False`` makes it a server without DSN."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator, Sequence
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
    mail_options: list[str] = field(default_factory=list)
    rcpt_options: list[str] = field(default_factory=list)


@dataclass
class SmtpCollector:
    """An aiosmtpd handler that keeps what it accepts, or answers ``reply`` to DATA."""

    reply: str = "250 Message accepted for delivery"
    delivered: list[Delivered] = field(default_factory=list)
    refused: int = 0
    announce_dsn: bool = True

    async def handle_EHLO(
        self,
        server: SmtpServer,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.announce_dsn:
            return [*responses[:-1], "250-DSN", responses[-1]]
        return responses

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        if not self.reply.startswith("250"):
            self.refused += 1
            return self.reply
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.delivered.append(
            Delivered(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                message,
                list(envelope.mail_options),
                list(envelope.rcpt_options),
            )
        )
        return self.reply


@dataclass
class SmtpServerFixture:
    collector: SmtpCollector
    settings: SmtpSettings
    logins: list[tuple[str, str]]


DSN_PARAMETERS = frozenset({"RET", "ENVID", "NOTIFY", "ORCPT"})


class DsnSmtpServer(SmtpServer):
    """aiosmtpd's server, taking the DSN parameters when its handler announces DSN."""

    def _getparams(self, params: Sequence[str]) -> dict[str, str | bool] | None:
        found = super()._getparams(params)
        if found is not None and getattr(self.event_handler, "announce_dsn", False):
            for name in DSN_PARAMETERS:
                found.pop(name, None)
        return found


class DsnController(Controller):
    def factory(self) -> SmtpServer:
        return DsnSmtpServer(self.handler, **self.SMTP_kwargs)


def _start_smtp(collector: SmtpCollector, logins: list[tuple[str, str]]) -> tuple[Controller, int]:
    def authenticate(
        server: SmtpServer, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = (data.login.decode(), data.password.decode())
        logins.append(login)
        return AuthResult(success=login == ("cpts", "s3cret"), handled=False)

    port = free_port()
    controller = DsnController(
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
