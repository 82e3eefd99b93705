"""Which cabin agents are online, since when, with which devices."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.identity.models import Cabin
from hub.wire import DeviceDescription


@dataclass(frozen=True, slots=True)
class CabinStatus:
    """What the consoles show of a cabin."""

    cabin_id: int
    name: str
    site_id: int
    online: bool
    last_seen_at: dt.datetime | None
    agent_version: str
    devices: tuple[DeviceDescription, ...]
    token_active: bool

    @property
    def label(self) -> str:
        return "en ligne" if self.online else "hors ligne"


def status_of(cabin: Cabin, *, now: dt.datetime, offline_after: dt.timedelta) -> CabinStatus:
    """A cabin is online while its agent is connected and was heard from recently."""
    fresh = cabin.last_seen_at is not None and now - cabin.last_seen_at <= offline_after
    try:
        devices = tuple(DeviceDescription.model_validate(d) for d in json.loads(cabin.devices_json))
    except (ValueError, TypeError):
        devices = ()
    return CabinStatus(
        cabin_id=cabin.id,
        name=cabin.name,
        site_id=cabin.site_id,
        online=cabin.connected and fresh,
        last_seen_at=cabin.last_seen_at,
        agent_version=cabin.agent_version,
        devices=devices,
        token_active=cabin.token_hash is not None,
    )


async def mark_hello(
    *,
    session: AsyncSession,
    cabin: Cabin,
    agent_version: str,
    devices: tuple[DeviceDescription, ...],
    now: dt.datetime,
) -> None:
    cabin.connected = True
    cabin.last_seen_at = now
    cabin.agent_version = agent_version
    cabin.devices_json = json.dumps([d.model_dump() for d in devices])
    await session.commit()


async def mark_seen(*, session: AsyncSession, cabin_id: int, now: dt.datetime) -> None:
    cabin = await session.get(Cabin, cabin_id)
    if cabin is not None:
        cabin.last_seen_at = now
        cabin.connected = True
        await session.commit()


async def mark_disconnected(*, session: AsyncSession, cabin_id: int) -> None:
    cabin = await session.get(Cabin, cabin_id)
    if cabin is not None:
        cabin.connected = False
        await session.commit()


async def forget_connections(*, session: AsyncSession) -> None:
    """At hub start no agent is connected yet; each one's hello or heartbeat says so again."""
    await session.execute(update(Cabin).where(Cabin.connected.is_(True)).values(connected=False))
    await session.commit()
