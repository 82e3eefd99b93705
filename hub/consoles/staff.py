"""What the staff's consoles share: the acting user, their sites, a booking within their reach."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Invalid
from hub.identity import policy
from hub.identity import service as identity
from hub.identity.policy import Permission
from hub.records.vigilance import Actor
from hub.scheduling import booking as bk
from hub.scheduling.book import PUBLIC
from hub.scheduling.lookups import get_booking
from hub.scheduling.models import Reservation
from hub.scheduling.slots import get_slot

if TYPE_CHECKING:
    from hub.identity.models import Site, User
    from hub.scheduling.models import Booking, Slot


def actor_of(request: Request, user: User) -> Actor:
    return Actor(kind="user", id=user.id, ip=request.client.host if request.client else "")


async def user_site_ids(session: AsyncSession, user: User) -> list[int]:
    return [s.id for s in await identity.sites_for(session=session, user=user)]


async def own_booking(
    session: AsyncSession, user: User, booking_id: int, permission: Permission
) -> Booking:
    """A booking within the reach of the user's permission (its site), or Forbidden."""
    booking = await get_booking(session=session, booking_id=booking_id)
    policy.check(
        user,
        permission,
        sites=[booking.site_id],
        refusal="Ce rendez-vous concerne un site pour lequel vous n'agissez pas.",
    )
    return booking


def parse_birth_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value.strip() else None
    except ValueError:
        raise Invalid("Date de naissance invalide : utilisez le format jj/mm/aaaa.") from None


async def site_of_slot(session: AsyncSession, slot_id: int) -> Site:
    slot = await get_slot(session=session, slot_id=slot_id)
    if slot is None:
        raise Invalid("Ce créneau n'existe pas.")
    site = await identity.get_site(session=session, site_id=slot.site_id)
    assert site is not None
    return site


async def open_slot_for(
    session: AsyncSession,
    user: User,
    slot_id: int | None,
    *,
    permission: Permission,
    refusal: str,
    now: dt.datetime,
    may_use: frozenset[Reservation | None] = PUBLIC,
) -> Slot | None:
    """A slot of a site the user books for, that this kind of booker may take now (None when
    none was chosen): a slot elsewhere, reserved for others, past or taken is refused before
    the rest of the form is read."""
    if slot_id is None:
        return None
    site = await site_of_slot(session, slot_id)
    policy.check(user, permission, sites=[site.id], refusal=refusal)
    return await bk.check_bookable(session=session, slot_id=slot_id, now=now, may_use=may_use)
