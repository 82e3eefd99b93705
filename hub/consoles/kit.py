"""The mobile kit in the room console: the CPTS's kits the room's staff may take for a
session (a facility's nurse seeing residents with the kit), and the kit lent to it shown with
the site's cabins, its devices measuring for the consultation (`hub.consultation.cabins`)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.cabins import kits
from hub.cabins.presence import CabinStatus, devices_of, seen_in_cluster, status_of
from hub.consultation import cabins
from hub.context import HubContext
from hub.identity import policy
from hub.identity.policy import Permission

if TYPE_CHECKING:
    from hub.consultation.models import Consultation
    from hub.identity.models import User


async def kit_view(
    ctx: HubContext,
    session: AsyncSession,
    user: User,
    consultation: Consultation,
    data: dict[str, object],
) -> dict[str, object]:
    """The kit lent to the consultation added to its site's cabins (status and devices), and
    the kits the user may take for it (``kits``, empty for those who do not run the room)."""
    now = ctx.clock()
    kit = await cabins.kit_of(session=session, consultation=consultation, now=now)
    statuses: dict[int, list[CabinStatus]] = dict(data["statuses"])  # type: ignore[call-overload]
    devices = dict(data["devices"])  # type: ignore[call-overload]
    if kit is not None:
        offline_after = dt.timedelta(seconds=ctx.settings.agent_offline_after_seconds)
        seen = await seen_in_cluster(ctx, [kit.id])
        own = [st for st in statuses.get(consultation.site_id, []) if st.cabin_id != kit.id]
        statuses[consultation.site_id] = [
            *own,
            status_of(kit, now=now, offline_after=offline_after, seen=seen),
        ]
        devices.update(await devices_of(session=session, cabin_ids=[kit.id]))
    may_take = policy.allows(user, Permission.ROOM, sites=[consultation.site_id])
    return {
        "statuses": statuses,
        "devices": devices,
        "kit": kit,
        "kits": await kits.mobile_kits(session=session, organisation_id=user.organisation_id)
        if may_take
        else [],
    }
