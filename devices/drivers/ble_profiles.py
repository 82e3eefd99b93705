"""What a BLE driver needs to know about each GATT health service, as a table.

A `BleProfile` names the service to scan for, the final-measurement characteristic
(indicated), the intermediate/continuous characteristics (notified) and the parser of each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from devices.errors import FrameError
from devices.gatt.blood_pressure import BloodPressureMeasurement, IntermediateCuffPressure
from devices.gatt.device_information import CharacteristicUuid, DeviceInformation, uuid128
from devices.gatt.plx import PlxContinuousMeasurement, PlxSpotCheckMeasurement
from devices.gatt.thermometer import IntermediateTemperature, TemperatureMeasurement
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


def _profile(name: str, service: str, measurement: tuple[str, Parser],
             *intermediate: tuple[str, Parser]) -> BleProfile:
    parsers = {normalize_uuid(uuid): parser for uuid, parser in (measurement, *intermediate)}
    return BleProfile(
        name=name,
        service=normalize_uuid(service),
        measurement=normalize_uuid(measurement[0]),
        intermediate=tuple(normalize_uuid(uuid) for uuid, _ in intermediate),
        parsers=parsers,
    )


BLOOD_PRESSURE = _profile(
    "blood pressure", "1810",
    ("2a35", BloodPressureMeasurement.parse),
    ("2a36", IntermediateCuffPressure.parse),
)
HEALTH_THERMOMETER = _profile(
    "thermometer", "1809",
    ("2a1c", TemperatureMeasurement.parse),
    ("2a1e", IntermediateTemperature.parse),
)
PULSE_OXIMETER = _profile(
    "pulse oximeter", "1822",
    ("2a5e", PlxSpotCheckMeasurement.parse),
    ("2a5f", PlxContinuousMeasurement.parse),
)
PROFILES = {p.service: p for p in (BLOOD_PRESSURE, HEALTH_THERMOMETER, PULSE_OXIMETER)}


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
