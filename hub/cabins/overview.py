"""What a member of staff sees of the cabins of their sites: live status and device states,
and each device's last value where they may see a consultation's measurements (health data)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.cabins.presence import (
    DEVICE_STATE_LABELS,
    CabinStatus,
    devices_of,
    seen_in_cluster,
    status_of,
)
from hub.context import HubContext
from hub.identity import policy, service
from hub.identity.models import Role
from hub.identity.policy import Permission

if TYPE_CHECKING:
    from hub.identity.models import User


async def home_context(ctx: HubContext, session: AsyncSession, user: User) -> dict[str, object]:
    """The sites a user acts for, the live status of their cabins, and the sites where their
    devices' last values are shown (``value_sites``)."""
    sites = await service.sites_for(session=session, user=user)
    now = ctx.clock()
    offline_after = dt.timedelta(seconds=ctx.settings.agent_offline_after_seconds)
    cabin_ids = [c.id for s in sites for c in s.cabins]
    seen = await seen_in_cluster(ctx, cabin_ids)
    statuses: dict[int, list[CabinStatus]] = {
        site.id: [
            status_of(c, now=now, offline_after=offline_after, seen=seen) for c in site.cabins
        ]
        for site in sites
    }
    devices = await devices_of(session=session, cabin_ids=cabin_ids)
    can_command = user.role in (Role.NURSE, Role.DOCTOR, Role.FACILITY_STAFF)
    return {
        "sites": sites,
        "statuses": statuses,
        "devices": devices,
        "state_labels": DEVICE_STATE_LABELS,
        "can_command": can_command,
        "value_sites": value_sites(user, [site.id for site in sites]),
    }


def value_sites(user: User, site_ids: list[int]) -> frozenset[int]:
    """Of these sites, those where the user may see the measurements (a device's last value)."""
    return frozenset(
        s for s in site_ids if policy.allows(user, Permission.CONSULTATION_DATA, sites=[s])
    )
