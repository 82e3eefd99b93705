"""Observations: the measurements the cabins' agents sent, stored exactly once.

The idempotency key is (cabin, agent sequence number): a batch sent again after a lost
acknowledgement, a hub restart or an agent restart is stored once."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from devices.measurements import Measurement
from hub.db import Base, IntPk, utcnow

logger = logging.getLogger(__name__)


class Observation(Base):
    __tablename__ = "observations"
    __table_args__ = (UniqueConstraint("cabin_id", "seq"),)

    id: Mapped[IntPk]
    cabin_id: Mapped[int] = mapped_column(ForeignKey("cabins.id", ondelete="CASCADE"))
    seq: Mapped[int]
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="SET NULL"), default=None, index=True
    )
    device_name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[float]
    unit: Mapped[str] = mapped_column(String(20))
    loinc: Mapped[str] = mapped_column(String(20), default="")
    device_time: Mapped[str] = mapped_column(String(40), default="")  # the device's own clock
    measured_at: Mapped[dt.datetime]  # when the cabin received it
    stored_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    device_model: Mapped[str] = mapped_column(String(80), default="")
    device_serial: Mapped[str] = mapped_column(String(80), default="")
    status_flags: Mapped[str] = mapped_column(Text, default="[]")


@dataclass(frozen=True, slots=True)
class IncomingMeasurement:
    seq: int
    device: str
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class StoreResult:
    acknowledged: list[int]
    rejected: list[tuple[int, str]]
    latest: dict[str, Measurement]  # by device name, the newest measurement of the batch


async def store_measurements(
    *,
    session: AsyncSession,
    cabin_id: int,
    site_id: int,
    items: Sequence[IncomingMeasurement],
    booking_for: dict[int, int | None] | None = None,
    now: dt.datetime,
) -> StoreResult:
    """Store a batch exactly once; the caller commits. ``booking_for`` maps seq → booking."""
    rows = []
    rejected: list[tuple[int, str]] = []
    latest: dict[str, Measurement] = {}
    for item in items:
        try:
            m = Measurement.from_dict(item.payload)
        except (ValueError, KeyError, TypeError) as exc:
            rejected.append((item.seq, f"invalid measurement: {exc}"))
            continue
        if m.received_at.tzinfo is None:
            rejected.append((item.seq, "invalid measurement: received_at has no time zone"))
            continue
        rows.append(
            {
                "cabin_id": cabin_id,
                "seq": item.seq,
                "site_id": site_id,
                "booking_id": (booking_for or {}).get(item.seq),
                "device_name": item.device,
                "kind": str(m.kind),
                "value": m.value,
                "unit": str(m.unit),
                "loinc": m.loinc,
                "device_time": m.device_time.isoformat() if m.device_time else "",
                "measured_at": m.received_at.astimezone(dt.UTC),
                "stored_at": now,
                "device_model": m.device.model,
                "device_serial": m.device.serial or "",
                "status_flags": json.dumps(sorted(str(f) for f in m.status)),
            }
        )
        previous = latest.get(item.device)
        if previous is None or m.received_at >= previous.received_at:
            latest[item.device] = m
    if rows:
        dialect = session.bind.dialect.name if session.bind else "sqlite"
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(Observation).on_conflict_do_nothing(index_elements=["cabin_id", "seq"])
        await session.execute(statement, rows)
    if rejected:
        logger.warning("cabin %s: %s measurements refused as invalid", cabin_id, len(rejected))
    return StoreResult(acknowledged=[r["seq"] for r in rows], rejected=rejected, latest=latest)  # type: ignore[misc]


async def last_seq(*, session: AsyncSession, cabin_id: int) -> int:
    """The highest measurement sequence number an agent sent for a cabin (0 if none).

    Agents number from 1; rows below 1 were not sent by an agent (the demo's past
    consultations) and do not count."""
    value = await session.scalar(
        select(func.max(Observation.seq)).where(
            Observation.cabin_id == cabin_id, Observation.seq > 0
        )
    )
    return int(value or 0)


async def observations_of_booking(*, session: AsyncSession, booking_id: int) -> list[Observation]:
    """The measurements taken during a booking's consultation, in time order."""
    rows = await session.scalars(
        select(Observation)
        .where(Observation.booking_id == booking_id)
        .order_by(Observation.measured_at, Observation.id)
    )
    return list(rows)
