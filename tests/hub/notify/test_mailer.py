"""Building e-mail and sending it to a real SMTP server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils

import pytest

from hub.notify.errors import DeliveryError
from hub.notify.mailer import Attachment, build_message, send_email
from tests.support.postgres import free_port
from tests.support.smtp import SmtpServerFixture

SENDER = "CPTS du Pays de Rennes <noreply@cpts.example>"
NOW = dt.datetime(2026, 3, 20, 9, 15, tzinfo=dt.UTC)
ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


def test_message_headers_and_parts() -> None:
    msg = build_message(
        sender=SENDER,
        to="Jeanne Dupont <jeanne.dupont@example.org>",
        subject="Votre rendez-vous de téléconsultation",
        text="Bonjour,\nà mardi.",
        html="<p>Bonjour,<br>à mardi.</p>",
        attachments=[Attachment("rdv.ics", ICS, "text/calendar; method=REQUEST")],
        headers={"X-MSS-Sender": "cpts@mssante.example", "Reply-To": "secretariat@cpts.example"},
        now=NOW,
    )
    assert msg["Subject"] == "Votre rendez-vous de téléconsultation"
    assert msg["From"] == SENDER
    assert email.utils.parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["Message-ID"].endswith("@cpts.example>")
    assert (msg["X-MSS-Sender"], msg["Reply-To"]) == (
        "cpts@mssante.example",
        "secretariat@cpts.example",
    )
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content() == "Bonjour,\nà mardi.\n"
    assert body.get_content_charset() == "utf-8"
    html = msg.get_body(("html",))
    assert html is not None and "<p>Bonjour" in html.get_content()
    (ics,) = msg.iter_attachments()
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_param("method") == "REQUEST"
    assert ics.get_filename() == "rdv.ics"
    assert ics.get_payload(decode=True) == ICS


def test_message_ids_are_unique_unless_given() -> None:
    def build(message_id: str | None = None) -> str:
        msg = build_message(
            sender=SENDER, to="a@example.org", subject="s", text="t", message_id=message_id
        )
        return str(msg["Message-ID"])

    assert build() != build()
    assert build("<outbox.1.2@cpts.example>") == "<outbox.1.2@cpts.example>"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"to": "pas une adresse"}, "recipient address 'pas une adresse' is not an e-mail"),
        ({"to": "a@example.org\r\nBcc: x@evil.example"}, "must not contain line breaks"),
        ({"sender": "noreply"}, "sender address 'noreply' is not an e-mail"),
        ({"headers": {"Subject": "autre"}}, "header Subject is set by build_message"),
        ({"headers": {"X-Test": "a\r\nBcc: x@evil.example"}}, "linefeed or carriage return"),
        ({"attachments": [Attachment("a", b"", "calendar")]}, "not a MIME type: 'calendar'"),
    ],
)
def test_unsafe_or_malformed_messages_are_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "sender": SENDER,
        "to": "a@example.org",
        "subject": "s",
        "text": "t",
    }
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        build_message(**fields)  # type: ignore[arg-type]


async def test_send_email_reaches_the_server(smtp_server: SmtpServerFixture) -> None:
    message_id = await send_email(
        smtp_server.settings,
        to="Jeanne Dupont <jeanne.dupont@example.org>",
        subject="Rappel : téléconsultation demain",
        text="Bonjour, à demain 8 h 30.",
        headers={"X-MSS-Receipt": "yes"},
    )
    (delivered,) = smtp_server.collector.delivered
    assert delivered.mail_from == "noreply@cpts.example"
    assert delivered.rcpt_tos == ["jeanne.dupont@example.org"]
    assert delivered.message["Message-ID"] == message_id
    assert delivered.message["Subject"] == "Rappel : téléconsultation demain"
    assert delivered.message["X-MSS-Receipt"] == "yes"
    body = delivered.message.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Bonjour, à demain 8 h 30."


async def test_login_is_used_when_configured(smtp_server: SmtpServerFixture) -> None:
    settings = dataclasses.replace(smtp_server.settings, username="cpts", password="s3cret")
    await send_email(settings, to="a@example.org", subject="s", text="t")
    assert smtp_server.logins == [("cpts", "s3cret")]
    assert len(smtp_server.collector.delivered) == 1


async def test_wrong_password_is_a_delivery_error(smtp_server: SmtpServerFixture) -> None:
    settings = dataclasses.replace(smtp_server.settings, username="cpts", password="faux")
    with pytest.raises(DeliveryError, match=r"refused: 535 "):
        await send_email(settings, to="a@example.org", subject="s", text="t")
    assert smtp_server.collector.delivered == []


async def test_refusal_is_a_delivery_error(smtp_server: SmtpServerFixture) -> None:
    smtp_server.collector.reply = "550 5.7.1 Message rejected by policy"
    with pytest.raises(DeliveryError) as error:
        await send_email(smtp_server.settings, to="a@example.org", subject="s", text="t")
    port = smtp_server.settings.port
    assert error.value.message == (
        f"SMTP 127.0.0.1:{port} refused: 550 5.7.1 Message rejected by policy"
    )


async def test_starttls_required_but_not_offered_is_a_delivery_error(
    smtp_server: SmtpServerFixture,
) -> None:
    """Never fall back to sending in clear when the settings ask for STARTTLS."""
    settings = dataclasses.replace(smtp_server.settings, starttls=True)
    with pytest.raises(DeliveryError, match="SMTPNotSupportedError"):
        await send_email(settings, to="a@example.org", subject="s", text="t")
    assert smtp_server.collector.delivered == []


async def test_unreachable_server_is_a_delivery_error(smtp_server: SmtpServerFixture) -> None:
    settings = dataclasses.replace(smtp_server.settings, port=free_port())
    with pytest.raises(DeliveryError, match="ConnectionRefusedError"):
        await send_email(settings, to="a@example.org", subject="s", text="t")


def test_password_is_not_in_repr(smtp_server: SmtpServerFixture) -> None:
    settings = dataclasses.replace(smtp_server.settings, username="cpts", password="s3cret")
    assert "s3cret" not in repr(settings)
