"""Signed links sent to patients: follow a booking (confirm, cancel, move) without an account."""

from __future__ import annotations

import hmac
from functools import lru_cache

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import NotFound
from hub.scheduling.lookups import get_booking
from hub.scheduling.models import Booking, WaitingListEntry

LINK_EXPIRED = "Ce lien n'est plus valable. Contactez le secrétariat de la CPTS."


@lru_cache(maxsize=16)  # one per secret and purpose: built once, not per link (a booking's cost)
def _serializer(secret: str, purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=f"cpts-{purpose}-link")


def booking_token(secret: str, booking: Booking) -> str:
    """The token of a booking's patient link (it stops working if the nonce changes)."""
    return booking_link_token(secret, booking.id, booking.link_nonce)


def booking_link_token(secret: str, booking_id: int, link_nonce: str) -> str:
    """The token of the patient link of the booking with this id and nonce."""
    return str(_serializer(secret, "booking").dumps([booking_id, link_nonce]))


def offer_token(secret: str, entry: WaitingListEntry, booking: Booking) -> str:
    return str(_serializer(secret, "offer").dumps([entry.id, booking.link_nonce]))


def _load(secret: str, purpose: str, token: str) -> tuple[int, str]:
    try:
        value = _serializer(secret, purpose).loads(token)
    except BadSignature:
        raise NotFound(LINK_EXPIRED) from None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    ):
        raise NotFound(LINK_EXPIRED)
    return value[0], value[1]


async def booking_from_token(*, session: AsyncSession, secret: str, token: str) -> Booking:
    booking_id, nonce = _load(secret, "booking", token)
    booking = await get_booking(session=session, booking_id=booking_id)
    if not hmac.compare_digest(booking.link_nonce, nonce):
        raise NotFound(LINK_EXPIRED)
    return booking


async def offer_from_token(*, session: AsyncSession, secret: str, token: str) -> WaitingListEntry:
    entry_id, nonce = _load(secret, "offer", token)
    entry = await session.get(WaitingListEntry, entry_id)
    if entry is None:
        raise NotFound(LINK_EXPIRED)
    booking = await get_booking(session=session, booking_id=entry.booking_id)
    if not hmac.compare_digest(booking.link_nonce, nonce):
        raise NotFound(LINK_EXPIRED)
    return entry
