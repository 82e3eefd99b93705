"""What happens to a signed report: it is deposited in the patient's shared record (unless
they object; later when their identity is not qualified yet: ``hub.reports.deposit``), relayed
to their médecin traitant over secure messaging and to the doctor who asked for the
consultation (the booking's requester), sent to the relay doctor a patient without one was
referred to, and the patient receives the link to their record page.
Everything is written to the outbox in the caller's transaction; the jobs deliver and retry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import Settings
from hub.consultation.models import DmpChoice
from hub.context import HubContext
from hub.records.patient_links import send_record_link
from hub.records.patient_service import patient_by_id
from hub.relay import service as relay
from hub.reports import service as report_service
from hub.reports.deposit import identity_allows_deposit, note_waiting
from hub.reports.facts import ReportFacts
from hub.reports.gather import facts_of
from hub.reports.models import Report
from hub.reports.mssante import PURPOSE_REQUESTER, enqueue_report_relay
from hub.reports.registry import document_sharing
from hub.reports.service import ReportDraft, latest_signed
from hub.scheduling.lookups import get_booking

if TYPE_CHECKING:
    from hub.consultation.models import Consultation
    from hub.identity.models import User
    from hub.notify.models import OutboundMessage
    from hub.relay.models import RelayDoctor


@dataclass(frozen=True, slots=True)
class Publication:
    deposited: bool
    relays: list[OutboundMessage]
    missing_address: bool  # a médecin traitant is declared but without a secure address
    # The deposit waits for the patient's identity to be qualified (no INS from INSi yet).
    deposit_waiting: bool = False


def sender_address(settings: Settings) -> str:
    """The CPTS's secure-messaging mailbox the reports are sent from."""
    return settings.mssante_sender or settings.smtp_sender


async def relay_to_referral_doctors(
    *,
    session: AsyncSession,
    ctx: HubContext,
    facts: ReportFacts,
    cda: bytes,
    consultation_id: int,
) -> list[OutboundMessage]:
    """Send the report to every relay doctor the patient was referred to (with an address)."""
    messages = []
    for referral in await relay.referrals_of(session=session, consultation_id=consultation_id):
        if referral.doctor.email:
            messages.append(
                await enqueue_report_relay(
                    session=session,
                    facts=facts,
                    cda=cda,
                    recipient=referral.doctor.email,
                    recipient_name=referral.doctor.name,
                    sender=sender_address(ctx.settings),
                    product_reference=ctx.settings.mssante_product_reference,
                    trust_space=ctx.settings.mssante_trust_space(),
                    now=ctx.clock(),
                    purpose="referral_report",
                )
            )
    return messages


async def send_signed_report(
    *, session: AsyncSession, ctx: HubContext, consultation_id: int, doctor: RelayDoctor
) -> OutboundMessage | None:
    """A patient referred after the report was signed: the relay doctor gets its latest
    version too. The caller commits."""
    report = await latest_signed(session=session, consultation_id=consultation_id)
    if report is None or report.cda is None or not doctor.email:
        return None
    return await enqueue_report_relay(
        session=session,
        facts=await facts_of(session=session, report=report, oid_root=ctx.settings.oid_root),
        cda=report.cda,
        recipient=doctor.email,
        recipient_name=doctor.name,
        sender=sender_address(ctx.settings),
        product_reference=ctx.settings.mssante_product_reference,
        trust_space=ctx.settings.mssante_trust_space(),
        now=ctx.clock(),
        purpose="referral_report",
    )


async def publish(
    *,
    session: AsyncSession,
    ctx: HubContext,
    report: Report,
    facts: ReportFacts,
    consultation: Consultation,
    actor: User,
) -> Publication:
    """Deposit, relay and tell the patient; the caller commits."""
    assert report.cda is not None
    cda = report.cda
    patient = await patient_by_id(session=session, patient_id=consultation.patient_id)
    assert patient is not None
    opposed = consultation.dmp_choice is DmpChoice.OPPOSES
    waiting = not opposed and not identity_allows_deposit(patient, facts)
    if waiting:
        note_waiting(session, report=report, patient=patient, actor=actor)
        document = None
    else:
        document = await document_sharing(ctx).deposit(
            session=session,
            facts=facts,
            cda=report.cda,
            actor=actor,
            opposed=opposed,
            hidden_from_patient=report.hidden_from_patient,
        )

    async def relay_to(recipient: str, name: str, purpose: str) -> OutboundMessage:
        return await enqueue_report_relay(
            session=session,
            facts=facts,
            cda=cda,
            recipient=recipient,
            recipient_name=name,
            sender=sender_address(ctx.settings),
            product_reference=ctx.settings.mssante_product_reference,
            trust_space=ctx.settings.mssante_trust_space(),
            now=ctx.clock(),
            purpose=purpose,
        )

    relays: list[OutboundMessage] = []
    missing_address = False
    if patient.has_medecin_traitant:
        if patient.medecin_traitant_mssante:
            relays.append(
                await relay_to(
                    patient.medecin_traitant_mssante, patient.medecin_traitant_name, "report_relay"
                )
            )
        else:
            missing_address = True
    booking = await get_booking(session=session, booking_id=consultation.booking_id)
    if booking.requester_mssante:
        relays.append(
            await relay_to(booking.requester_mssante, booking.requester_name, PURPOSE_REQUESTER)
        )
    relays.extend(
        await relay_to_referral_doctors(
            session=session,
            ctx=ctx,
            facts=facts,
            cda=report.cda,
            consultation_id=consultation.id,
        )
    )
    if not report.hidden_from_patient:
        await send_record_link(
            session=session,
            patient=patient,
            base_url=ctx.settings.base_url,
            secret=ctx.secret,
            now=ctx.clock(),
            valid_for=dt.timedelta(days=ctx.settings.record_link_days),
        )
    return Publication(
        deposited=document is not None,
        relays=relays,
        missing_address=missing_address,
        deposit_waiting=waiting,
    )


async def sign_and_publish(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation: Consultation,
    draft: ReportDraft,
) -> tuple[Report, Publication]:
    """Sign the report (``report_service.sign``), publish it, and commit both together."""
    report = await report_service.sign(
        session=session, ctx=ctx, user=user, consultation=consultation, draft=draft
    )
    result = await publish(
        session=session,
        ctx=ctx,
        report=report,
        facts=await facts_of(session=session, report=report, oid_root=ctx.settings.oid_root),
        consultation=consultation,
        actor=user,
    )
    await session.commit()
    return report, result
