"""Device Information strings and the 16-bit UUIDs of the services and characteristics used.

The Device Information service (0x180A) exposes UTF-8 strings without a terminator; some
devices pad them with NUL bytes, which are stripped. The UUID tables map the assigned 16-bit
numbers to snake_case names; `uuid128` gives the full form bleak and bumble use.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Self

from devices.errors import FrameError

__all__ = [
    "BLUETOOTH_BASE_UUID",
    "CharacteristicUuid",
    "DeviceInformation",
    "ServiceUuid",
    "decode_string",
    "short_uuid",
    "uuid128",
]

_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"
BLUETOOTH_BASE_UUID = "0000{:04x}" + _BASE_SUFFIX


class ServiceUuid(enum.IntEnum):
    """Assigned numbers of the GATT services the cabin uses."""

    CURRENT_TIME = 0x1805
    HEALTH_THERMOMETER = 0x1809
    DEVICE_INFORMATION = 0x180A
    BATTERY = 0x180F
    BLOOD_PRESSURE = 0x1810
    WEIGHT_SCALE = 0x181D
    PULSE_OXIMETER = 0x1822


class CharacteristicUuid(enum.IntEnum):
    """Assigned numbers of the GATT characteristics the cabin uses."""

    DATE_TIME = 0x2A08
    BATTERY_LEVEL = 0x2A19
    TEMPERATURE_MEASUREMENT = 0x2A1C
    TEMPERATURE_TYPE = 0x2A1D
    INTERMEDIATE_TEMPERATURE = 0x2A1E
    MEASUREMENT_INTERVAL = 0x2A21
    SYSTEM_ID = 0x2A23
    MODEL_NUMBER_STRING = 0x2A24
    SERIAL_NUMBER_STRING = 0x2A25
    FIRMWARE_REVISION_STRING = 0x2A26
    HARDWARE_REVISION_STRING = 0x2A27
    SOFTWARE_REVISION_STRING = 0x2A28
    MANUFACTURER_NAME_STRING = 0x2A29
    CURRENT_TIME = 0x2A2B
    BLOOD_PRESSURE_MEASUREMENT = 0x2A35
    INTERMEDIATE_CUFF_PRESSURE = 0x2A36
    BLOOD_PRESSURE_FEATURE = 0x2A49
    RECORD_ACCESS_CONTROL_POINT = 0x2A52
    PLX_SPOT_CHECK_MEASUREMENT = 0x2A5E
    PLX_CONTINUOUS_MEASUREMENT = 0x2A5F
    PLX_FEATURES = 0x2A60
    WEIGHT_MEASUREMENT = 0x2A9D
    WEIGHT_SCALE_FEATURE = 0x2A9E


def uuid128(short: int) -> str:
    """Return the 128-bit UUID string of an assigned 16-bit number."""
    return BLUETOOTH_BASE_UUID.format(short)


def short_uuid(uuid: str | int) -> int | None:
    """Return the 16-bit number of a UUID on the Bluetooth base, or None for a custom one."""
    if isinstance(uuid, int):
        return uuid
    text = uuid.strip().lower()
    if len(text) <= 4:
        try:
            return int(text, 16)
        except ValueError:
            return None
    if len(text) == 36 and text.startswith("0000") and text[8:] == _BASE_SUFFIX:
        try:
            return int(text[4:8], 16)
        except ValueError:
            return None
    return None


def decode_string(data: bytes, name: str = "device information string") -> str:
    """Return the UTF-8 text of a string characteristic, without trailing NUL padding."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as error:
        raise FrameError(
            f"{name} is not valid UTF-8: byte 0x{data[error.start]:02x} at offset {error.start}"
        ) from None
    return text.rstrip("\x00")


@dataclass(frozen=True, slots=True)
class DeviceInformation:
    """What the Device Information service says about a device (None: not exposed)."""

    manufacturer_name: str | None = None
    model_number: str | None = None
    serial_number: str | None = None
    firmware_revision: str | None = None
    hardware_revision: str | None = None
    software_revision: str | None = None

    @classmethod
    def from_values(cls, values: dict[int, bytes]) -> Self:
        """Decode the string characteristics read from the service, keyed by 16-bit UUID."""
        decoded: dict[str, str | None] = {}
        for item in fields(cls):
            uuid = _FIELD_UUIDS[item.name]
            raw = values.get(uuid)
            decoded[item.name] = (
                None if raw is None else decode_string(raw, item.name.replace("_", " ") + " string")
            )
        return cls(**decoded)

    def to_values(self) -> dict[int, bytes]:
        """The characteristic values a simulator exposes, keyed by 16-bit UUID."""
        return {
            _FIELD_UUIDS[item.name]: value.encode("utf-8")
            for item in fields(self)
            if (value := getattr(self, item.name)) is not None
        }


_FIELD_UUIDS: dict[str, int] = {
    "manufacturer_name": CharacteristicUuid.MANUFACTURER_NAME_STRING,
    "model_number": CharacteristicUuid.MODEL_NUMBER_STRING,
    "serial_number": CharacteristicUuid.SERIAL_NUMBER_STRING,
    "firmware_revision": CharacteristicUuid.FIRMWARE_REVISION_STRING,
    "hardware_revision": CharacteristicUuid.HARDWARE_REVISION_STRING,
    "software_revision": CharacteristicUuid.SOFTWARE_REVISION_STRING,
}
