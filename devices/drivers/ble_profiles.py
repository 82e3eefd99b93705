"""What a BLE driver needs to know about each GATT health service, derived from the registry.

A `BleProfile` names the service to scan for, the final-measurement characteristic
(indicated), the intermediate/continuous characteristics (notified) and the parser of each.
`profile_for(model)` reads them from the model's characteristics in `devices.catalogue`:
the first measurement characteristic is the indicated one; the other measurement and the
live characteristics are notified.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from devices.catalogue import CATALOGUE, CharacteristicRole, DeviceModel, Transport
from devices.errors import FrameError
from devices.gatt.device_information import (
    CharacteristicUuid,
    DeviceInformation,
    ServiceUuid,
    uuid128,
)
from devices.gatt.time import CurrentTime
from devices.transports import GattLink, normalize_uuid

Parser = Callable[[bytes], object]


def _current_time(moment: dt.datetime) -> bytes:
    return bytes(CurrentTime.from_datetime(moment))


@dataclass(frozen=True, slots=True)
class BleProfile:
    """One GATT health service as the driver sees it (UUIDs in 128-bit string form)."""

    name: str
    service: str
    measurement: str
    intermediate: tuple[str, ...]
    parsers: Mapping[str, Parser]
    current_time: Callable[[dt.datetime], bytes] = _current_time

    def parse(self, characteristic: str, data: bytes) -> object:
        """Return the parsed value of a characteristic; FrameError if it cannot be decoded."""
        parser = self.parsers.get(characteristic)
        if parser is None:
            raise FrameError(f"{self.name}: no parser for characteristic {characteristic}")
        return parser(data)


def _uuid(short: int) -> str:
    return normalize_uuid(f"{int(short):04x}")


def _service_name(short: int) -> str:
    """How logs name a service ("blood pressure" for 0x1810)."""
    try:
        return ServiceUuid(short).name.lower().replace("_", " ")
    except ValueError:
        return f"service 0x{short:04x}"


def profile_for(model: DeviceModel) -> BleProfile:
    """The driver's view of a BLE model; ValueError for a model without a measurement."""
    measured = [*model.characteristics_with(CharacteristicRole.MEASUREMENT)]
    if not model.service_uuids or not measured:
        raise ValueError(f"{model.model_id} has no GATT measurement")
    notified = [*measured[1:], *model.characteristics_with(CharacteristicRole.LIVE)]
    return BleProfile(
        name=_service_name(model.service_uuids[0]),
        service=_uuid(model.service_uuids[0]),
        measurement=_uuid(measured[0].uuid),
        intermediate=tuple(_uuid(c.uuid) for c in notified),
        parsers={_uuid(c.uuid): c.parse for c in (*measured, *notified)},
    )


PROFILES: Mapping[str, BleProfile] = MappingProxyType(
    {
        p.service: p
        for p in (profile_for(m) for m in CATALOGUE.values() if m.transport is Transport.BLE)
    }
)
"""The profile of every BLE model of the registry, by service UUID (128-bit form)."""
BLOOD_PRESSURE = PROFILES[_uuid(0x1810)]
HEALTH_THERMOMETER = PROFILES[_uuid(0x1809)]
PULSE_OXIMETER = PROFILES[_uuid(0x1822)]


_DEVICE_INFO_UUIDS = (
    CharacteristicUuid.MANUFACTURER_NAME_STRING,
    CharacteristicUuid.MODEL_NUMBER_STRING,
    CharacteristicUuid.SERIAL_NUMBER_STRING,
    CharacteristicUuid.FIRMWARE_REVISION_STRING,
    CharacteristicUuid.HARDWARE_REVISION_STRING,
    CharacteristicUuid.SOFTWARE_REVISION_STRING,
)


async def read_device_info(link: GattLink) -> DeviceInformation:
    """Return what the connected device's Device Information service says."""
    values: dict[int, bytes] = {}
    for short in _DEVICE_INFO_UUIDS:
        full = uuid128(short)
        if link.has_characteristic(full):
            values[short] = await link.read(full)
    try:
        return DeviceInformation.from_values(values)
    except FrameError:
        return DeviceInformation()
