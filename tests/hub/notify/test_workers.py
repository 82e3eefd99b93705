"""Several hub workers run the periodic jobs together: every message leaves exactly once.

Each worker is a ``JobRunner`` with its own engine and event loop (or its own process, for the
one that is killed), all on one PostgreSQL database; the SMTP server is a real aiosmtpd, the
SMS provider a real HTTP server. Time is a fake clock the test moves."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import select

from hub.audit.service import verify_chain
from hub.config import Settings
from hub.jobs import JobRunner
from hub.notify.models import Channel, MessageStatus, OutboundMessage
from hub.notify.outbox import enqueue_email
from hub.scheduling import messages
from tests.conftest import BACKEND, ROOT
from tests.hub.notify.conftest import SMS_TOKEN, SmsWebhook
from tests.support import factories
from tests.support.job_worker import context_for, worker_settings
from tests.support.smtp import SmtpCollector, SmtpServerFixture, _start_smtp

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql", reason="several workers share a PostgreSQL database"
)

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
ROUND = dt.timedelta(seconds=30)


@dataclass
class FakeClock:
    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now


class Worker:
    """One hub worker's job runner, on an engine and an event loop of its own."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        self.loop = asyncio.new_event_loop()
        self.ctx = context_for(settings, clock)
        self.runner = JobRunner(self.ctx)

    def run_round(self) -> None:
        self.loop.run_until_complete(self.runner.run_once())

    def close(self) -> None:
        self.loop.run_until_complete(self.runner.stop())
        self.loop.run_until_complete(self.ctx.engine.dispose())
        self.loop.close()


async def _book_patients(settings: Settings, clock: FakeClock, count: int) -> None:
    """``count`` bookings made at T0, each two hours and a few minutes ahead: a confirmation
    (e-mail and SMS) now, a reminder (e-mail and SMS) due within the ten minutes."""
    ctx = context_for(settings, clock)
    try:
        async with ctx.sessions() as session:
            org = await factories.organisation(session)
            site = await factories.site(session, organisation=org)
            await session.commit()
            for n in range(count):
                slot = await factories.slot(
                    session, site_id=site.id, starts_at=T0 + dt.timedelta(hours=2, minutes=1 + n)
                )
                patient = await factories.patient(
                    session,
                    organisation_id=org.id,
                    today=T0.date(),
                    birth_name=f"Patient{chr(65 + n)}",
                    phone=f"06 12 34 56 {10 + n:02d}",
                )
                patient.email = f"patient{n}@example.org"
                await session.commit()
                booking = await factories.booking(
                    session, slot_id=slot.id, patient_id=patient.id, now=T0
                )
                await messages.booking_made(session=session, ctx=ctx, booking=booking, now=T0)
                await session.commit()
    finally:
        await ctx.engine.dispose()


async def test_two_workers_deliver_every_confirmation_and_reminder_exactly_once(
    settings: Settings, smtp_server: SmtpServerFixture, sms_webhook: SmsWebhook
) -> None:
    clock = FakeClock()
    await _book_patients(settings, clock, count=6)
    worker = worker_settings(
        settings.database_url, smtp_server.settings.port, sms_webhook.url, SMS_TOKEN
    )
    workers = [Worker(worker, clock), Worker(worker, clock)]
    try:
        while clock.now < T0 + dt.timedelta(minutes=10):
            await asyncio.gather(*(asyncio.to_thread(w.run_round) for w in workers))
            clock.now += ROUND
    finally:
        for w in workers:
            await asyncio.to_thread(w.close)

    mails = collections.Counter(
        (d.rcpt_tos[0], d.message["Subject"]) for d in smtp_server.collector.delivered
    )
    texts = collections.Counter(
        (body["to"], body["text"]) for _auth, body in sms_webhook.received if isinstance(body, dict)
    )
    for n in range(6):
        address = f"patient{n}@example.org"
        assert [k for k in mails if k[0] == address and k[1].startswith("Votre télé")], address
        assert [k for k in mails if k[0] == address and k[1].startswith("Rappel")], address
    assert len(mails) == 12 and set(mails.values()) == {1}
    assert len(texts) == 12 and set(texts.values()) == {1}
    ids = [str(d.message["Message-ID"]) for d in smtp_server.collector.delivered]
    assert len(set(ids)) == len(ids)
    async with factories.session_for(settings) as session:
        statuses = set(await session.scalars(select(OutboundMessage.status)))
        assert statuses == {MessageStatus.SENT}
        assert (await verify_chain(session=session)).problems == []


@dataclass
class HeldSmtp:
    """An SMTP server that holds the first session at RCPT until the test lets it go."""

    collector: SmtpCollector
    port: int
    holding: threading.Event
    release: threading.Event


class _HoldingCollector(SmtpCollector):
    def __init__(self, holding: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self._holding, self._release, self._held = holding, release, False

    async def handle_RCPT(
        self,
        server: SmtpServer,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if not self._held:
            self._held = True
            self._holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self._release.wait)
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def held_smtp() -> Iterator[HeldSmtp]:
    holding, release = threading.Event(), threading.Event()
    collector = _HoldingCollector(holding, release)
    controller, port = _start_smtp(collector, [])
    try:
        yield HeldSmtp(collector, port, holding, release)
    finally:
        release.set()
        controller.stop()


async def _one_email(settings: Settings, clock: FakeClock) -> None:
    ctx = context_for(settings, clock)
    try:
        async with ctx.sessions() as session:
            await enqueue_email(
                session=session,
                to="marie@example.org",
                subject="Votre téléconsultation",
                text="Bonjour",
                purpose="booking_confirmation",
                now=T0,
            )
            await session.commit()
    finally:
        await ctx.engine.dispose()


async def test_a_worker_killed_mid_delivery_does_not_make_the_message_leave_twice(
    settings: Settings, held_smtp: HeldSmtp
) -> None:
    clock = FakeClock()
    await _one_email(settings, clock)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    doomed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.job_worker",
        settings.database_url,
        str(held_smtp.port),
        T0.isoformat(),
        cwd=ROOT,
        env=env | {"PYTHONPATH": str(ROOT)},
    )
    try:
        assert await asyncio.to_thread(held_smtp.holding.wait, 60), "the worker never got to SMTP"
        doomed.kill()  # SIGKILL in the middle of the SMTP dialogue
        await doomed.wait()
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await doomed.wait()
        held_smtp.release.set()
    survivor = worker_settings(settings.database_url, held_smtp.port)
    worker = Worker(survivor, clock)
    try:
        clock.now = T0 + dt.timedelta(minutes=1)
        await asyncio.to_thread(worker.run_round)  # claimed by the dead worker: left alone
        assert held_smtp.collector.delivered == []
        clock.now = T0 + dt.timedelta(minutes=11)  # its claim has lapsed: sent again, once
        await asyncio.to_thread(worker.run_round)
        await asyncio.to_thread(worker.run_round)
    finally:
        await asyncio.to_thread(worker.close)
    [mail] = held_smtp.collector.delivered
    assert mail.rcpt_tos == ["marie@example.org"]
    async with factories.session_for(settings) as session:
        [message] = await session.scalars(select(OutboundMessage))
        assert (message.channel, message.status, message.attempts) == (
            Channel.EMAIL,
            MessageStatus.SENT,
            2,
        )
