"""A booking's messages leave through a real SMTP server and a real SMS webhook."""

from __future__ import annotations

import datetime as dt

import httpx
from fastapi import FastAPI

from hub.notify.outbox import deliver_due
from hub.notify.sms import HttpSmsGateway
from tests.conftest import csrf_from
from tests.hub.notify.conftest import SMS_TOKEN, SmsWebhook
from tests.support.factories import Cpts
from tests.support.smtp import SmtpServerFixture


async def test_online_booking_confirmation_arrives_with_its_calendar_event(
    app: FastAPI,
    client: httpx.AsyncClient,
    cpts: Cpts,
    smtp_server: SmtpServerFixture,
    sms_webhook: SmsWebhook,
) -> None:
    page = await client.get("/rdv/cpts-tests")
    slot_path = page.text.split('href="/rdv/cpts-tests/creneau/')[1].split('"')[0]
    form = await client.get(f"/rdv/cpts-tests/creneau/{slot_path}")
    response = await client.post(
        f"/rdv/cpts-tests/creneau/{slot_path}",
        data={
            "birth_name": "Lefèvre",
            "first_names": "Marie",
            "birth_date": "1985-04-12",
            "sex": "F",
            "phone": "06 12 34 56 78",
            "email": "marie@example.org",
            "has_mt": "oui",
            "mt_name": "Dr Roy",
            "reason": "Otalgie",
            "consent": "oui",
            "csrf_token": csrf_from(form.text),
        },
    )
    assert response.status_code == 303
    ctx = app.state.hub
    async with ctx.sessions() as session:
        report = await deliver_due(
            session=session,
            now=dt.datetime.now(dt.UTC),
            smtp=smtp_server.settings,
            sms=HttpSmsGateway(sms_webhook.url, SMS_TOKEN, "CPTS"),
        )
    assert report.sent == 2  # the confirmations; reminders wait for their time
    [mail] = smtp_server.collector.delivered
    assert mail.rcpt_tos == ["marie@example.org"]
    assert mail.message["Subject"].startswith("Votre téléconsultation du ")
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None and "/rdv/suivi/" in body.get_content()
    [ics] = [
        part
        for part in mail.message.iter_attachments()
        if part.get_content_type() == "text/calendar"
    ]
    assert ics.get_param("method") == "REQUEST"
    calendar = ics.get_content()
    calendar = calendar if isinstance(calendar, str) else calendar.decode()
    unfolded = calendar.replace("\r\n ", "")
    assert "BEGIN:VEVENT" in unfolded and "SUMMARY:Téléconsultation — Cabinet d" in unfolded
    [(auth, sms)] = sms_webhook.received
    assert auth == f"Bearer {SMS_TOKEN}"
    assert isinstance(sms, dict) and sms["to"] == "+33612345678"
    assert "RDV téléconsultation" in sms["text"]
