"""Janus rooms nobody closed: a consultation left in its live state (the doctor closed the tab
and nobody ended it) keeps its room, its tokens and the cabin's publication. The periodic jobs
(`hub.jobs`, once across workers) close the rooms of consultations no longer running (their
exit could not reach Janus) and of running ones with no guest in the room for
``Settings.sfu_room_idle_minutes``. Only the room closes: the consultation itself is never
ended by a timer; the doctor's next invitation opens a new room.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from hub.audit.service import record_event
from hub.consultation.guests import (
    ACTIVE,
    STAFF_PARTIES,
    guests_of,
    publish_guests,
    room_closed,
    sfu_rooms,
)
from hub.consultation.models import Consultation, Guest, GuestStatus, State
from hub.consultation.sfu import SfuUnavailable, unavailable_reason
from hub.context import HubContext
from hub.wire.janus import JanusError

logger = logging.getLogger(__name__)

WAITED_FOR = frozenset({GuestStatus.INVITED, GuestStatus.OPENED})  # a link not used yet
_NOT_CLOSED: set[int] = set()  # rooms this process already warned it could not close


def _last_activity(guests: list[Guest]) -> dt.datetime:
    """When a guest of the room was last invited, joined or left."""
    return max(
        moment
        for guest in guests
        for moment in (guest.created_at, guest.joined_at, guest.left_at)
        if moment is not None
    )


def _idle(
    consultation: Consultation, guests: list[Guest], now: dt.datetime, idle: dt.timedelta
) -> bool:
    """Whether the consultation's room is to close: the consultation is over, or no guest
    is in the room, no invitation is still valid, and none came or went for `idle`."""
    if consultation.state is not State.IN_CONSULTATION:
        return True
    if any(g.status is GuestStatus.JOINED for g in guests):
        return False
    if any(g.status in WAITED_FOR and now < g.expires_at for g in guests):
        return False  # an invited guest may still come: the link is valid
    return now - _last_activity(guests) >= idle


async def close_idle_rooms(ctx: HubContext) -> list[int]:
    """Close the rooms to close (see the module); end their invitations; return the
    consultations whose room closed. A room Janus could not close is tried again next round."""
    if unavailable_reason(ctx.settings) is not None:
        return []
    now = ctx.clock()
    idle = dt.timedelta(minutes=ctx.settings.sfu_room_idle_minutes)
    closed: list[int] = []
    async with ctx.sessions() as session:
        with_room = list(
            await session.scalars(
                select(Consultation)
                .join(Guest, Guest.consultation_id == Consultation.id)
                .where(Guest.status.in_(ACTIVE))
                .distinct()
                .order_by(Consultation.id)
            )
        )
        for consultation in with_room:
            guests = await guests_of(session=session, consultation_id=consultation.id)
            active = [g for g in guests if g.status in ACTIVE]
            if not _idle(consultation, active, now, idle):
                continue
            try:
                async with sfu_rooms(ctx) as rooms:
                    await rooms.close_room(
                        consultation.id, [*STAFF_PARTIES, *(g.party for g in guests)]
                    )
            except (SfuUnavailable, JanusError) as error:
                # Said once per room, not at every round while Janus stays out of reach.
                log = logger.debug if consultation.id in _NOT_CLOSED else logger.warning
                log("SFU room of consultation %s not closed: %s", consultation.id, error)
                _NOT_CLOSED.add(consultation.id)
                continue
            _NOT_CLOSED.discard(consultation.id)
            for guest in active:
                guest.status = GuestStatus.ENDED
                guest.left_at = guest.left_at or now
            record_event(
                session=session,
                action="consultation.sfu_room_closed",
                actor_kind="system",
                site_id=consultation.site_id,
                target=f"consultation:{consultation.id}",
                detail=(
                    "salle à plusieurs fermée : personne depuis "
                    f"{ctx.settings.sfu_room_idle_minutes:g} min"
                    if consultation.state is State.IN_CONSULTATION
                    else "salle à plusieurs fermée : consultation terminée"
                ),
            )
            await session.commit()
            await room_closed(ctx, consultation)
            publish_guests(ctx, consultation, guests)
            closed.append(consultation.id)
    if closed:
        logger.info("closed %s idle SFU room(s)", len(closed))
    return closed
