"""Which cabin agents are online, since when, with which devices.

With one process a cabin is online while this process holds its agent's link open (the
gateway closes a link silent for the offline delay); its row keeps ``connected`` and
``last_seen_at`` (written at hello, on heartbeats at most once per half offline delay, and at
disconnection) for what is read without the process. With several workers a cabin is online
while its presence key lives in Redis (`hub.cluster.peers`: refreshed by the worker holding its
WebSocket, with a time to live), so the cabins of a worker that died show offline;
`seen_in_cluster` reads both. The devices' states and last values are rows in both cases (the
database is shared)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import RedisError
from sqlalchemy import (
    CursorResult,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from devices.measurements import MeasurementKind, kind_precedence, last_value_key
from hub.context import HubContext
from hub.db import Base, IntPk, utcnow
from hub.identity import service as identity_service
from hub.wire import DeviceDescription

if TYPE_CHECKING:
    from hub.identity.models import Cabin

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CabinStatus:
    """What the consoles show of a cabin."""

    cabin_id: int
    name: str
    site_id: int
    online: bool
    last_seen_at: dt.datetime | None
    agent_version: str
    token_active: bool

    @property
    def label(self) -> str:
        return "en ligne" if self.online else "hors ligne"


def status_of(
    cabin: Cabin,
    *,
    now: dt.datetime,
    offline_after: dt.timedelta,
    seen: Mapping[int, dt.datetime] | None = None,
) -> CabinStatus:
    """A cabin is online while its agent is connected and was heard from recently: per its
    row, or with several workers per ``seen`` (`seen_in_cluster`)."""
    if seen is not None:
        online, last_seen_at = cabin.id in seen, seen.get(cabin.id, cabin.last_seen_at)
    else:
        fresh = cabin.last_seen_at is not None and now - cabin.last_seen_at <= offline_after
        online, last_seen_at = cabin.connected and fresh, cabin.last_seen_at
    return CabinStatus(
        cabin_id=cabin.id,
        name=cabin.name,
        site_id=cabin.site_id,
        online=online,
        last_seen_at=last_seen_at,
        agent_version=cabin.agent_version,
        token_active=cabin.token_hash is not None,
    )


@dataclass(frozen=True, slots=True)
class AgentHello:
    """What a connecting agent said of its cabin: its version and its trolley, and when."""

    cabin_id: int
    agent_version: str
    devices: tuple[DeviceDescription, ...]
    now: dt.datetime


async def mark_hellos(
    *, session: AsyncSession, hellos: Sequence[AgentHello]
) -> dict[int, list[CabinDevice]]:
    """These agents said hello: each cabin is connected, with this version and these devices
    (its devices, returned by cabin). Three statements for them all when no trolley changed
    (the cabins' rows, their devices read, nothing written); the caller commits."""
    await identity_service.mark_cabins_hello(
        session=session, hellos={h.cabin_id: (h.agent_version, h.now) for h in hellos}
    )
    return await declare_devices(session=session, hellos=hellos)


async def seen_in_cluster(ctx: HubContext, cabin_ids: list[int]) -> dict[int, dt.datetime]:
    """The online cabins among these and when each was last heard from: with one process,
    those whose link this process holds open (the gateway closes a silent link after the
    offline delay, so a live link is the truth, however late a busy machine writes
    last-seen); with several workers, their keys in Redis (unreachable: none known online)."""
    if ctx.peers is None:
        now = ctx.clock()
        return {
            cabin_id: conn.heard_at or now
            for cabin_id, conn in ctx.agents.items()
            if cabin_id in cabin_ids and not conn.closed.is_set()
        }
    try:
        holders = await ctx.peers.holders(cabin_ids)
    except (RedisError, OSError) as exc:
        logger.warning("cabins' presence unknown (Redis: %s)", exc)
        return {}
    return {cabin_id: holder.seen for cabin_id, holder in holders.items()}


async def mark_disconnected(*, session: AsyncSession, cabin_id: int) -> None:
    await identity_service.set_cabin_link(session=session, cabin_id=cabin_id, connected=False)
    await session.commit()


async def forget_connections(*, session: AsyncSession) -> None:
    """At the start of a lone hub no agent is connected yet; each one's hello or heartbeat
    says so again. (Several workers never call it: the others' cabins are connected.)"""
    await identity_service.disconnect_every_cabin(session=session)
    await session.commit()


class CabinDevice(Base):
    """A device of a cabin's trolley as the agent reports it: state and last value."""

    __tablename__ = "cabin_devices"
    __table_args__ = (UniqueConstraint("cabin_id", "name"),)

    id: Mapped[IntPk]
    cabin_id: Mapped[int] = mapped_column(ForeignKey("cabins.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40), default="")
    model: Mapped[str] = mapped_column(String(80), default="")
    state: Mapped[str] = mapped_column(String(20), default="unknown")
    battery_low: Mapped[bool | None] = mapped_column(default=None)
    detail: Mapped[str] = mapped_column(String(200), default="")
    last_kind: Mapped[str] = mapped_column(String(40), default="")
    last_value: Mapped[float | None] = mapped_column(default=None)
    last_unit: Mapped[str] = mapped_column(String(20), default="")
    last_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


DEVICE_STATE_LABELS = {
    "unknown": "inconnu",
    "searching": "recherche",
    "connecting": "connexion",
    "ready": "prêt",
    "measuring": "mesure en cours",
    "lost": "perdu",
}


async def _device(session: AsyncSession, cabin_id: int, name: str) -> CabinDevice:
    device = await session.scalar(
        select(CabinDevice).where(CabinDevice.cabin_id == cabin_id, CabinDevice.name == name)
    )
    if device is None:
        device = CabinDevice(cabin_id=cabin_id, name=name)
        session.add(device)
    return device


async def _devices_by_name(
    session: AsyncSession, cabin_ids: list[int]
) -> dict[int, dict[str, CabinDevice]]:
    found: dict[int, dict[str, CabinDevice]] = {cabin_id: {} for cabin_id in cabin_ids}
    if cabin_ids:
        for device in await session.scalars(
            select(CabinDevice).where(CabinDevice.cabin_id.in_(cabin_ids)).order_by(CabinDevice.id)
        ):
            found[device.cabin_id][device.name] = device
    return found


async def declare_devices(
    *, session: AsyncSession, hellos: Sequence[AgentHello]
) -> dict[int, list[CabinDevice]]:
    """Each cabin's trolley as configured on its agent (from its hello; a cabin's last hello
    wins); others are forgotten. Rows already as described are left untouched: reconnecting
    cabins cost one read for them all. New devices are inserted in one statement (then read
    back), changed ones updated and forgotten ones deleted in one flush."""
    wanted = {h.cabin_id: ({d.name: d for d in h.devices}, h.now) for h in hellos}
    existing = await _devices_by_name(session, list(wanted))
    new_rows: list[dict[str, Any]] = []
    for cabin_id, (described, now) in wanted.items():
        for name, device in existing[cabin_id].items():
            description = described.get(name)
            if description is None:
                await session.delete(device)
            elif (device.kind, device.model) != (description.kind, description.model):
                device.kind, device.model = description.kind, description.model
                device.updated_at = now
        new_rows += [
            {
                "cabin_id": cabin_id,
                "name": name,
                "kind": d.kind,
                "model": d.model,
                "updated_at": now,
            }
            for name, d in described.items()
            if name not in existing[cabin_id]
        ]
    if new_rows:
        await session.execute(insert(CabinDevice), new_rows)
        existing |= await _devices_by_name(session, sorted({r["cabin_id"] for r in new_rows}))
    await session.flush()
    return {
        cabin_id: sorted((existing[cabin_id][name] for name in described), key=lambda d: d.id)
        for cabin_id, (described, _) in wanted.items()
    }


async def set_device_state(
    *,
    session: AsyncSession,
    cabin_id: int,
    name: str,
    state: str,
    battery_low: bool | None,
    detail: str,
    now: dt.datetime,
) -> CabinDevice:
    """The device's new state, as the agent reported it."""
    device = await _device(session, cabin_id, name)
    device.state, device.battery_low, device.detail, device.updated_at = (
        state,
        battery_low,
        detail,
        now,
    )
    await session.flush()
    return device


_DEVICES = cast(Table, CabinDevice.__table__)
_devices = _DEVICES.c
# A device's shown last value's precedence (`devices.measurements.kind_precedence`), in SQL.
_SHOWN_PRECEDENCE = case(
    {str(kind): kind_precedence(str(kind)) for kind in MeasurementKind},
    value=_devices.last_kind,
    else_=kind_precedence(""),
)
# `set_last_value`'s UPDATE, built once on the table (a measurement batch runs it for each of
# its devices: building it per call cost more CPU than running it).
_SHOW_LAST_VALUE = (
    update(_DEVICES)
    .where(
        _devices.cabin_id == bindparam("cabin_id_"),
        _devices.name == bindparam("name_"),
        or_(
            _devices.last_at.is_(None),
            _devices.last_at < bindparam("at_", type_=_devices.last_at.type),
            and_(
                _devices.last_at == bindparam("at_", type_=_devices.last_at.type),
                bindparam("precedence_", type_=Integer) <= _SHOWN_PRECEDENCE,
            ),
        ),
    )
    .values(
        last_kind=bindparam("kind_"),
        last_value=bindparam("value_"),
        last_unit=bindparam("unit_"),
        last_at=bindparam("at_", type_=_devices.last_at.type),
    )
)


async def set_last_value(
    *,
    session: AsyncSession,
    cabin_id: int,
    name: str,
    kind: str,
    value: float,
    unit: str,
    at: dt.datetime,
) -> None:
    """Show this value as the device's last one unless a later one is shown (ordered by
    `last_value_key`): one UPDATE when the device has its row, as it does once declared."""
    result = await session.execute(
        _SHOW_LAST_VALUE,
        {
            "cabin_id_": cabin_id,
            "name_": name,
            "at_": at,
            "precedence_": kind_precedence(kind),
            "kind_": kind,
            "value_": value,
            "unit_": unit,
        },
    )
    if cast("CursorResult[Any]", result).rowcount:
        return
    device = await _device(session, cabin_id, name)  # no row yet, or a later value shown
    if device.last_at is None or last_value_key(kind, at) >= last_value_key(
        device.last_kind, device.last_at
    ):
        device.last_kind, device.last_value, device.last_unit, device.last_at = (
            kind,
            value,
            unit,
            at,
        )
    await session.flush()


async def devices_of(
    *, session: AsyncSession, cabin_ids: list[int]
) -> dict[int, list[CabinDevice]]:
    """The devices of these cabins, by cabin."""
    result: dict[int, list[CabinDevice]] = {cid: [] for cid in cabin_ids}
    if cabin_ids:
        for device in await session.scalars(
            select(CabinDevice)
            .where(CabinDevice.cabin_id.in_(cabin_ids))
            .order_by(CabinDevice.cabin_id, CabinDevice.id)
        ):
            result[device.cabin_id].append(device)
    return result
