"""What the cabins' gateway tells the consoles live, on the hub's event bus.

- ``cabin.status``: a cabin came online or went offline, was heard from, or one of its
  devices changed state. No health data: every member of staff of the cabin's site gets it
  (permission ``signed_in``).
- ``observation.stored``: a measurement was stored (the vitals of a consultation, the last
  value of a device). Health data: only those who may see a consultation's measurements at
  the site get it (permission ``consultation_data``: the site's nurses, doctors and facility
  staff).

`ObservationPublic` is also the shape of ``/api/v1/consultations/ID/mesures``, so a row the
page rendered and a row that arrived live are the same thing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel

from devices.measurements import display_unit, kind_label, kind_precedence, range_status
from hub.cabins import presence
from hub.cabins.presence import DEVICE_STATE_LABELS, CabinDevice
from hub.context import HubContext
from hub.events import Event
from hub.identity.policy import Permission
from hub.records.observations import StoredMeasurement

if TYPE_CHECKING:
    from hub.records.observations import Observation

CABIN_STATUS = "cabin.status"
OBSERVATION_STORED = "observation.stored"
OFFLINE_LABEL = "cabine hors ligne"


class ObservationPublic(BaseModel):
    """A stored measurement as the consoles show it."""

    cabin_id: int
    seq: int  # with cabin_id, the measurement's identity
    booking_id: int | None
    kind: str
    label: str  # French, from the device registry
    value: float
    unit: str  # UCUM
    unit_display: str  # as people read it ("mmHg", "°C", "kg")
    measured_at: str
    device: str
    precedence: int  # of measurements taken together, the lowest is the device's last value
    status: str  # against the registry's limits: "normal", "alert" (hors normes), "implausible"

    @classmethod
    def of_row(cls, o: Observation) -> ObservationPublic:
        return cls._of(
            o.cabin_id, o.seq, o.booking_id, o.kind, o.value, o.unit, o.measured_at, o.device_name
        )

    @classmethod
    def of_stored(cls, cabin_id: int, s: StoredMeasurement) -> ObservationPublic:
        m = s.measurement
        return cls._of(
            cabin_id,
            s.seq,
            s.booking_id,
            str(m.kind),
            m.value,
            str(m.unit),
            m.received_at_utc,
            s.device,
        )

    @classmethod
    def _of(
        cls,
        cabin_id: int,
        seq: int,
        booking_id: int | None,
        kind: str,
        value: float,
        unit: str,
        at: dt.datetime,
        device: str,
    ) -> ObservationPublic:
        return cls(
            cabin_id=cabin_id,
            seq=seq,
            booking_id=booking_id,
            kind=kind,
            label=kind_label(kind),
            value=value,
            unit=unit,
            unit_display=display_unit(unit),
            measured_at=at.isoformat(),
            device=device,
            precedence=kind_precedence(kind),
            status=str(range_status(kind, value, unit)),
        )


class DeviceStatePublic(BaseModel):
    """A device's state as the trolley panel shows it."""

    name: str
    state: str
    state_label: str  # French
    battery_low: bool | None = None


def device_state(device: CabinDevice, *, online: bool) -> DeviceStatePublic:
    """How a device shows: its state while the cabin is online, "cabine hors ligne" else."""
    if not online:
        return DeviceStatePublic(
            name=device.name,
            state="lost",
            state_label=OFFLINE_LABEL,
            battery_low=device.battery_low,
        )
    return DeviceStatePublic(
        name=device.name,
        state=device.state,
        state_label=DEVICE_STATE_LABELS.get(device.state, device.state),
        battery_low=device.battery_low,
    )


def publish_status(
    ctx: HubContext,
    *,
    cabin_id: int,
    site_id: int,
    online: bool,
    last_seen_at: dt.datetime | None = None,
    devices: list[DeviceStatePublic] | None = None,
) -> None:
    """Tell the site's staff a cabin's status (and the states of ``devices``, if given)."""
    data: dict[str, object] = {
        "cabin_id": cabin_id,
        "online": online,
        "status_label": "en ligne" if online else "hors ligne",
    }
    if last_seen_at is not None:
        data["last_seen_at"] = last_seen_at.isoformat()
    if devices is not None:
        data["devices"] = [d.model_dump(mode="json") for d in devices]
    ctx.events.publish(Event(site_id=site_id, kind=CABIN_STATUS, data=data))


async def announce_offline(ctx: HubContext, *, cabin_id: int, site_id: int) -> None:
    """The cabin's link is gone: record it, and tell the site's staff (devices shown offline)."""
    async with ctx.presence_writes, ctx.sessions() as session:  # in turn with the agents' writes
        await presence.mark_disconnected(session=session, cabin_id=cabin_id)
        devices = (await presence.devices_of(session=session, cabin_ids=[cabin_id]))[cabin_id]
    publish_status(
        ctx,
        cabin_id=cabin_id,
        site_id=site_id,
        online=False,
        devices=[device_state(d, online=False) for d in devices],
    )


def publish_observations(
    ctx: HubContext, *, cabin_id: int, site_id: int, stored: list[StoredMeasurement]
) -> None:
    """Tell the site's clinicians each measurement just stored."""
    for s in stored:
        ctx.events.publish(
            Event(
                site_id=site_id,
                kind=OBSERVATION_STORED,
                data=ObservationPublic.of_stored(cabin_id, s).model_dump(mode="json"),
                permission=Permission.CONSULTATION_DATA,
            )
        )
