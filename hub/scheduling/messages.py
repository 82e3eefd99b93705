"""What patients receive about their bookings: confirmation (with an iCalendar event),
reminders with confirm/cancel links, cancellations, and waiting-list offers.

Messages go through the durable outbox of ``hub.notify``; reminders are queued for the time
they must leave and cancelled with the booking."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.context import HubContext
from hub.identity import queries as identity_queries
from hub.identity import service as identity
from hub.notify import outbox
from hub.rendering import when_fr
from hub.scheduling import links, notices
from hub.scheduling.lookups import get_booking, patient_history, with_relations
from hub.scheduling.models import (
    Booking,
    BookingPolicy,
    BookingStatus,
    Slot,
    WaitingListEntry,
    WaitStatus,
)
from hub.scheduling.policy import policy_for, reminder_offsets
from hub.scheduling.waiting_list import offer_freed_slot

if TYPE_CHECKING:
    from hub.identity.models import Organisation, Site
    from hub.records.patients import Patient

RELATED = notices.RELATED


def reminder_channels(patient: Patient) -> list[str]:
    """How the patient will be reminded: « SMS » (a mobile number), « e-mail »."""
    channels = []
    if notices.mobile_of(patient.phone):
        channels.append("SMS")
    if patient.email:
        channels.append("e-mail")
    return channels


def reminder_moments(
    *, starts_at: dt.datetime, policy: BookingPolicy, now: dt.datetime
) -> list[str]:
    """When the reminders of an appointment still to come will leave, in words (« la veille »,
    « 2 h avant »): only those not already past, as ``notices.reminder_rows`` queues them."""
    moments = []
    for offset in reminder_offsets(policy):
        if starts_at - offset <= now:
            continue
        hours = offset.total_seconds() / 3600
        moments.append("la veille" if hours == 24 else f"{hours:g} h avant")
    return moments


async def _org(session: AsyncSession, site: Site) -> Organisation:
    org = identity_queries.loaded_organisation(site)  # read with the slot: no query
    if org is None:
        org = await identity.get_organisation(session=session, organisation_id=site.organisation_id)
    assert org is not None
    return org


async def booking_made(
    *,
    session: AsyncSession,
    ctx: HubContext,
    booking: Booking,
    now: dt.datetime,
    policy: BookingPolicy | None = None,
    along: outbox.Along | None = None,
) -> None:
    """Queue the confirmation and the reminders of a new booking, in one INSERT (``policy``:
    the CPTS's booking policy when the caller has read it already; ``along``: the booking's
    own INSERT when it is not in yet, run in the same statement)."""
    booking = await with_relations(session=session, booking=booking)
    org = await _org(session, booking.site)
    if policy is None:
        policy = await policy_for(session=session, organisation_id=org.id)
    rows = notices.confirmation_rows(
        ctx, notices.notice_of(booking, org), now=now, offsets=reminder_offsets(policy)
    )
    await outbox.insert_rows(session, rows, along=along)


async def contact_changed(
    *, session: AsyncSession, ctx: HubContext, patient_id: int, now: dt.datetime
) -> int:
    """The patient's mobile or e-mail changed: the reminders of their bookings to come that
    are not yet due are queued again, to the new contact; returns how many were queued."""
    queued = 0
    for known in await patient_history(session=session, patient_id=patient_id):
        if known.status is not BookingStatus.BOOKED or known.starts_at <= now:
            continue
        await outbox.cancel_pending(
            session=session,
            related_kind=RELATED,
            related_id=known.id,
            purpose="reminder",
            due_after=now,
        )
        booking = await get_booking(session=session, booking_id=known.id)
        org = await _org(session, booking.site)
        policy = await policy_for(session=session, organisation_id=org.id)
        notice = notices.notice_of(booking, org)
        rows = notices.reminder_rows(ctx, notice, now=now, offsets=reminder_offsets(policy))
        await outbox.insert_rows(session, rows)
        queued += len(rows)
    return queued


async def booking_cancelled(
    *, session: AsyncSession, ctx: HubContext, booking: Booking, now: dt.datetime
) -> None:
    """Withdraw pending reminders and tell the patient the booking is cancelled."""
    await outbox.cancel_pending(session=session, related_kind=RELATED, related_id=booking.id)
    booking = await get_booking(session=session, booking_id=booking.id)
    patient, site = booking.patient, booking.site
    org = await _org(session, site)
    when = when_fr(booking.starts_at, site.timezone)
    if email := notices.email_of(patient.email):
        await outbox.enqueue_email(
            session=session,
            to=email,
            purpose="booking_cancelled",
            subject=f"Annulation de votre téléconsultation du {when}",
            text=(
                f"Bonjour,\n\nVotre rendez-vous {booking.reference} du {when} ({site.name}) "
                f"est annulé.\nPour reprendre rendez-vous : {ctx.settings.base_url}/rdv/{org.slug}"
                f"\n\n{org.name}\n"
            ),
            attachments=[
                notices.event(ctx, notices.notice_of(booking, org), now=now, cancelled=True)
            ],
            related_kind=RELATED,
            related_id=booking.id,
            now=now,
        )
    if mobile := notices.mobile_of(patient.phone):
        await outbox.enqueue_sms(
            session=session,
            to=mobile,
            purpose="booking_cancelled",
            text=f"Votre RDV téléconsultation {when} ({booking.reference}) est annulé.",
            related_kind=RELATED,
            related_id=booking.id,
            now=now,
        )


async def offer_slot(
    *, session: AsyncSession, ctx: HubContext, slot: Slot, now: dt.datetime
) -> None:
    """Offer a freed slot to the first person on the waiting list, and tell them."""
    site = await identity.get_site(session=session, site_id=slot.site_id)
    assert site is not None
    policy = await policy_for(session=session, organisation_id=site.organisation_id)
    entry = await offer_freed_slot(
        session=session, slot=slot, now=now, offer_minutes=policy.offer_minutes
    )
    if entry is None:
        return
    booking = await get_booking(session=session, booking_id=entry.booking_id)
    url = f"{ctx.settings.base_url}/rdv/proposition/{links.offer_token(ctx.secret, entry, booking)}"
    when = when_fr(slot.starts_at, site.timezone)
    until = when_fr(entry.offer_expires_at or slot.starts_at, site.timezone)
    text = (
        f"Un créneau plus tôt s'est libéré : {when}, {site.name}. "
        f"Pour le prendre, répondez avant {until} : {url}"
    )
    if mobile := notices.mobile_of(booking.patient.phone):
        await outbox.enqueue_sms(
            session=session,
            to=mobile,
            purpose="waiting_list_offer",
            text=text,
            related_kind=RELATED,
            related_id=booking.id,
            now=now,
        )
    if email := notices.email_of(booking.patient.email):
        await outbox.enqueue_email(
            session=session,
            to=email,
            purpose="waiting_list_offer",
            subject=f"Un créneau plus tôt : {when}",
            text=text + "\n",
            related_kind=RELATED,
            related_id=booking.id,
            now=now,
        )


async def is_waiting(*, session: AsyncSession, booking: Booking) -> bool:
    """Whether this booking is on the waiting list for an earlier slot."""
    entry = await session.scalar(
        select(WaitingListEntry).where(
            WaitingListEntry.booking_id == booking.id, WaitingListEntry.status != WaitStatus.DONE
        )
    )
    return entry is not None
