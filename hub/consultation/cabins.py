"""The cabins a consultation's commands, live vitals and media go to: the cabins of its site
and, for the session, a mobile kit of the CPTS its staff chose (`hub.cabins.kits`) — a
disability facility's session run by its own nurse with the kit."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.cabins import kits
from hub.consultation import service
from hub.consultation.models import Consultation, State
from hub.context import HubContext
from hub.errors import Conflict
from hub.identity import policy
from hub.identity import service as identity
from hub.identity.policy import Permission
from hub.scheduling import slots

if TYPE_CHECKING:
    from hub.identity.models import Cabin, User

ENDED = frozenset({State.CLOSED, State.CANCELLED, State.NO_SHOW, State.REDIRECTED, State.ABORTED})


async def cabins_of(
    *, session: AsyncSession, consultation: Consultation, now: dt.datetime
) -> frozenset[int]:
    """The ids of the consultation's cabins: its site's, and the mobile kit lent to it."""
    ids = await identity.cabin_ids_of_site(session=session, site_id=consultation.site_id)
    kit = await kits.kit_of_booking(session=session, booking_id=consultation.booking_id, now=now)
    return frozenset(ids | ({kit.id} if kit else set()))


async def kit_of(
    *, session: AsyncSession, consultation: Consultation, now: dt.datetime
) -> Cabin | None:
    """The mobile kit lent to the consultation's session, if any."""
    return await kits.kit_of_booking(session=session, booking_id=consultation.booking_id, now=now)


async def choose_kit(
    *, session: AsyncSession, ctx: HubContext, user: User, consultation_id: int, cabin_id: int
) -> Cabin:
    """The room's staff take a mobile kit of the CPTS for this session; traced. The kit."""
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    policy.check(
        user,
        Permission.ROOM,
        sites=[consultation.site_id],
        refusal="Seul le personnel du site de la consultation peut y utiliser un kit mobile.",
    )
    if consultation.state in ENDED:
        raise Conflict("La séance est terminée : le kit mobile ne peut plus lui être attribué.")
    slot = await slots.get_slot(session=session, slot_id=consultation.booking.slot_id)
    now = ctx.clock()
    kit = await kits.lend(
        session=session,
        organisation_id=user.organisation_id,
        cabin_id=cabin_id,
        booking_id=consultation.booking_id,
        site_id=consultation.site_id,
        slot_ends_at=slot.ends_at if slot else now,
        user_id=user.id,
        now=now,
    )
    service.trace(
        session, ctx, consultation, user, "kit", consultation.state, f"Kit mobile « {kit.name} »"
    )
    await session.commit()
    return kit
