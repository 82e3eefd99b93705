"""Bluetooth GATT health characteristics: frozen values with `parse(bytes)` and `bytes(x)`.

`PARSERS` maps a characteristic's 16-bit UUID to the callable that decodes its value, so a
driver receiving a notification can decode it without an `if` chain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from devices.gatt.blood_pressure import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    IntermediateCuffPressure,
)
from devices.gatt.device_information import CharacteristicUuid
from devices.gatt.plx import PlxContinuousMeasurement, PlxFeatures, PlxSpotCheckMeasurement
from devices.gatt.racp import parse_racp
from devices.gatt.thermometer import (
    IntermediateTemperature,
    TemperatureMeasurement,
    TemperatureTypeCharacteristic,
)
from devices.gatt.time import CurrentTime, DateTime

__all__ = ["PARSERS", "parse_characteristic"]

PARSERS: Mapping[int, Callable[[bytes], object]] = MappingProxyType(
    {
        CharacteristicUuid.BLOOD_PRESSURE_MEASUREMENT: BloodPressureMeasurement.parse,
        CharacteristicUuid.INTERMEDIATE_CUFF_PRESSURE: IntermediateCuffPressure.parse,
        CharacteristicUuid.BLOOD_PRESSURE_FEATURE: BloodPressureFeature.parse,
        CharacteristicUuid.TEMPERATURE_MEASUREMENT: TemperatureMeasurement.parse,
        CharacteristicUuid.INTERMEDIATE_TEMPERATURE: IntermediateTemperature.parse,
        CharacteristicUuid.TEMPERATURE_TYPE: TemperatureTypeCharacteristic.parse,
        CharacteristicUuid.PLX_SPOT_CHECK_MEASUREMENT: PlxSpotCheckMeasurement.parse,
        CharacteristicUuid.PLX_CONTINUOUS_MEASUREMENT: PlxContinuousMeasurement.parse,
        CharacteristicUuid.PLX_FEATURES: PlxFeatures.parse,
        CharacteristicUuid.RECORD_ACCESS_CONTROL_POINT: parse_racp,
        CharacteristicUuid.DATE_TIME: DateTime.parse,
        CharacteristicUuid.CURRENT_TIME: CurrentTime.parse,
    }
)


def parse_characteristic(uuid: int, data: bytes) -> object:
    """Decode the value of characteristic `uuid` (16-bit); KeyError if it has no parser."""
    return PARSERS[uuid](data)
