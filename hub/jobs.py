"""Periodic work of the hub: deliver the outbox, expire waiting-list offers, keep slots ahead,
queue the reports of SAS slot-link bookings to the SAS platform, seal the audit trail, read the
MSSanté mailbox's delivery and read reports, show gone the guests whose page stopped asking
(``hub.consultation.guest_link``), close the Janus rooms nobody closed
(``hub.consultation.idle_rooms``).

With several hub workers every worker runs a ``JobRunner``: the jobs that change shared state
in one transaction (slots, offers, audit seals, SAS reports, mailbox reports, silent guests,
idle rooms) run under a job lock (``hub.joblock``), so one worker at a time runs each; outbox
delivery needs none, each message being claimed by the worker that sends it
(``hub.notify.outbox``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from hub.audit.service import seal_pending
from hub.config import Settings
from hub.consultation.guest_link import lose_silent_guests
from hub.consultation.idle_rooms import close_idle_rooms
from hub.context import HubContext
from hub.identity import service as identity_service
from hub.interop.sas_reports import queue_reports
from hub.joblock import JobLock, job_lock_for
from hub.notify.errors import DeliveryError
from hub.notify.mailbox import ImapSettings, MailboxRound, read_reports
from hub.notify.mailer import SmtpSettings
from hub.notify.outbox import DeliveryReport, deliver_due
from hub.notify.platform import HttpFhirPlatform
from hub.notify.sms import HttpSmsGateway, SmsGateway
from hub.scheduling import messages, waiting_list
from hub.scheduling.slots import sync_horizon

logger = logging.getLogger(__name__)

SLOT_SYNC_EVERY = dt.timedelta(hours=1)


def smtp_settings(settings: Settings) -> SmtpSettings | None:
    if not settings.smtp_host:
        return None
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password.get_secret_value() or None,
        starttls=settings.smtp_starttls,
        sender=settings.smtp_sender,
    )


def sms_gateway(settings: Settings) -> SmsGateway | None:
    if not settings.sms_gateway_url:
        return None
    return HttpSmsGateway(
        settings.sms_gateway_url, settings.sms_gateway_token.get_secret_value(), settings.sms_sender
    )


def sas_platform(settings: Settings) -> HttpFhirPlatform | None:
    """The SAS platform Appointments are reported to, None when not configured."""
    if not settings.sas_platform_url:
        return None
    return HttpFhirPlatform(
        settings.sas_platform_url, settings.sas_platform_token.get_secret_value()
    )


async def deliver_outbox(ctx: HubContext) -> DeliveryReport:
    """Send what is due in the outbox."""
    async with ctx.sessions() as session:
        return await deliver_due(
            session=session,
            now=ctx.clock(),
            smtp=smtp_settings(ctx.settings),
            sms=sms_gateway(ctx.settings),
            platform=sas_platform(ctx.settings),
        )


def imap_settings(settings: Settings) -> ImapSettings | None:
    """The hub's MSSanté mailbox, None when not configured."""
    if not settings.mssante_imap_url:
        return None
    return ImapSettings(
        url=settings.mssante_imap_url,
        username=settings.mssante_imap_user,
        password=settings.mssante_imap_password.get_secret_value(),
        starttls=settings.mssante_imap_starttls,
    )


async def read_mailbox(ctx: HubContext) -> MailboxRound | None:
    """Record the delivery and read reports waiting in the MSSanté mailbox (when configured);
    a mailbox out of reach is logged and tried again next round."""
    imap = imap_settings(ctx.settings)
    if imap is None:
        return None
    async with ctx.sessions() as session:
        try:
            return await read_reports(session=session, settings=imap, now=ctx.clock())
        except DeliveryError as exc:
            logger.warning("mailbox not read: %s", exc.message)
            return None


async def report_to_sas(ctx: HubContext) -> int:
    """Queue the reports of bookings made from the SAS's slot links (when configured)."""
    async with ctx.sessions() as session:
        return await queue_reports(session=session, ctx=ctx)


async def expire_offers(ctx: HubContext) -> int:
    """Take back waiting-list offers past their time and offer those slots again."""
    now = ctx.clock()
    async with ctx.sessions() as session:
        slots = await waiting_list.expire_offers(session=session, now=now)
        for slot in slots:
            await messages.offer_slot(session=session, ctx=ctx, slot=slot, now=now)
        await session.commit()
    return len(slots)


async def sync_all_slots(ctx: HubContext) -> None:
    """Extend every site's slots over its booking horizon."""
    async with ctx.sessions() as session:
        for site in await identity_service.every_site(session=session):
            await sync_horizon(session=session, site=site, today=ctx.clock().date())
        await session.commit()


@dataclass
class JobRunner:
    """One background task that runs the periodic jobs until stopped."""

    ctx: HubContext
    lock: JobLock | None = None
    _task: asyncio.Task[None] | None = None
    _last_sync: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.lock is None:
            self.lock = job_lock_for(self.ctx.engine, self.ctx.settings.redis_url)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="hub-jobs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.lock is not None:
            await self.lock.close()

    async def run_once(self) -> None:
        """One round of every job; a job another worker is running is skipped this round."""
        assert self.lock is not None
        now = self.ctx.clock()
        if self._last_sync is None or now - self._last_sync >= SLOT_SYNC_EVERY:
            async with self.lock.try_hold("sync-slots") as held:
                if held:
                    await sync_all_slots(self.ctx)
            self._last_sync = now  # by this worker or another one just now
        async with self.lock.try_hold("expire-offers") as held:
            if held:
                await expire_offers(self.ctx)
        async with self.lock.try_hold("seal-audit") as held:
            if held:
                async with self.ctx.sessions() as session:
                    await seal_pending(session=session, now=self.ctx.clock())
        async with self.lock.try_hold("report-to-sas") as held:
            if held:
                await report_to_sas(self.ctx)
        report = await deliver_outbox(self.ctx)
        if report.sent or report.failed:
            logger.info(
                "outbox: %s sent, %s retried, %s failed", report.sent, report.retried, report.failed
            )
        async with self.lock.try_hold("read-mailbox") as held:
            if held:
                await read_mailbox(self.ctx)
        async with self.lock.try_hold("close-idle-rooms") as held:
            if held:
                await lose_silent_guests(self.ctx)
                await close_idle_rooms(self.ctx)

    async def _loop(self) -> None:
        failing = False
        while True:
            try:
                await self.run_once()
                if failing:
                    logger.info("periodic jobs recovered")
                failing = False
            except Exception:
                if not failing:
                    logger.exception("periodic jobs failed; retrying")
                failing = True
            await asyncio.sleep(self.ctx.settings.jobs_interval_seconds)
