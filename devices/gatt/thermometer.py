"""Health Thermometer service (0x1809): Temperature Measurement (0x2A1C), Intermediate
Temperature (0x2A1E) and Temperature Type (0x2A1D).

Measurement and Intermediate Temperature share one layout::

    flags             uint8   bit 0 unit (0 Celsius, 1 Fahrenheit), bit 1 time stamp,
                              bit 2 temperature type
    temperature       FLOAT
    time stamp        7 bytes Date Time, if flag bit 1
    temperature type  uint8   if flag bit 2 (1 armpit .. 9 tympanum; 0 and 10-255 reserved)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import ClassVar, Self

from devices._bits import flag_byte
from devices.errors import FrameError
from devices.gatt._codec import Reader
from devices.gatt.time import DateTime
from devices.ieee11073 import Float11073
from devices.measurements import Measurement, MeasurementKind, ReadingContext, Unit

__all__ = [
    "IntermediateTemperature",
    "TemperatureMeasurement",
    "TemperatureType",
    "TemperatureTypeCharacteristic",
    "TemperatureUnit",
]


class TemperatureUnit(enum.StrEnum):
    """Unit of the temperature, as UCUM codes."""

    CELSIUS = "Cel"
    FAHRENHEIT = "[degF]"


class TemperatureType(enum.IntEnum):
    """Where the temperature was taken (names from the GATT specification)."""

    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTRO_INTESTINAL_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


def _temperature_type(raw: int, name: str) -> TemperatureType:
    if raw not in TemperatureType._value2member_map_:
        raise FrameError(f"{name}: temperature type {raw} is reserved (valid: 1..9)")
    return TemperatureType(raw)


_SITE_LOINC = MappingProxyType(
    {
        TemperatureType.ARMPIT: "8328-7",  # axillary temperature
        TemperatureType.MOUTH: "8331-1",  # oral temperature
        TemperatureType.RECTUM: "8332-9",  # rectal temperature
        TemperatureType.TYMPANUM: "8333-7",  # tympanic membrane temperature
    }
)


@dataclass(frozen=True, slots=True)
class _TemperatureRecord:
    """Fields and codec shared by Temperature Measurement and Intermediate Temperature."""

    NAME: ClassVar[str] = "temperature record"

    temperature: Float11073
    unit: TemperatureUnit = TemperatureUnit.CELSIUS
    timestamp: DateTime | None = None
    temperature_type: TemperatureType | None = None

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode a characteristic value; FrameError if it is shorter than its flags say."""
        reader = Reader(data, cls.NAME)
        flags = reader.u8("flags")
        expected = 5 + 7 * (flags >> 1 & 1) + (flags >> 2 & 1)
        if len(data) < expected:
            raise FrameError(
                f"{cls.NAME} too short: flags 0x{flags:02x} need {expected} bytes, got {len(data)}"
            )
        temperature = reader.float32("temperature")
        timestamp = DateTime.read(reader, f"{cls.NAME} time stamp") if flags & 0x02 else None
        kind = None
        if flags & 0x04:
            kind = _temperature_type(reader.u8("temperature type"), cls.NAME)
        return cls(
            temperature=temperature,
            unit=TemperatureUnit.FAHRENHEIT if flags & 0x01 else TemperatureUnit.CELSIUS,
            timestamp=timestamp,
            temperature_type=kind,
        )

    @property
    def flags(self) -> int:
        return flag_byte(
            self.unit is TemperatureUnit.FAHRENHEIT,
            self.timestamp is not None,
            self.temperature_type is not None,
        )

    def __bytes__(self) -> bytes:
        out = bytearray((self.flags,))
        out += bytes(self.temperature)
        if self.timestamp is not None:
            out += bytes(self.timestamp)
        if self.temperature_type is not None:
            out.append(self.temperature_type)
        return bytes(out)


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement(_TemperatureRecord):
    """Temperature Measurement (0x2A1C): the final reading, indicated."""

    NAME: ClassVar[str] = "temperature measurement"

    def to_measurements(self, context: ReadingContext) -> list[Measurement]:
        """The body temperature, with the LOINC code of its site when the device gives it."""
        device_time = None if self.timestamp is None else self.timestamp.to_datetime()
        ctx = replace(context, device_time=device_time)
        unit = Unit.FAHRENHEIT if self.unit is TemperatureUnit.FAHRENHEIT else Unit.CELSIUS
        loinc = ""
        if self.temperature_type is not None:
            loinc = _SITE_LOINC.get(self.temperature_type, "")
        return ctx.make(MeasurementKind.BODY_TEMPERATURE, self.temperature, unit, loinc)


@dataclass(frozen=True, slots=True)
class IntermediateTemperature(_TemperatureRecord):
    """Intermediate Temperature (0x2A1E): readings while the thermometer settles."""

    NAME: ClassVar[str] = "intermediate temperature"

    def to_measurements(self, context: ReadingContext) -> list[Measurement]:
        """None: a settling temperature is shown live, never stored."""
        return []


@dataclass(frozen=True, slots=True)
class TemperatureTypeCharacteristic:
    """Temperature Type (0x2A1D): the fixed site of a thermometer, one byte."""

    NAME: ClassVar[str] = "temperature type"

    temperature_type: TemperatureType

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode the one-byte value; FrameError when empty or reserved."""
        return cls(_temperature_type(Reader(data, cls.NAME).u8("temperature type"), cls.NAME))

    def __bytes__(self) -> bytes:
        return bytes((self.temperature_type,))
