"""Device Information strings and the UUID tables."""

from __future__ import annotations

import pytest

from devices.catalogue import GATT_PARSERS_BY_UUID
from devices.errors import FrameError
from devices.gatt.blood_pressure import BloodPressureMeasurement
from devices.gatt.device_information import (
    CharacteristicUuid,
    DeviceInformation,
    ServiceUuid,
    decode_string,
    short_uuid,
    uuid128,
)


def test_strings_decode_as_utf8_without_padding() -> None:
    assert decode_string(b"Nordic") == "Nordic"
    assert decode_string("Électro".encode()) == "Électro"
    assert decode_string(b"v1.2\x00\x00") == "v1.2"


def test_invalid_utf8_message() -> None:
    with pytest.raises(FrameError) as error:
        decode_string(b"A\xff", "model number string")
    assert str(error.value) == "model number string is not valid UTF-8: byte 0xff at offset 1"


def test_device_information_from_values() -> None:
    info = DeviceInformation.from_values(
        {
            CharacteristicUuid.MANUFACTURER_NAME_STRING: b"ACME",
            CharacteristicUuid.MODEL_NUMBER_STRING: b"BP-1",
            CharacteristicUuid.SERIAL_NUMBER_STRING: b"SN0042",
            CharacteristicUuid.FIRMWARE_REVISION_STRING: b"1.0.3",
        }
    )
    assert info == DeviceInformation("ACME", "BP-1", "SN0042", "1.0.3", None, None)
    assert DeviceInformation.from_values(info.to_values()) == info


def test_device_information_names_the_bad_string() -> None:
    with pytest.raises(FrameError, match=r"^serial number string is not valid UTF-8"):
        DeviceInformation.from_values({CharacteristicUuid.SERIAL_NUMBER_STRING: b"\xc3"})


def test_uuids() -> None:
    assert int(ServiceUuid.BLOOD_PRESSURE) == 0x1810
    assert int(ServiceUuid.HEALTH_THERMOMETER) == 0x1809
    assert int(ServiceUuid.PULSE_OXIMETER) == 0x1822
    assert int(ServiceUuid.DEVICE_INFORMATION) == 0x180A
    assert int(ServiceUuid.CURRENT_TIME) == 0x1805
    assert int(CharacteristicUuid.RECORD_ACCESS_CONTROL_POINT) == 0x2A52
    assert uuid128(0x1810) == "00001810-0000-1000-8000-00805f9b34fb"
    assert short_uuid("00002A35-0000-1000-8000-00805F9B34FB") == 0x2A35
    assert short_uuid("2a35") == 0x2A35
    assert short_uuid("6e400001-b5a3-f393-e0a9-e50e24dcca9e") is None


def test_parser_table() -> None:
    """The registry's parsers by UUID decode a notification without an `if` chain."""
    parse = GATT_PARSERS_BY_UUID[CharacteristicUuid.BLOOD_PRESSURE_MEASUREMENT]
    assert isinstance(parse(bytes.fromhex("00780050006000")), BloodPressureMeasurement)
    assert CharacteristicUuid.PLX_CONTINUOUS_MEASUREMENT in GATT_PARSERS_BY_UUID
