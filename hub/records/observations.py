"""Observations: the measurements the cabins' agents sent, stored exactly once.

The idempotency key is (cabin, agent sequence number): a batch sent again after a lost
acknowledgement, a hub restart or an agent restart is stored once. Nothing an agent sends is
trusted: a sequence number outside 1..MAX_SEQ, a measurement the wire could not validate, a
value outside the devices' plausibility table, or a number that already holds another
measurement is refused for good, with a code the agent and the coordinator see. Items come as
the wire typed them (`hub.wire.MeasurementItem`); nothing is parsed again here."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    column,
    func,
    select,
    values,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from devices.errors import ImplausibleReading
from devices.measurements import check_plausible, last_value_key
from hub.db import Base, IntPk, utcnow
from hub.wire import (
    MAX_SEQ,
    MeasurementItem,
    RejectionCode,
    UnreadableMeasurement,
    WireMeasurement,
)

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


_observations = cast(Table, Observation.__table__)
# `store_measurements`' INSERT, built once on the table for each dialect (every measurement
# batch runs it: building it, and the ORM's bulk path, cost more CPU than running it). A
# number the cabin already stored is skipped; RETURNING says which rows were inserted.
_INSERT_NEW = {
    "postgresql": pg_insert(_observations)
    .on_conflict_do_nothing(index_elements=["cabin_id", "seq"])
    .returning(_observations.c.seq),
    "sqlite": sqlite_insert(_observations)
    .on_conflict_do_nothing(index_elements=["cabin_id", "seq"])
    .returning(_observations.c.seq),
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """A measurement refused for good: its number, why (a code), and the detail."""

    seq: int
    code: RejectionCode
    reason: str


@dataclass(frozen=True, slots=True)
class StoredMeasurement:
    """A measurement stored by this call (not one stored before under its number)."""

    seq: int
    device: str
    measurement: WireMeasurement
    booking_id: int | None


@dataclass(frozen=True, slots=True)
class StoreResult:
    acknowledged: list[int]  # stored now, or already stored with the same content
    rejected: list[Refusal]
    stored: list[StoredMeasurement]  # stored now, in the batch's order

    @property
    def latest(self) -> dict[str, WireMeasurement]:
        """By device name, the newest measurement stored now."""
        latest: dict[str, WireMeasurement] = {}
        for s in self.stored:
            previous = latest.get(s.device)
            if previous is None or _key(s.measurement) >= _key(previous):
                latest[s.device] = s.measurement
        return latest


async def store_measurements(
    *,
    session: AsyncSession,
    cabin_id: int,
    site_id: int,
    items: Sequence[MeasurementItem],
    booking_for: dict[int, int | None] | None = None,
    now: dt.datetime,
) -> StoreResult:
    """Store a batch exactly once, refusing what cannot be true; the caller commits.

    One INSERT for the batch (a number already stored is skipped by the database, which says
    which rows it inserted); only a batch sent again reads back what it holds under its other
    numbers, to acknowledge them again or refuse a different measurement. ``booking_for``
    maps seq → booking."""
    rows: dict[int, dict[str, Any]] = {}
    accepted: dict[int, StoredMeasurement] = {}
    rejected: list[Refusal] = []
    for item in items:
        checked = check_incoming(item)
        if isinstance(checked, Refusal):
            rejected.append(checked)
            continue
        booking_id = (booking_for or {}).get(item.seq)
        row = _row(cabin_id, site_id, item.seq, item.device, checked, booking_id, now)
        earlier = rows.get(item.seq)
        if earlier is not None:
            if _content(earlier) != _content(row):
                rejected.append(_conflict(item.seq))
            continue
        rows[item.seq] = row
        accepted[item.seq] = StoredMeasurement(item.seq, item.device, checked, booking_id)
    inserted: set[int] = set()
    if rows:
        dialect = session.bind.dialect.name if session.bind else "sqlite"
        statement = _INSERT_NEW["postgresql" if dialect == "postgresql" else "sqlite"]
        inserted = set(await session.scalars(statement, list(rows.values())))
    earlier_ones = [seq for seq in rows if seq not in inserted]  # stored before (or meanwhile)
    stored_before = await _stored_contents(session, cabin_id, earlier_ones)
    for seq in earlier_ones:
        del accepted[seq]  # acknowledged again if the same, never stored twice
        if stored_before.get(seq) != _content(rows[seq]):
            del rows[seq]
            rejected.append(_conflict(seq))
    if rejected:
        logger.warning(
            "cabin %s: %s measurements refused (%s)",
            cabin_id,
            len(rejected),
            ", ".join(sorted({str(r.code) for r in rejected})),
        )
    return StoreResult(acknowledged=list(rows), rejected=rejected, stored=list(accepted.values()))


def _key(m: WireMeasurement) -> tuple[dt.datetime, int]:
    return last_value_key(str(m.kind), m.received_at_utc)


def check_incoming(item: MeasurementItem) -> WireMeasurement | Refusal:
    """The measurement an item carries (validated by the wire), or why it is refused."""
    if not 1 <= item.seq <= MAX_SEQ:
        return Refusal(item.seq, RejectionCode.INVALID_SEQ, f"sequence number outside 1..{MAX_SEQ}")
    m = item.measurement
    if isinstance(m, UnreadableMeasurement):
        return Refusal(
            item.seq, RejectionCode.INVALID_MEASUREMENT, f"invalid measurement: {m.reason}"
        )
    try:
        check_plausible([m])
    except ImplausibleReading as exc:
        return Refusal(item.seq, RejectionCode.IMPLAUSIBLE_VALUE, f"implausible value: {exc}")
    return m


def _conflict(seq: int) -> Refusal:
    return Refusal(
        seq, RejectionCode.SEQ_CONFLICT, "sequence number already holds another measurement"
    )


def _row(
    cabin_id: int,
    site_id: int,
    seq: int,
    device: str,
    m: WireMeasurement,
    booking_id: int | None,
    now: dt.datetime,
) -> dict[str, Any]:
    return {
        "cabin_id": cabin_id,
        "seq": seq,
        "site_id": site_id,
        "booking_id": booking_id,
        "device_name": device,
        "kind": str(m.kind),
        "value": m.value,
        "unit": str(m.unit),
        "loinc": m.loinc_code,
        "device_time": m.device_time.isoformat() if m.device_time else "",
        "measured_at": m.received_at_utc,
        "stored_at": now,
        "device_model": m.device.model,
        "device_serial": m.device.serial or "",
        "status_flags": json.dumps(sorted(str(f) for f in m.status)),
    }


_Content = tuple[str, str, float, str, dt.datetime]


def _content(row: dict[str, Any]) -> _Content:
    """What makes two measurements under one sequence number the same one."""
    return (row["device_name"], row["kind"], row["value"], row["unit"], row["measured_at"])


async def _stored_contents(
    session: AsyncSession, cabin_id: int, seqs: list[int]
) -> dict[int, _Content]:
    """The content already stored under these sequence numbers of the cabin."""
    if not seqs:
        return {}
    result = await session.execute(
        select(
            Observation.seq,
            Observation.device_name,
            Observation.kind,
            Observation.value,
            Observation.unit,
            Observation.measured_at,
        ).where(Observation.cabin_id == cabin_id, Observation.seq.in_(seqs))
    )
    return {seq: (device, kind, value, unit, at) for seq, device, kind, value, unit, at in result}


async def last_seq(*, session: AsyncSession, cabin_id: int) -> int:
    """The highest measurement sequence number an agent sent for a cabin (0 if none)."""
    return (await last_seqs(session=session, cabin_ids=[cabin_id]))[cabin_id]


async def last_seqs(*, session: AsyncSession, cabin_ids: Collection[int]) -> dict[int, int]:
    """The highest measurement sequence number an agent sent for each of these cabins (0 if
    none), in one statement: each cabin's maximum is read from the (cabin, seq) index, not by
    scanning the cabin's measurements.

    Agents number from 1 to MAX_SEQ; rows outside were not sent by an agent (the demo's past
    consultations are numbered below 1) and do not count."""
    wanted = sorted(set(cabin_ids))
    if not wanted:
        return {}
    ids = values(column("cabin_id", Integer), name="ids").data([(c,) for c in wanted]).cte()
    highest = (
        select(func.max(Observation.seq))
        .where(
            Observation.cabin_id == ids.c.cabin_id, Observation.seq > 0, Observation.seq <= MAX_SEQ
        )
        .scalar_subquery()
    )
    rows = await session.execute(select(ids.c.cabin_id, highest))
    return {int(cabin_id): int(seq or 0) for cabin_id, seq in rows}


async def observations_of_booking(*, session: AsyncSession, booking_id: int) -> list[Observation]:
    """The measurements taken during a booking's consultation, in time order."""
    rows = await session.scalars(
        select(Observation)
        .where(Observation.booking_id == booking_id)
        .order_by(Observation.measured_at, Observation.id)
    )
    return list(rows)
