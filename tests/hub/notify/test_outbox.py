"""The outbox: queued with the booking, delivered to a real SMTP server and SMS webhook,
retried with backoff, given up after the maximum attempts, cancelled with the booking."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.errors import Invalid
from hub.notify.ical import booking_event
from hub.notify.mailer import Attachment
from hub.notify.models import Channel, MessageStatus, OutboundMessage
from hub.notify.outbox import (
    CLAIM_LEASE,
    INTERRUPTED,
    NO_SMS_GATEWAY,
    NO_SMTP,
    DeliveryReport,
    cancel_pending,
    deliver_due,
    enqueue_email,
    enqueue_sms,
    retry_delay,
)
from hub.notify.sms import HttpSmsGateway
from tests.hub.notify.conftest import SMS_TOKEN, SmsWebhook
from tests.support.smtp import SmtpServerFixture

T0 = dt.datetime(2026, 4, 6, 16, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def invitation() -> bytes:
    return booking_event(
        uid="booking-42@cpts.example",
        start=dt.datetime(2026, 4, 7, 6, 30, tzinfo=dt.UTC),
        end=dt.datetime(2026, 4, 7, 6, 50, tzinfo=dt.UTC),
        summary="Téléconsultation accompagnée",
        location="Maison de santé, Rennes",
        description="Apportez votre carte Vitale.",
        organizer_name="CPTS du Pays de Rennes",
        organizer_email="noreply@cpts.example",
        now=T0,
    )


async def queue_confirmation(session: AsyncSession, *, booking: int = 42) -> OutboundMessage:
    message = await enqueue_email(
        session=session,
        to="Jeanne Dupont <jeanne.dupont@example.org>",
        subject="Confirmation de votre rendez-vous du 7 avril",
        text="Bonjour,\nvotre téléconsultation est confirmée le mardi 7 avril à 8 h 30.",
        html="<p>Votre téléconsultation est confirmée.</p>",
        attachments=[Attachment("rendez-vous.ics", invitation(), "text/calendar; method=REQUEST")],
        headers={"X-CPTS-Booking": str(booking)},
        purpose="booking_confirmation",
        related_kind="booking",
        related_id=booking,
        now=T0,
    )
    await session.commit()
    return message


async def reload(session: AsyncSession, message: OutboundMessage) -> OutboundMessage:
    return await session.get_one(OutboundMessage, message.id, populate_existing=True)


def sms_gateway(webhook: SmsWebhook) -> HttpSmsGateway:
    return HttpSmsGateway(url=webhook.url, token=SMS_TOKEN, sender="CPTS")


# --- e-mail --------------------------------------------------------------------------------


async def test_confirmation_with_invitation_reaches_the_smtp_server(
    session: AsyncSession, smtp_server: SmtpServerFixture
) -> None:
    queued = await queue_confirmation(session)
    report = await deliver_due(session=session, now=T0, smtp=smtp_server.settings, sms=None)
    assert report == DeliveryReport(sent=1)

    (delivered,) = smtp_server.collector.delivered
    msg = delivered.message
    assert delivered.rcpt_tos == ["jeanne.dupont@example.org"]
    assert msg["Subject"] == "Confirmation de votre rendez-vous du 7 avril"
    assert msg["X-CPTS-Booking"] == "42"
    body = msg.get_body(("plain",))
    assert body is not None
    assert "confirmée le mardi 7 avril à 8 h 30" in body.get_content()
    html = msg.get_body(("html",))
    assert html is not None and "confirmée" in html.get_content()
    (ics,) = msg.iter_attachments()
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_param("method") == "REQUEST"
    assert ics.get_filename() == "rendez-vous.ics"
    assert ics.get_payload(decode=True) == invitation()

    sent = await reload(session, queued)
    assert (sent.status, sent.attempts, sent.sent_at, sent.last_error) == (
        MessageStatus.SENT,
        1,
        T0,
        None,
    )
    assert sent.provider_id == msg["Message-ID"]
    assert msg["Message-ID"] == f"<outbox.{sent.id}.{int(T0.timestamp())}@cpts.example>"
    again = await deliver_due(session=session, now=T0 + MINUTE, smtp=smtp_server.settings, sms=None)
    assert again == DeliveryReport()
    assert len(smtp_server.collector.delivered) == 1


async def test_messages_wait_until_they_are_due(
    session: AsyncSession, smtp_server: SmtpServerFixture
) -> None:
    await queue_confirmation(session)
    early = await deliver_due(session=session, now=T0 - MINUTE, smtp=smtp_server.settings, sms=None)
    assert early == DeliveryReport()
    assert smtp_server.collector.delivered == []


async def test_refusing_server_is_retried_with_backoff_then_given_up(
    session: AsyncSession, smtp_server: SmtpServerFixture
) -> None:
    smtp_server.collector.reply = "550 5.7.1 Relaying denied"
    queued = await queue_confirmation(session)
    smtp = smtp_server.settings

    async def run(at: dt.datetime) -> DeliveryReport:
        return await deliver_due(session=session, now=at, smtp=smtp, sms=None, max_attempts=4)

    assert await run(T0) == DeliveryReport(retried=1)
    message = await reload(session, queued)
    assert (message.status, message.attempts, message.next_attempt_at) == (
        MessageStatus.PENDING,
        1,
        T0 + MINUTE,
    )
    assert message.last_error == f"SMTP 127.0.0.1:{smtp.port} refused: 550 5.7.1 Relaying denied"

    assert await run(T0 + 59 * dt.timedelta(seconds=1)) == DeliveryReport()  # not due yet
    assert await run(T0 + MINUTE) == DeliveryReport(retried=1)  # 2nd attempt; next in 2 min
    assert (await reload(session, queued)).next_attempt_at == T0 + 3 * MINUTE
    assert await run(T0 + 3 * MINUTE) == DeliveryReport(retried=1)  # 3rd; next in 4 min
    assert (await reload(session, queued)).next_attempt_at == T0 + 7 * MINUTE
    assert await run(T0 + 7 * MINUTE) == DeliveryReport(failed=1)  # 4th and last

    failed = await reload(session, queued)
    assert (failed.status, failed.attempts, failed.sent_at) == (MessageStatus.FAILED, 4, None)
    assert failed.last_error is not None and "550 5.7.1 Relaying denied" in failed.last_error
    assert smtp_server.collector.refused == 4
    assert await run(T0 + dt.timedelta(days=1)) == DeliveryReport()


def test_backoff_doubles_from_one_minute() -> None:
    assert [retry_delay(n) for n in range(1, 6)] == [MINUTE * m for m in (1, 2, 4, 8, 16)]
    assert retry_delay(30) == dt.timedelta(hours=6)


async def test_without_smtp_server_messages_wait_and_say_why(
    session: AsyncSession, smtp_server: SmtpServerFixture
) -> None:
    queued = await queue_confirmation(session)
    report = await deliver_due(session=session, now=T0, smtp=None, sms=None)
    assert report == DeliveryReport(skipped=1)
    waiting = await reload(session, queued)
    assert (waiting.status, waiting.attempts, waiting.last_error) == (
        MessageStatus.PENDING,
        0,
        NO_SMTP,
    )
    later = await deliver_due(session=session, now=T0 + MINUTE, smtp=smtp_server.settings, sms=None)
    assert later == DeliveryReport(sent=1)
    assert (await reload(session, queued)).last_error is None


async def test_bad_addresses_are_refused_when_queued(session: AsyncSession) -> None:
    with pytest.raises(Invalid, match=r"^Adresse e-mail invalide : jeanne\.dupont$"):
        await enqueue_email(
            session=session,
            to="jeanne.dupont",
            subject="s",
            text="t",
            purpose="booking_confirmation",
            now=T0,
        )
    with pytest.raises(Invalid, match=r"^Numéro de portable invalide : 02 99 12 34 56$"):
        await enqueue_sms(
            session=session, to="02 99 12 34 56", text="t", purpose="reminder", now=T0
        )
    assert list(await session.scalars(select(OutboundMessage))) == []


async def test_rolled_back_booking_sends_nothing(
    session: AsyncSession, smtp_server: SmtpServerFixture
) -> None:
    """The message belongs to the caller's transaction."""
    await enqueue_email(
        session=session,
        to="a@example.org",
        subject="s",
        text="t",
        purpose="booking_confirmation",
        now=T0,
    )
    await session.rollback()
    assert (
        await deliver_due(session=session, now=T0, smtp=smtp_server.settings, sms=None)
        == DeliveryReport()
    )


# --- SMS -----------------------------------------------------------------------------------


async def test_sms_reminder_goes_through_the_gateway(
    session: AsyncSession, sms_webhook: SmsWebhook
) -> None:
    queued = await enqueue_sms(
        session=session,
        to="06 12 34 56 78",
        text="CPTS : rappel de votre téléconsultation demain à 8 h 30.",
        purpose="reminder",
        related_kind="booking",
        related_id=42,
        now=T0,
    )
    await session.commit()
    assert (queued.channel, queued.recipient) == (Channel.SMS, "+33612345678")
    report = await deliver_due(session=session, now=T0, smtp=None, sms=sms_gateway(sms_webhook))
    assert report == DeliveryReport(sent=1)
    assert sms_webhook.received == [
        (
            f"Bearer {SMS_TOKEN}",
            {
                "to": "+33612345678",
                "text": "CPTS : rappel de votre téléconsultation demain à 8 h 30.",
                "sender": "CPTS",
            },
        )
    ]
    sent = await reload(session, queued)
    assert (sent.status, sent.provider_id) == (MessageStatus.SENT, "sms-1")


async def test_sms_gateway_error_is_retried(session: AsyncSession, sms_webhook: SmsWebhook) -> None:
    sms_webhook.answers.append((500, '{"error": "internal"}'))
    queued = await enqueue_sms(
        session=session, to="0712345678", text="Rappel", purpose="reminder", now=T0
    )
    await session.commit()
    gateway = sms_gateway(sms_webhook)
    assert await deliver_due(session=session, now=T0, smtp=None, sms=gateway) == DeliveryReport(
        retried=1
    )
    waiting = await reload(session, queued)
    assert waiting.last_error == 'SMS gateway answered 500: {"error": "internal"}'
    assert waiting.next_attempt_at == T0 + MINUTE
    assert await deliver_due(
        session=session, now=T0 + MINUTE, smtp=None, sms=gateway
    ) == DeliveryReport(sent=1)
    sent = await reload(session, queued)
    assert (sent.status, sent.attempts, sent.provider_id, sent.last_error) == (
        MessageStatus.SENT,
        2,
        "sms-2",
        None,
    )


async def test_without_sms_gateway_sms_wait_but_email_goes(
    session: AsyncSession, smtp_server: SmtpServerFixture
) -> None:
    await queue_confirmation(session)
    sms = await enqueue_sms(
        session=session, to="0612345678", text="Rappel", purpose="reminder", now=T0
    )
    await session.commit()
    report = await deliver_due(session=session, now=T0, smtp=smtp_server.settings, sms=None)
    assert report == DeliveryReport(sent=1, skipped=1)
    waiting = await reload(session, sms)
    assert (waiting.status, waiting.last_error) == (MessageStatus.PENDING, NO_SMS_GATEWAY)


# --- cancellation, batches, concurrency, crashes -------------------------------------------


async def test_cancelling_a_booking_withdraws_its_pending_messages(
    session: AsyncSession, smtp_server: SmtpServerFixture
) -> None:
    confirmation = await queue_confirmation(session, booking=42)
    reminder = await enqueue_email(
        session=session,
        to="jeanne.dupont@example.org",
        subject="Rappel",
        text="Demain 8 h 30",
        purpose="reminder",
        related_kind="booking",
        related_id=42,
        now=T0 + dt.timedelta(days=1),
    )
    other = await queue_confirmation(session, booking=43)
    await session.commit()

    assert (
        await cancel_pending(
            session=session, related_kind="booking", related_id=42, purpose="reminder"
        )
        == 1
    )
    assert reminder.status is MessageStatus.CANCELLED
    assert await cancel_pending(session=session, related_kind="booking", related_id=42) == 1
    await session.commit()

    report = await deliver_due(
        session=session, now=T0 + dt.timedelta(days=2), smtp=smtp_server.settings, sms=None
    )
    assert report == DeliveryReport(sent=1)
    assert [d.message["X-CPTS-Booking"] for d in smtp_server.collector.delivered] == ["43"]
    statuses = [(await reload(session, m)).status for m in (confirmation, reminder, other)]
    assert statuses == [MessageStatus.CANCELLED, MessageStatus.CANCELLED, MessageStatus.SENT]
    assert await cancel_pending(session=session, related_kind="booking", related_id=43) == 0


async def test_batch_limits_one_run(session: AsyncSession, smtp_server: SmtpServerFixture) -> None:
    for booking in (1, 2, 3):
        await queue_confirmation(session, booking=booking)
    smtp = smtp_server.settings
    assert await deliver_due(session=session, now=T0, smtp=smtp, sms=None, batch=2) == (
        DeliveryReport(sent=2)
    )
    assert await deliver_due(session=session, now=T0, smtp=smtp, sms=None, batch=2) == (
        DeliveryReport(sent=1)
    )
    bookings = [d.message["X-CPTS-Booking"] for d in smtp_server.collector.delivered]
    assert bookings == ["1", "2", "3"]


async def test_two_workers_never_send_a_message_twice(
    session: AsyncSession, smtp_server: SmtpServerFixture
) -> None:
    for booking in range(6):
        await queue_confirmation(session, booking=booking)
    bind = session.bind
    factory = async_sessionmaker(bind, expire_on_commit=False)

    async def worker() -> DeliveryReport:
        async with factory() as own:
            return await deliver_due(session=own, now=T0, smtp=smtp_server.settings, sms=None)

    first, second = await asyncio.gather(worker(), worker())
    assert first.sent + second.sent == 6
    bookings = sorted(int(d.message["X-CPTS-Booking"]) for d in smtp_server.collector.delivered)
    assert bookings == list(range(6))


class DyingGateway:
    """A worker killed while the provider takes the SMS (after it was sent)."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, *, to: str, text: str) -> str:
        self.calls += 1
        if self.calls == 1:
            raise asyncio.CancelledError
        return f"id-{self.calls}"


async def test_message_interrupted_mid_send_is_sent_again_after_the_lease(
    session: AsyncSession,
) -> None:
    """At least once: a send whose outcome was never recorded is tried again, not lost."""
    queued = await enqueue_sms(
        session=session, to="0612345678", text="Rappel", purpose="reminder", now=T0
    )
    await session.commit()
    gateway = DyingGateway()
    with pytest.raises(asyncio.CancelledError):
        await deliver_due(session=session, now=T0, smtp=None, sms=gateway)
    await session.rollback()
    assert (
        await deliver_due(session=session, now=T0 + CLAIM_LEASE - MINUTE, smtp=None, sms=gateway)
        == DeliveryReport()
    )
    assert await deliver_due(
        session=session, now=T0 + CLAIM_LEASE, smtp=None, sms=gateway
    ) == DeliveryReport(sent=1)
    sent = await reload(session, queued)
    assert (sent.status, sent.attempts, sent.provider_id) == (MessageStatus.SENT, 2, "id-2")
    assert gateway.calls == 2


async def test_unreadable_stored_message_fails_alone(
    session: AsyncSession, smtp_server: SmtpServerFixture
) -> None:
    broken = await queue_confirmation(session, booking=1)
    broken.attachments = json.dumps([{"filename": "x.ics"}])
    await queue_confirmation(session, booking=2)
    await session.commit()
    report = await deliver_due(
        session=session, now=T0, smtp=smtp_server.settings, sms=None, max_attempts=1
    )
    assert report == DeliveryReport(sent=1, failed=1)
    failed = await reload(session, broken)
    assert failed.last_error is not None
    assert failed.last_error.startswith("stored attachments are unreadable")


async def test_message_that_kills_every_attempt_is_given_up(session: AsyncSession) -> None:
    """A worker dying on the same message at every attempt must not loop forever."""
    queued = await enqueue_sms(
        session=session, to="0612345678", text="Rappel", purpose="reminder", now=T0
    )
    await session.commit()

    class AlwaysDying:
        calls = 0

        async def send(self, *, to: str, text: str) -> str:
            self.calls += 1
            raise asyncio.CancelledError

    gateway = AlwaysDying()
    for attempt in range(2):
        with pytest.raises(asyncio.CancelledError):
            await deliver_due(
                session=session,
                now=T0 + attempt * CLAIM_LEASE,
                smtp=None,
                sms=gateway,
                max_attempts=2,
            )
        await session.rollback()
    report = await deliver_due(
        session=session, now=T0 + 2 * CLAIM_LEASE, smtp=None, sms=gateway, max_attempts=2
    )
    assert report == DeliveryReport(failed=1)
    assert gateway.calls == 2
    failed = await reload(session, queued)
    assert (failed.status, failed.last_error) == (MessageStatus.FAILED, INTERRUPTED)


async def test_missing_transport_is_counted_at_every_run(
    session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    """The count is honest at every run; the log says it once per message."""
    await enqueue_sms(session=session, to="0612345678", text="Rappel", purpose="reminder", now=T0)
    await session.commit()
    with caplog.at_level(logging.INFO, logger="hub.notify.outbox"):
        first = await deliver_due(session=session, now=T0, smtp=None, sms=None)
        second = await deliver_due(session=session, now=T0 + MINUTE, smtp=None, sms=None)
    assert (first, second) == (DeliveryReport(skipped=1), DeliveryReport(skipped=1))
    waiting = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert waiting == [f"1 sms message(s) now waiting: {NO_SMS_GATEWAY}"]
