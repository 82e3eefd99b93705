"""What the messages about a booking say, built without I/O: the confirmation (with its
iCalendar event), the reminders, and the event of a cancellation, from a ``Notice``.

A ``Notice`` holds the plain values they need: the booking service builds it from the values
it has just read and written (no ORM objects, ``hub.scheduling.book``), the other paths from a
loaded booking (``notice_of``). ``hub.scheduling.messages`` queues what these functions build."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.context import HubContext
from hub.notify import ical, outbox
from hub.notify.mailer import Attachment, check_address
from hub.notify.sms import normalise_french_mobile
from hub.rendering import when_fr
from hub.scheduling import links

if TYPE_CHECKING:
    from hub.identity.models import Organisation
    from hub.scheduling.models import Booking

logger = logging.getLogger(__name__)

RELATED = "booking"


@dataclass(frozen=True, slots=True)
class Place:
    """A site as the messages name it, and its CPTS (their sender)."""

    name: str
    address: str
    postcode: str
    city: str
    timezone: str
    org_name: str
    org_slug: str
    org_email: str


@dataclass(frozen=True, slots=True)
class Notice:
    """One booking as its messages tell it, and the patient's contact as recorded."""

    booking_id: int
    reference: str
    link_nonce: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    place: Place
    phone: str
    email: str


def notice_of(booking: Booking, org: Organisation) -> Notice:
    """The notice of a booking loaded with its slot, site and patient."""
    site = booking.site
    return Notice(
        booking_id=booking.id,
        reference=booking.reference,
        link_nonce=booking.link_nonce,
        starts_at=booking.starts_at,
        ends_at=booking.slot.ends_at,
        place=Place(
            name=site.name,
            address=site.address,
            postcode=site.postcode,
            city=site.city,
            timezone=site.timezone,
            org_name=org.name,
            org_slug=org.slug,
            org_email=org.email,
        ),
        phone=booking.patient.phone,
        email=booking.patient.email,
    )


def mobile_of(phone: str) -> str | None:
    """The recorded number as a mobile for SMS, or None (a landline: the secretary read the
    summary on the phone)."""
    try:
        return normalise_french_mobile(phone) if phone else None
    except ValueError:
        return None


def email_of(address: str) -> str | None:
    """The recorded e-mail address when one is recorded and usable, else None."""
    if not address:
        return None
    try:
        check_address(address)
    except ValueError:
        logger.warning("a patient's stored e-mail address is unusable; no e-mail sent")
        return None
    return address


def follow_url(ctx: HubContext, notice: Notice) -> str:
    """The patient's link to confirm, move or cancel the booking."""
    token = links.booking_link_token(ctx.secret, notice.booking_id, notice.link_nonce)
    return f"{ctx.settings.base_url}/rdv/suivi/{token}"


def event(
    ctx: HubContext,
    notice: Notice,
    *,
    now: dt.datetime,
    cancelled: bool = False,
    url: str | None = None,
) -> Attachment:
    """The booking as an iCalendar event (its cancellation when ``cancelled``)."""
    place = notice.place
    content = ical.booking_event(
        uid=f"{notice.reference}@{place.org_slug}",
        start=notice.starts_at,
        end=notice.ends_at,
        summary=f"Téléconsultation — {place.name}",
        location=f"{place.name}, {place.address}, {place.postcode} {place.city}".strip(", "),
        description=f"Rendez-vous {notice.reference}. Venez 10 minutes en avance avec votre "
        "pièce d'identité et votre carte Vitale. "
        f"Gérer le rendez-vous : {url or follow_url(ctx, notice)}",
        organizer_name=place.org_name,
        organizer_email=place.org_email or "noreply@cpts.invalid",
        sequence=1 if cancelled else 0,
        cancelled=cancelled,
        now=now,
    )
    method = "CANCEL" if cancelled else "REQUEST"
    return Attachment(
        filename="rendez-vous.ics",
        content=content,
        mime_type=f"text/calendar; charset=utf-8; method={method}",
    )


def confirmation_rows(
    ctx: HubContext, notice: Notice, *, now: dt.datetime, offsets: Sequence[dt.timedelta]
) -> list[dict[str, object]]:
    """The outbox rows of a new booking: its confirmation by e-mail and SMS, and its reminders
    ``offsets`` before it (those still to come)."""
    place = notice.place
    when = when_fr(notice.starts_at, place.timezone)
    url = follow_url(ctx, notice)
    mobile, email = mobile_of(notice.phone), email_of(notice.email)
    rows = []
    if email:
        rows.append(
            outbox.email_row(
                to=email,
                purpose="booking_confirmation",
                subject=f"Votre téléconsultation du {when} ({notice.reference})",
                text=(
                    f"Bonjour,\n\nVotre rendez-vous de téléconsultation est enregistré :\n"
                    f"  {when}\n  {place.name}, {place.address}, {place.postcode} {place.city}\n"
                    f"  Référence : {notice.reference}\n\n"
                    f"Venez 10 minutes en avance avec votre pièce d'identité et votre carte "
                    f"Vitale.\nPour confirmer, déplacer ou annuler : {url}\n\n"
                    f"En cas d'urgence vitale, appelez le 15.\n\n{place.org_name}\n"
                ),
                attachments=[event(ctx, notice, now=now, url=url)],
                related_kind=RELATED,
                related_id=notice.booking_id,
                now=now,
            )
        )
    if mobile:
        rows.append(
            outbox.sms_row(
                to=mobile,
                purpose="booking_confirmation",
                text=(
                    f"RDV téléconsultation {when}, {place.name}. Réf {notice.reference}. "
                    f"Gérer : {url}"
                ),
                related_kind=RELATED,
                related_id=notice.booking_id,
                now=now,
            )
        )
    return rows + reminder_rows(
        ctx, notice, now=now, offsets=offsets, url=url, contact=(mobile, email)
    )


def reminder_rows(
    ctx: HubContext,
    notice: Notice,
    *,
    now: dt.datetime,
    offsets: Sequence[dt.timedelta],
    url: str | None = None,
    contact: tuple[str | None, str | None] | None = None,
) -> list[dict[str, object]]:
    """The outbox rows of the booking's reminders still to come (``offsets`` before it), to
    the patient's mobile and e-mail, each due when it must leave (``url``, ``contact``: the
    patient's link and usable mobile and e-mail, when the caller has them already)."""
    due = [notice.starts_at - offset for offset in offsets if notice.starts_at - offset > now]
    if not due:
        return []
    mobile, email = contact or (mobile_of(notice.phone), email_of(notice.email))
    place = notice.place
    when = when_fr(notice.starts_at, place.timezone)
    text = (
        f"Rappel : téléconsultation {when}, {place.name} (réf {notice.reference}). "
        f"Merci de confirmer ou d'annuler : {url or follow_url(ctx, notice)}"
    )
    rows = []
    for send_at in due:
        if mobile:
            rows.append(
                outbox.sms_row(
                    to=mobile,
                    purpose="reminder",
                    text=text,
                    related_kind=RELATED,
                    related_id=notice.booking_id,
                    now=now,
                    due=send_at,  # leaves the outbox when the reminder is due
                )
            )
        if email:
            rows.append(
                outbox.email_row(
                    to=email,
                    purpose="reminder",
                    subject=f"Rappel : téléconsultation du {when}",
                    text=text + "\n",
                    related_kind=RELATED,
                    related_id=notice.booking_id,
                    now=now,
                    due=send_at,
                )
            )
    return rows
