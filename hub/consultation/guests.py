"""Third parties in a consultation: the doctor invites an interpreter, a specialist or the
patient's médecin traitant by e-mail or SMS; the guest opens a one-time, expiring link, gives a
name, checks their camera and joins the consultation's Janus room; the doctor sees who is there
and may remove a guest. Every step is in the audit trail.

The guest's side of the link is ``hub.consultation.guest_link``.

The first invitation opens the consultation's room (``SfuRooms.open_room``: the cabin, the
doctor and the guest admitted) and asks the cabin to publish into it; every exit of the
consultation closes it (``end_of_consultation``) and ends the invitations. A guest never reaches
the record, the report or the vitals: their link opens this page and the room, nothing else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import record_event
from hub.cabins import routing
from hub.consultation import cabins
from hub.consultation.models import (
    GUEST_ROLE_LABELS,
    Consultation,
    Guest,
    GuestRole,
    GuestStatus,
    State,
)
from hub.consultation.sfu import SfuRooms, SfuUnavailable, unavailable_reason
from hub.context import HubContext
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.events import Event
from hub.lengths import Text
from hub.notify import outbox
from hub.notify.mailer import check_address
from hub.notify.sms import normalise_french_mobile
from hub.wire import SfuPublish, SfuStop
from hub.wire.janus import JanusError, SfuGrant

if TYPE_CHECKING:
    from hub.identity.models import User

logger = logging.getLogger(__name__)

#: How long an invitation's link stays valid when the consultation goes on.
LINK_VALID_FOR = dt.timedelta(hours=2)
MAX_NAME = 120
#: Guests in a consultation at once (the room takes the cabin, the doctor and these).
MAX_GUESTS = 4
#: The room's parties besides guests: the cabin agent, the doctor's page, the room's screen.
STAFF_PARTIES = ("cabin", "doctor", "room")
#: Guests publish under these feed ids in the room: the doctor's page tells them apart.
GUEST_FEED_BASE = 1_000_000
ACTIVE = frozenset({GuestStatus.INVITED, GuestStatus.OPENED, GuestStatus.JOINED, GuestStatus.LEFT})

STATUS_LABELS = {
    GuestStatus.INVITED: "invité, lien envoyé",
    GuestStatus.OPENED: "a ouvert le lien",
    GuestStatus.JOINED: "présent",
    GuestStatus.LEFT: "parti",
    GuestStatus.REMOVED: "retiré",
    GuestStatus.ENDED: "terminé",
}

NOT_RUNNING = "On ne peut inviter un tiers que pendant la téléconsultation."
TOO_MANY = f"Cette consultation a déjà {MAX_GUESTS} invités : retirez-en un avant d'inviter."


def hashed(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def feed_of(guest_id: int) -> int:
    """The publisher id a guest joins the room with."""
    return GUEST_FEED_BASE + guest_id


@contextlib.asynccontextmanager
async def sfu_rooms(ctx: HubContext) -> AsyncIterator[SfuRooms]:
    """The hub's client of Janus; SfuUnavailable (with the reason in French) without one."""
    rooms = SfuRooms(ctx.settings)
    try:
        yield rooms
    finally:
        await rooms.aclose()


# --- the doctor's side -------------------------------------------------------------------------


def check_invitation(*, role: str, name: str, contact: str) -> tuple[GuestRole, str, str, str]:
    """Return (role, name, e-mail, mobile) from the form, or raise Invalid by field."""
    problems: dict[str, str] = {}
    guest_role = GuestRole(role) if role in GuestRole._value2member_map_ else None
    if guest_role is None:
        problems["role"] = (
            "Choisissez qui vous invitez : interprète, spécialiste ou médecin traitant."
        )
    name = " ".join(name.split())
    if not name:
        problems["name"] = "Indiquez le nom de la personne invitée."
    elif too_long := Text("Nom", MAX_NAME).problem(name):
        problems["name"] = too_long
    contact = contact.strip()
    email = mobile = ""
    if not contact:
        problems["contact"] = "Indiquez l'e-mail ou le numéro de portable de la personne invitée."
    elif "@" in contact:
        try:
            email = check_address(contact)
        except ValueError:
            problems["contact"] = f"Adresse e-mail invalide : {contact[:80]}"
    else:
        try:
            mobile = normalise_french_mobile(contact)
        except ValueError:
            problems["contact"] = (
                f"Numéro de portable invalide : {contact[:40]} "
                "(un 06 ou 07, ou une adresse e-mail)."
            )
    if problems:
        raise Invalid(" ".join(problems.values()), fields=problems)
    assert guest_role is not None
    return guest_role, name, email, mobile


async def guests_of(*, session: AsyncSession, consultation_id: int) -> list[Guest]:
    """The consultation's invitations, oldest first."""
    rows = await session.scalars(
        select(Guest).where(Guest.consultation_id == consultation_id).order_by(Guest.id)
    )
    return list(rows)


async def invite(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation: Consultation,
    role: str,
    name: str,
    contact: str,
) -> Guest:
    """Invite a third party into the running consultation: open (or extend) its Janus room,
    send the one-time link by e-mail or SMS through the outbox, trace it; commit."""
    reason = unavailable_reason(ctx.settings)
    if reason is not None:
        raise Conflict(reason)
    guest_role, name, email, mobile = check_invitation(role=role, name=name, contact=contact)
    if consultation.state is not State.IN_CONSULTATION:
        raise Conflict(NOT_RUNNING)
    others = await guests_of(session=session, consultation_id=consultation.id)
    active = [g for g in others if g.status in ACTIVE]
    if len(active) >= MAX_GUESTS:
        raise Conflict(TOO_MANY)
    now = ctx.clock()
    token = secrets.token_urlsafe(32)
    guest = Guest(
        consultation_id=consultation.id,
        role=guest_role,
        invited_name=name,
        email=email,
        mobile=mobile,
        token_hash=hashed(token),
        invited_by=user.id,
        created_at=now,
        expires_at=now + LINK_VALID_FOR,
    )
    session.add(guest)
    await session.flush()
    cabin_grant = None
    async with sfu_rooms(ctx) as rooms:
        if not any(g.status in ACTIVE for g in others):
            grants = await rooms.open_room(consultation.id, (*STAFF_PARTIES, guest.party))
            cabin_grant = grants["cabin"]
        else:
            await rooms.admit(consultation.id, guest.party)
    await _send_link(session, ctx, consultation, guest, token, user)
    record_event(
        session=session,
        action="consultation.guest_invited",
        actor_kind="user",
        actor_id=user.id,
        site_id=consultation.site_id,
        target=f"consultation:{consultation.id}",
        detail=f"{guest.role_label} : {name} ({'e-mail' if email else 'SMS'})",
    )
    await session.commit()
    if cabin_grant is not None:
        await _room_opened(ctx, consultation, cabin_grant)
    publish_guests(
        ctx, consultation, await guests_of(session=session, consultation_id=consultation.id)
    )
    return guest


async def _send_link(
    session: AsyncSession,
    ctx: HubContext,
    consultation: Consultation,
    guest: Guest,
    token: str,
    user: User,
) -> None:
    url = f"{ctx.settings.base_url}/invitation/{token}"
    site = consultation.booking.site.name
    until = f"{LINK_VALID_FOR.seconds // 3600} h"
    if guest.email:
        await outbox.enqueue_email(
            session=session,
            to=guest.email,
            subject="Invitation à une téléconsultation en cours",
            text=(
                f"Bonjour {guest.invited_name},\n\n"
                f"{user.full_name} vous invite, comme {guest.role_label}, à rejoindre une "
                f"téléconsultation en cours ({site}).\n\n"
                f"Rejoindre : {url}\n\n"
                f"Ce lien est personnel : il ne s'ouvre que dans un seul navigateur et reste "
                f"valable {until}, tant que la consultation continue.\n"
            ),
            purpose="guest_invitation",
            related_kind="consultation_guest",
            related_id=guest.id,
            now=ctx.clock(),
        )
    else:
        await outbox.enqueue_sms(
            session=session,
            to=guest.mobile,
            text=(
                f"{user.full_name} vous invite à une téléconsultation en cours ({site}). "
                f"Lien personnel, valable {until} : {url}"
            ),
            purpose="guest_invitation",
            related_kind="consultation_guest",
            related_id=guest.id,
            now=ctx.clock(),
        )


async def remove(
    *, session: AsyncSession, ctx: HubContext, user: User, consultation: Consultation, guest_id: int
) -> Guest:
    """The doctor removes a guest: Janus refuses them from now on and kicks their feed, the
    link works no more (traced); commit."""
    guest = await session.get(Guest, guest_id)
    if guest is None or guest.consultation_id != consultation.id:
        raise NotFound("Cet invité ne fait pas partie de cette consultation.")
    if guest.status not in ACTIVE:
        raise Conflict("Cet invité ne participe déjà plus à la consultation.")
    if unavailable_reason(ctx.settings) is None:  # else no room was ever opened
        async with sfu_rooms(ctx) as rooms:
            try:
                await rooms.dismiss(consultation.id, guest.party)
                await rooms.kick(consultation.id, feed_of(guest.id))
            except JanusError as error:  # the room is gone: nothing left to refuse them
                logger.info("guest %s not dismissed from Janus: %s", guest.id, error.reason)
    guest.status = GuestStatus.REMOVED
    guest.left_at = guest.left_at or ctx.clock()
    record_event(
        session=session,
        action="consultation.guest_removed",
        actor_kind="user",
        actor_id=user.id,
        site_id=consultation.site_id,
        target=f"consultation:{consultation.id}",
        detail=f"{guest.role_label} : {guest.shown_name or guest.invited_name}",
    )
    await session.commit()
    publish_guests(
        ctx, consultation, await guests_of(session=session, consultation_id=consultation.id)
    )
    return guest


async def staff_grant(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation: Consultation,
    party: Literal["doctor", "room"],
) -> SfuGrant:
    """The grant to the consultation's room of its doctor, or of the room's screen, to see and
    hear the guests (traced)."""
    if party == "doctor" and consultation.doctor_id != user.id:
        raise Forbidden("Rejoignez d'abord la consultation.")
    guests = await guests_of(session=session, consultation_id=consultation.id)
    if consultation.state is not State.IN_CONSULTATION or not any(
        g.status in ACTIVE for g in guests
    ):
        raise Conflict("Aucun tiers ne participe à cette consultation.")
    async with sfu_rooms(ctx) as rooms:
        grant = rooms.grant(consultation.id, party)
    record_event(
        session=session,
        action="consultation.media",
        actor_kind="user",
        actor_id=user.id,
        site_id=consultation.site_id,
        target=f"consultation:{consultation.id}",
        detail="salle à plusieurs (Janus)",
    )
    await session.commit()
    return grant


async def end_of_consultation(
    *, session: AsyncSession, ctx: HubContext, consultation: Consultation
) -> None:
    """The consultation left its live state: close its room (if it had guests) and end their
    invitations; commit. Janus failing is logged, never blocks the consultation's exit."""
    guests = await guests_of(session=session, consultation_id=consultation.id)
    if not guests:
        return
    for guest in guests:
        if guest.status in ACTIVE:
            guest.status = GuestStatus.ENDED
            guest.left_at = guest.left_at or ctx.clock()
    await session.commit()
    if unavailable_reason(ctx.settings) is not None:
        return
    try:
        async with sfu_rooms(ctx) as rooms:
            await rooms.close_room(consultation.id, [*STAFF_PARTIES, *(g.party for g in guests)])
    except (SfuUnavailable, JanusError) as error:
        logger.warning("SFU room of consultation %s not closed: %s", consultation.id, error)
    await room_closed(ctx, consultation)
    publish_guests(ctx, consultation, guests)


async def console_view(
    *, session: AsyncSession, ctx: HubContext, consultation: Consultation
) -> dict[str, object]:
    """The doctor's console's « Tiers » panel: the invitations, and why none can be made here."""
    return {
        "guests": await guests_of(session=session, consultation_id=consultation.id),
        "guests_unavailable": unavailable_reason(ctx.settings),
        "guest_roles": [("", "—"), *GUEST_ROLE_LABELS.items()],
        "guest_values": {},
        "guest_errors": {},
        "guest_status_labels": STATUS_LABELS,
    }


def publish_guests(ctx: HubContext, consultation: Consultation, guests: list[Guest]) -> None:
    """Tell the consoles who is invited, who is there."""
    ctx.events.publish(
        Event(
            site_id=consultation.site_id,
            kind="consultation.guests",
            data={
                "consultation_id": consultation.id,
                "guests": [guest_public(g) for g in guests],
            },
        )
    )


def guest_public(guest: Guest) -> dict[str, object]:
    """What the doctor's console shows of a guest."""
    return {
        "id": guest.id,
        "name": guest.shown_name or guest.invited_name,
        "role": GUEST_ROLE_LABELS[guest.role],
        "status": guest.status.value,
        "feed": feed_of(guest.id),
    }


async def _room_opened(ctx: HubContext, consultation: Consultation, grant: SfuGrant) -> None:
    """The room is open: the consultation's cabins are asked to publish into it."""
    message = SfuPublish.of(consultation.id, grant)
    for cabin_id in await _cabins(ctx, consultation):
        await routing.tell_sfu(ctx, cabin_id=cabin_id, message=message)


async def room_closed(ctx: HubContext, consultation: Consultation) -> None:
    """The room is closed: the cabins stop publishing (Janus hung them up already)."""
    message = SfuStop(consultation_id=consultation.id)
    for cabin_id in await _cabins(ctx, consultation):
        await routing.tell_sfu(ctx, cabin_id=cabin_id, message=message)


async def publish_again_to(ctx: HubContext, cabin_id: int) -> None:
    """A cabin (re)connected: if one of its consultations has its room open, it is asked to
    publish into it again (after a restart or a long cut, its feed is gone from the room)."""
    if unavailable_reason(ctx.settings) is not None:
        return
    async with ctx.sessions() as session:
        live = await session.scalars(
            select(Consultation)
            .join(Guest, Guest.consultation_id == Consultation.id)
            .where(Consultation.state == State.IN_CONSULTATION, Guest.status.in_(ACTIVE))
            .distinct()
        )
        rooms = [
            c
            for c in live
            if cabin_id in await cabins.cabins_of(session=session, consultation=c, now=ctx.clock())
        ]
    if not rooms:
        return
    async with sfu_rooms(ctx) as sfu:
        for consultation in rooms:
            grant = sfu.grant(consultation.id, "cabin")
            message = SfuPublish.of(consultation.id, grant)
            await routing.tell_sfu(ctx, cabin_id=cabin_id, message=message)


async def _cabins(ctx: HubContext, consultation: Consultation) -> frozenset[int]:
    async with ctx.sessions() as session:
        return await cabins.cabins_of(session=session, consultation=consultation, now=ctx.clock())
