"""The guest's side of an invitation (``hub.consultation.guests``): the one-time link, joining
the consultation's room and leaving it.

The link's token is the guest's only credential: it is stored as its SHA-256 hash, and the first
opening binds it to that browser (a random cookie, also stored hashed). Another browser, a
removed guest, an expired link or a consultation that has ended get a page that says so.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Callable
from http import HTTPStatus

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import record_event
from hub.consultation.guests import MAX_NAME, guests_of, hashed, publish_guests, sfu_rooms
from hub.consultation.models import Consultation, Guest, GuestStatus, State
from hub.context import HubContext
from hub.errors import HubError, Invalid, NotFound
from hub.wire.janus import SfuGrant

LINK_UNKNOWN = (
    "Ce lien d'invitation n'est pas valable. Vérifiez qu'il a été copié en entier, ou demandez "
    "au médecin de vous inviter à nouveau."
)
LINK_OTHER_BROWSER = (
    "Ce lien d'invitation a déjà été ouvert dans un autre navigateur : il ne sert qu'une fois. "
    "Reprenez le navigateur où vous l'avez ouvert, ou demandez au médecin une nouvelle invitation."
)
LINK_EXPIRED = (
    "Ce lien d'invitation a expiré. Si la consultation continue, demandez au médecin une "
    "nouvelle invitation."
)
LINK_ENDED = "La consultation est terminée : ce lien d'invitation ne sert plus. Merci."
LINK_REMOVED = "Le médecin a mis fin à votre participation à cette consultation."


class GuestLinkGone(HubError):
    """A genuine invitation that no longer opens the consultation (expired, ended, removed, or
    bound to another browser)."""

    status = HTTPStatus.GONE


async def guest_of_link(
    *,
    session: AsyncSession,
    token: str,
    browser_of: Callable[[int], str | None],
    now: dt.datetime,
) -> tuple[Guest, str | None]:
    """The invitation this link opens in this browser (`browser_of(guest_id)`: the browser's
    secret for that invitation, if it has one), with a new browser secret to keep when this is
    the link's first opening. NotFound for an unknown link, GuestLinkGone for one that no longer
    opens the consultation."""
    guest = await session.scalar(select(Guest).where(Guest.token_hash == hashed(token)))
    if guest is None:
        raise NotFound(LINK_UNKNOWN)
    browser = browser_of(guest.id)
    if guest.status is GuestStatus.REMOVED:
        raise GuestLinkGone(LINK_REMOVED)
    if guest.status is GuestStatus.ENDED:
        raise GuestLinkGone(LINK_ENDED)
    if now >= guest.expires_at:
        raise GuestLinkGone(LINK_EXPIRED)
    fresh = None
    if guest.browser_hash is None:
        fresh = secrets.token_urlsafe(32)
        guest.browser_hash = hashed(fresh)
        guest.status = GuestStatus.OPENED
        await session.commit()
    elif browser is None or not hmac.compare_digest(guest.browser_hash, hashed(browser)):
        raise GuestLinkGone(LINK_OTHER_BROWSER)
    return guest, fresh


async def join(
    *, session: AsyncSession, ctx: HubContext, guest: Guest, name: str, ip: str = ""
) -> SfuGrant:
    """The guest enters the room under the name they typed; return their Janus grant (traced)."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise Invalid(
            "Indiquez votre nom (tel que les participants le verront).",
            fields={"name": "Indiquez votre nom (tel que les participants le verront)."},
        )
    consultation = await session.get(Consultation, guest.consultation_id)
    assert consultation is not None
    if consultation.state is not State.IN_CONSULTATION:
        raise GuestLinkGone(LINK_ENDED)
    async with sfu_rooms(ctx) as rooms:
        grant = rooms.grant(consultation.id, guest.party)
    guest.shown_name = name
    guest.status = GuestStatus.JOINED
    guest.joined_at = guest.last_seen_at = ctx.clock()
    record_event(
        session=session,
        action="consultation.guest_joined",
        actor_kind="guest",
        actor_id=guest.id,
        site_id=consultation.site_id,
        target=f"consultation:{consultation.id}",
        ip=ip,
        detail=f"{guest.role_label} : {name}",
    )
    await session.commit()
    publish_guests(
        ctx, consultation, await guests_of(session=session, consultation_id=consultation.id)
    )
    return grant


async def leave(*, session: AsyncSession, ctx: HubContext, guest: Guest, ip: str = "") -> None:
    """The guest left the room (their page closed or they clicked « Quitter »); traced."""
    if guest.status is not GuestStatus.JOINED:
        return
    consultation = await session.get(Consultation, guest.consultation_id)
    assert consultation is not None
    guest.status = GuestStatus.LEFT
    guest.left_at = ctx.clock()
    record_event(
        session=session,
        action="consultation.guest_left",
        actor_kind="guest",
        actor_id=guest.id,
        site_id=consultation.site_id,
        target=f"consultation:{consultation.id}",
        ip=ip,
        detail=f"{guest.role_label} : {guest.shown_name}",
    )
    await session.commit()
    publish_guests(
        ctx, consultation, await guests_of(session=session, consultation_id=consultation.id)
    )


#: How long a joined guest's page may stay silent before the guest is shown gone: the page
#: asks every 2 s; a browser that died, or a network that dropped, stops asking.
SILENT_FOR = dt.timedelta(seconds=30)
#: A page's asking is written down at most this often (a write per guest every few seconds
#: would be pointless).
SEEN_EVERY = dt.timedelta(seconds=5)


async def seen(*, session: AsyncSession, ctx: HubContext, guest: Guest) -> None:
    """The guest's page asked for its state: a joined guest is still there."""
    if guest.status is not GuestStatus.JOINED:
        return
    now = ctx.clock()
    if guest.last_seen_at is None or now - guest.last_seen_at >= SEEN_EVERY:
        guest.last_seen_at = now
        await session.commit()


async def lose_silent_guests(ctx: HubContext) -> list[int]:
    """Joined guests whose page stopped asking for `SILENT_FOR` left without saying so (their
    browser died, their network dropped): they are shown gone to the doctor and the room's
    screen, traced; their page, if it comes back, says the link was lost (rejoin by reopening
    it). Return their ids. Run by the periodic jobs, once across workers."""
    now = ctx.clock()
    lost: list[int] = []
    async with ctx.sessions() as session:
        silent = list(
            await session.scalars(
                select(Guest)
                .where(Guest.status == GuestStatus.JOINED)
                .where(func.coalesce(Guest.last_seen_at, Guest.joined_at) < now - SILENT_FOR)
                .order_by(Guest.id)
            )
        )
        for guest in silent:  # each its own commit: one guest's audit line, one event
            consultation = await session.get(Consultation, guest.consultation_id)
            assert consultation is not None
            guest.status = GuestStatus.LEFT
            guest.left_at = now
            record_event(
                session=session,
                action="consultation.guest_lost",
                actor_kind="system",
                site_id=consultation.site_id,
                target=f"consultation:{consultation.id}",
                detail=(
                    f"{guest.role_label} : {guest.shown_name} — liaison perdue, plus de nouvelles "
                    f"depuis {int(SILENT_FOR.total_seconds())} s"
                ),
            )
            await session.commit()
            publish_guests(
                ctx, consultation, await guests_of(session=session, consultation_id=consultation.id)
            )
            lost.append(guest.id)
    return lost
