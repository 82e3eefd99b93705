"""The relay's delivery status notifications (DSN, RFC 3461/3464) and read receipt (MDN,
RFC 8098): asked for when sending, read back from the hub's MSSanté mailbox on a real IMAP
server (Dovecot), shown on the secretariat's follow-up and traced in the audit."""

from __future__ import annotations

import datetime as dt

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.jobs import JobRunner, imap_settings
from hub.notify.mailbox import MailboxRound, read_reports
from hub.notify.models import MessageReceipt, OutboundMessage, ReceiptKind, Unmatched
from hub.notify.outbox import DeliveryReport
from tests.conftest import login, text
from tests.hub.reports.test_mssante import (
    MT,
    SENDER,
    deliver,
    opened,
    queue,
    signed_report,
)
from tests.support import imap
from tests.support.factories import Cpts
from tests.support.imap import ThrowawayDovecot
from tests.support.job_worker import context_for
from tests.support.postgres import free_port
from tests.support.smtp import SmtpServerFixture

REPORTING_MTA = "mx.medecin.mssante.fr"


def dsn(
    *,
    envid: str,
    message_id: str,
    action: str,
    status: str,
    diagnostic: str = "",
    n: int = 1,
    final_recipient: str = MT,
) -> bytes:
    """A delivery status notification as a receiving MTA writes it (RFC 3464), with the
    original's headers returned (RET=HDRS)."""
    diagnostic_line = f"Diagnostic-Code: smtp; {diagnostic}\r\n" if diagnostic else ""
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@{REPORTING_MTA}>\r\n"
        f"To: {SENDER}\r\n"
        "Subject: Delivery Status Notification\r\n"
        "Date: Fri, 20 Nov 2026 10:05:00 +0000\r\n"
        f"Message-ID: <dsn.{n}.{envid}@{REPORTING_MTA}>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "This is the mail system at host mx.medecin.mssante.fr.\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        f"Reporting-MTA: dns; {REPORTING_MTA}\r\n"
        f"Original-Envelope-Id: {envid}\r\n"
        "Arrival-Date: Fri, 20 Nov 2026 10:04:00 +0000\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {final_recipient}\r\n"
        f"Original-Recipient: rfc822; {final_recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"{diagnostic_line}"
        "Last-Attempt-Date: Fri, 20 Nov 2026 10:04:30 +0000\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"Message-ID: {message_id}\r\n"
        "Subject: Compte rendu\r\n"
        "\r\n"
        "--B--\r\n"
    ).encode()


def mdn(*, original_message_id: str, disposition: str = "displayed") -> bytes:
    """A read receipt as the doctor's mail client sends it (RFC 8098)."""
    return (
        f"From: {MT}\r\n"
        f"To: {SENDER}\r\n"
        "Subject: =?utf-8?q?Lu_=3A_Compte_rendu?=\r\n"
        "Date: Fri, 20 Nov 2026 11:30:00 +0000\r\n"
        "Message-ID: <mdn.1@medecin.mssante.fr>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=disposition-notification;\r\n"
        ' boundary="M"\r\n'
        "\r\n"
        "--M\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Votre message a été affiché.\r\n"
        "\r\n"
        "--M\r\n"
        "Content-Type: message/disposition-notification\r\n"
        "\r\n"
        "Reporting-UA: medecin.mssante.fr; Webmail\r\n"
        f"Final-Recipient: rfc822; {MT}\r\n"
        f"Original-Message-ID: {original_message_id}\r\n"
        f"Disposition: manual-action/MDN-sent-manually; {disposition}\r\n"
        "\r\n"
        "--M--\r\n"
    ).encode()


def with_mailbox(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "mssante_imap_url": url,
            "mssante_imap_user": imap.USER,
            "mssante_imap_password": SecretStr(imap.PASSWORD),
            "mssante_imap_starttls": False,  # loopback only, as the test server is
        }
    )


async def read(settings: Settings, mailbox: ThrowawayDovecot) -> MailboxRound:
    """What the periodic job does (``hub.jobs.read_mailbox``) with the operator's settings."""
    imap_config = imap_settings(with_mailbox(settings, mailbox.url))
    assert imap_config is not None
    async with opened(settings) as session:
        return await read_reports(
            session=session, settings=imap_config, now=dt.datetime.now(dt.UTC)
        )


async def sent_relay(settings: Settings, smtp_server: SmtpServerFixture) -> tuple[int, str]:
    """A signed report relayed to the médecin traitant: its outbox id and Message-ID."""
    now = dt.datetime.now(dt.UTC)
    message_id = await queue(settings, await signed_report(settings), now)
    assert await deliver(settings, smtp_server, now) == DeliveryReport(sent=1)
    async with opened(settings) as session:
        row = await session.get_one(OutboundMessage, message_id)
        assert row.provider_id is not None
        return message_id, row.provider_id


async def test_the_relay_asks_for_delivery_notifications_and_a_read_receipt(
    cpts: Cpts, settings: Settings, smtp_server: SmtpServerFixture
) -> None:
    message_id, _ = await sent_relay(settings, smtp_server)
    [delivered] = smtp_server.collector.delivered
    # aiosmtpd upper-cases the parameters it keeps; smtplib adds SIZE.
    [envid] = [o for o in delivered.mail_options if o.startswith("ENVID=")]
    assert envid.startswith(f"ENVID=OUTBOX-{message_id}.") and "RET=HDRS" in delivered.mail_options
    assert delivered.rcpt_options == ["NOTIFY=SUCCESS,FAILURE"]
    assert delivered.message["Disposition-Notification-To"] == SENDER


async def test_a_server_without_dsn_still_gets_the_relay_with_its_read_receipt_request(
    cpts: Cpts, settings: Settings, smtp_server: SmtpServerFixture
) -> None:
    smtp_server.collector.announce_dsn = False
    await sent_relay(settings, smtp_server)
    [delivered] = smtp_server.collector.delivered
    assert not [o for o in delivered.mail_options if o.startswith(("RET=", "ENVID="))]
    assert delivered.rcpt_options == []
    assert delivered.message["Disposition-Notification-To"] == SENDER


async def test_delivery_and_read_reports_become_the_follow_up_statuses(
    client: httpx.AsyncClient,
    cpts: Cpts,
    settings: Settings,
    smtp_server: SmtpServerFixture,
    mailbox: ThrowawayDovecot,
) -> None:
    message_id, original = await sent_relay(settings, smtp_server)
    [envid] = [
        o.removeprefix("ENVID=")
        for o in smtp_server.collector.delivered[0].mail_options
        if o.startswith("ENVID=")
    ]
    mailbox.deliver(dsn(envid=envid, message_id=original, action="delivered", status="2.0.0"))
    mailbox.deliver(mdn(original_message_id=original))
    mailbox.deliver(b"From: someone@example.org\r\nSubject: bonjour\r\n\r\nUn message.\r\n")
    assert await read(settings, mailbox) == MailboxRound(recorded=2, ignored=1)
    assert mailbox.unseen() == 1  # the person's message is left for a person
    assert await read(settings, mailbox) == MailboxRound(ignored=1)  # nothing twice

    await login(client, "secretariat")
    shown = text(await client.get("/secretariat/transmissions"))
    # 10:04:30 UTC is 11 h 04 in Paris; the reader's 11:30 UTC is 12 h 30.
    assert "Remis au destinataire — vendredi 20 novembre 2026 à 11 h 04" in shown
    assert "Lu par le destinataire — vendredi 20 novembre 2026 à 12 h 30" in shown
    async with opened(settings) as session:
        events = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.target == f"outbound_message:{message_id}")
                .order_by(AuditEvent.id)
            )
        )
    assert [e.action for e in events] == ["relay.delivered", "relay.read"]


async def test_a_failure_report_says_why_in_french(
    client: httpx.AsyncClient,
    cpts: Cpts,
    settings: Settings,
    smtp_server: SmtpServerFixture,
    mailbox: ThrowawayDovecot,
) -> None:
    message_id, original = await sent_relay(settings, smtp_server)
    envid = original.strip("<>").split("@")[0].replace("outbox.", "outbox-", 1)
    mailbox.deliver(
        dsn(
            envid=envid,
            message_id=original,
            action="failed",
            status="5.1.1",
            diagnostic="550 5.1.1 <paul.bernard@medecin.mssante.fr>: User unknown",
        )
    )
    assert await read(settings, mailbox) == MailboxRound(recorded=1)
    await login(client, "secretariat")
    shown = text(await client.get("/secretariat/transmissions"))
    assert (
        "Échec de remise : l'adresse du destinataire n'existe pas ; vérifiez son adresse "
        "MSSanté — vendredi 20 novembre 2026 à 11 h 04"
    ) in shown
    assert "Remis au destinataire" not in shown
    async with opened(settings) as session:
        [event] = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "relay.delivery_failed")
        )
    assert event.target == f"outbound_message:{message_id}"
    assert "5.1.1" in event.detail


async def test_a_report_about_no_relay_is_applied_to_none_and_listed_with_why(
    client: httpx.AsyncClient,
    cpts: Cpts,
    settings: Settings,
    smtp_server: SmtpServerFixture,
    mailbox: ThrowawayDovecot,
) -> None:
    message_id, _ = await sent_relay(settings, smtp_server)
    mailbox.deliver(
        dsn(  # the same outbox id, but another database's message (queued at another time)
            envid=f"outbox-{message_id}.1",
            message_id="<someone.else@example.org>",
            action="failed",
            status="5.1.1",
            diagnostic="550 5.1.1 User unknown",
        )
    )
    mailbox.deliver(mdn(original_message_id="<autre.logiciel@example.org>"))
    mailbox.deliver(  # a report with nothing machine-readable in it
        b"Message-ID: <garbled@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="G"\r\n\r\n'
        b"--G\r\nContent-Type: text/plain\r\n\r\nUndeliverable.\r\n--G--\r\n"
    )
    assert await read(settings, mailbox) == MailboxRound(recorded=2, ignored=1)
    async with opened(settings) as session:
        kept = list(await session.scalars(select(MessageReceipt).order_by(MessageReceipt.id)))
        audited = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.action.like("relay.%")))
        )
    assert [(r.message_id, r.kind, r.unmatched) for r in kept] == [
        (None, ReceiptKind.FAILED, Unmatched.UNKNOWN_MESSAGE),
        (None, ReceiptKind.READ, Unmatched.UNKNOWN_MESSAGE),
    ]
    assert kept[1].reference == "<autre.logiciel@example.org>"
    assert audited == []
    await login(client, "secretariat")
    follow_up = text(await client.get("/secretariat/transmissions"))
    assert "Échec de remise" not in follow_up and "Lu par le destinataire" not in follow_up
    assert "2 avis ou accusés de la boîte MSSanté ne correspondent à aucune transmission" in (
        follow_up
    )
    listed = text(await client.get("/secretariat/transmissions/non-rattaches"))
    assert (
        "Échec de remise : l'adresse du destinataire n'existe pas ; vérifiez son adresse MSSanté"
    ) in listed
    assert "Lu par le destinataire" in listed and "Accusé de lecture" in listed
    assert listed.count("Il ne cite aucun compte rendu envoyé par ce hub") == 2
    assert "5.1.1 smtp; 550 5.1.1 User unknown" in listed  # the raw text, as received
    assert "Référence citée : <autre.logiciel@example.org>" in listed


async def test_a_report_about_another_recipient_is_not_applied_to_the_relay(
    client: httpx.AsyncClient,
    cpts: Cpts,
    settings: Settings,
    smtp_server: SmtpServerFixture,
    mailbox: ThrowawayDovecot,
) -> None:
    """A report naming the relay but another Final-Recipient (a forward, another copy): the
    relay's follow-up is unchanged, the report is listed with why."""
    message_id, original = await sent_relay(settings, smtp_server)
    envid = original.strip("<>").split("@")[0].replace("outbox.", "outbox-", 1)
    other = "secretariat.cabinet@medecin.mssante.fr"
    mailbox.deliver(
        dsn(
            envid=envid,
            message_id=original,
            action="delivered",
            status="2.0.0",
            final_recipient=other,
        )
    )
    assert await read(settings, mailbox) == MailboxRound(recorded=1)
    async with opened(settings) as session:
        [receipt] = await session.scalars(select(MessageReceipt))
        audited = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.action.like("relay.%")))
        )
    assert (receipt.message_id, receipt.unmatched, receipt.final_recipient) == (
        None,
        Unmatched.OTHER_RECIPIENT,
        other,
    )
    assert audited == []
    await login(client, "secretariat")
    assert "Remis au destinataire" not in text(await client.get("/secretariat/transmissions"))
    listed = text(await client.get("/secretariat/transmissions/non-rattaches"))
    assert (
        f"Il cite une transmission de ce hub, mais concerne l'adresse {other}, qui n'est pas "
        "celle du destinataire de cette transmission"
    ) in listed
    assert "Avis de remise" in listed and f"outbound_message:{message_id}" not in listed

    # The same report about the relay's own recipient is applied to it.
    mailbox.deliver(dsn(envid=envid, message_id=original, action="delivered", status="2.0.0", n=2))
    assert await read(settings, mailbox) == MailboxRound(recorded=1)
    assert "Remis au destinataire" in text(await client.get("/secretariat/transmissions"))


async def test_the_periodic_jobs_read_the_mailbox_and_go_on_when_it_is_out_of_reach(
    cpts: Cpts, settings: Settings, smtp_server: SmtpServerFixture, mailbox: ThrowawayDovecot
) -> None:
    smtp = {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.settings.port}
    configured = with_mailbox(settings, mailbox.url).model_copy(
        update={**smtp, "smtp_starttls": False}
    )
    now = dt.datetime.now(dt.UTC)
    facts = await signed_report(settings)
    message_id = await queue(settings, facts, now)
    ctx = context_for(configured, lambda: now)
    runner = JobRunner(ctx)
    try:
        await runner.run_once()  # sends the relay
        [delivered] = smtp_server.collector.delivered
        original = str(delivered.message["Message-ID"])
        mailbox.deliver(
            dsn(  # no envelope id kept: matched by the headers returned (RET=HDRS)
                envid="",
                message_id=original,
                action="delivered",
                status="2.0.0",
            )
        )
        await runner.run_once()  # reads the report
    finally:
        await runner.stop()
        await ctx.engine.dispose()
    async with opened(settings) as session:
        [receipt] = await session.scalars(select(MessageReceipt))
    assert (receipt.message_id, receipt.kind) == (message_id, ReceiptKind.DELIVERED)

    unreachable = with_mailbox(settings, f"imap://127.0.0.1:{free_port()}").model_copy(
        update={**smtp, "smtp_starttls": False}
    )
    second_id = await queue(settings, facts, now)
    ctx = context_for(unreachable, lambda: now)
    runner = JobRunner(ctx)
    try:
        await runner.run_once()  # the mailbox fails; the outbox is still delivered
    finally:
        await runner.stop()
        await ctx.engine.dispose()
    async with opened(settings) as session:
        sent = await session.get_one(OutboundMessage, second_id)
    assert sent.provider_id is not None and len(smtp_server.collector.delivered) == 2
