"""Temperature Measurement, Intermediate Temperature and Temperature Type."""

from __future__ import annotations

import pytest

from devices.errors import FrameError
from devices.gatt.thermometer import (
    IntermediateTemperature,
    TemperatureMeasurement,
    TemperatureType,
    TemperatureTypeCharacteristic,
    TemperatureUnit,
)
from devices.gatt.time import DateTime
from devices.ieee11073 import Float11073, SpecialValue


def test_measurement_with_time_stamp_and_type() -> None:
    """06 | 6e0100ff | e4070a0f0c1e00 | 06.

    flags 0x06: Celsius, time stamp and type present; FLOAT 0xFF00016E = 36.6;
    2020-10-15 12:30:00; type 6 = mouth.
    """
    data = bytes.fromhex("066e0100ffe4070a0f0c1e0006")
    m = TemperatureMeasurement.parse(data)
    assert m.temperature.value == 36.6
    assert m.unit is TemperatureUnit.CELSIUS
    assert m.timestamp == DateTime(2020, 10, 15, 12, 30, 0)
    assert m.temperature_type is TemperatureType.MOUTH
    assert bytes(m) == data


def test_fahrenheit_without_options() -> None:
    """01 | da0300ff: flags 0x01 (Fahrenheit), FLOAT 986e-1 = 98.6 [degF]."""
    m = TemperatureMeasurement.parse(bytes.fromhex("01da0300ff"))
    assert (m.temperature.value, m.unit) == (98.6, TemperatureUnit.FAHRENHEIT)
    assert (m.timestamp, m.temperature_type) == (None, None)


def test_nan_temperature_is_kept_as_special() -> None:
    m = TemperatureMeasurement.parse(bytes.fromhex("00ffff7f00"))
    assert m.temperature.special is SpecialValue.NAN


def test_reserved_type_is_rejected() -> None:
    with pytest.raises(FrameError) as error:
        TemperatureMeasurement.parse(bytes.fromhex("046e0100ff0a"))
    assert str(error.value) == (
        "temperature measurement: temperature type 10 is reserved (valid: 1..9)"
    )


def test_too_short() -> None:
    with pytest.raises(FrameError) as error:
        IntermediateTemperature.parse(bytes.fromhex("026e0100ffe407"))
    assert str(error.value) == (
        "intermediate temperature too short: flags 0x02 need 12 bytes, got 7"
    )


def test_intermediate_round_trip() -> None:
    value = IntermediateTemperature(Float11073.from_float(35.9), TemperatureUnit.CELSIUS)
    assert IntermediateTemperature.parse(bytes(value)) == value
    assert bytes(value) == bytes.fromhex("0067010 0ff".replace(" ", ""))


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (1, "armpit"),
        (2, "body"),
        (3, "ear"),
        (4, "finger"),
        (5, "gastro_intestinal_tract"),
        (6, "mouth"),
        (7, "rectum"),
        (8, "toe"),
        (9, "tympanum"),
    ],
)
def test_temperature_type_names(raw: int, name: str) -> None:
    value = TemperatureTypeCharacteristic.parse(bytes((raw,)))
    assert value.temperature_type.name.lower() == name
    assert bytes(value) == bytes((raw,))


def test_temperature_type_errors() -> None:
    with pytest.raises(FrameError) as reserved:
        TemperatureTypeCharacteristic.parse(b"\x00")
    assert str(reserved.value) == "temperature type: temperature type 0 is reserved (valid: 1..9)"
    with pytest.raises(FrameError, match=r"^temperature type too short"):
        TemperatureTypeCharacteristic.parse(b"")
