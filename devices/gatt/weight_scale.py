"""Weight Scale service (0x181D): Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E).

Weight Measurement, indicated once per weighing::

    flags      uint8    bit 0 units (0 SI: kg and m, 1 imperial: lb and in), bit 1 time stamp,
                        bit 2 user id, bit 3 BMI and height; bits 4-7 reserved
    weight     uint16   SI 0.005 kg, imperial 0.01 lb; 0xFFFF: measurement unsuccessful
    time stamp 7 bytes  Date Time, if flag bit 1
    user id    uint8    if flag bit 2 (255: unknown user)
    BMI        uint16   0.1 kg/m², if flag bit 3
    height     uint16   SI 0.001 m, imperial 0.1 in, if flag bit 3

Weight Scale Feature is a uint32: bit 0 time stamp, bit 1 multiple users, bit 2 BMI
supported, bits 3-6 weight resolution, bits 7-9 height resolution (0: not specified).
Values keep their raw integers, so a re-encoded value is byte-identical.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import ClassVar, Self

from devices._bits import flag_byte
from devices.errors import FrameError
from devices.gatt._codec import Reader
from devices.gatt.time import DateTime
from devices.measurements import Measurement, MeasurementKind, ReadingContext, Unit

__all__ = [
    "WEIGHT_UNSUCCESSFUL",
    "WeightMeasurement",
    "WeightScaleFeature",
    "WeightUnit",
]

WEIGHT_UNSUCCESSFUL = 0xFFFF
"""The raw weight of a weighing that did not succeed."""


class WeightUnit(enum.StrEnum):
    """Units of the weight, as UCUM codes (heights follow: m or inches)."""

    KILOGRAM = "kg"
    POUND = "[lb_av]"


_WEIGHT_STEP = {WeightUnit.KILOGRAM: 0.005, WeightUnit.POUND: 0.01}
_HEIGHT_STEP = {WeightUnit.KILOGRAM: 0.001, WeightUnit.POUND: 0.1}
_BMI_STEP = 0.1


def _check_uint(name: str, value: int | None, top: int) -> None:
    if value is not None and not 0 <= value <= top:
        raise ValueError(f"{name} {value} out of range 0..{top}")


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """Weight Measurement (0x2A9D): one weighing, with its raw fields."""

    NAME: ClassVar[str] = "weight measurement"

    weight_raw: int
    unit: WeightUnit = WeightUnit.KILOGRAM
    timestamp: DateTime | None = None
    user_id: int | None = None
    bmi_raw: int | None = None
    height_raw: int | None = None

    def __post_init__(self) -> None:
        for name, value, top in (
            ("weight_raw", self.weight_raw, 0xFFFF),
            ("user_id", self.user_id, 0xFF),
            ("bmi_raw", self.bmi_raw, 0xFFFF),
            ("height_raw", self.height_raw, 0xFFFF),
        ):
            _check_uint(name, value, top)
        if (self.bmi_raw is None) != (self.height_raw is None):
            raise ValueError("bmi_raw and height_raw go together")

    @classmethod
    def of(
        cls,
        weight: float,
        unit: WeightUnit = WeightUnit.KILOGRAM,
        *,
        timestamp: DateTime | None = None,
        user_id: int | None = None,
    ) -> Self:
        """A weighing of `weight` in `unit`, rounded to the characteristic's resolution."""
        return cls(round(weight / _WEIGHT_STEP[unit]), unit, timestamp, user_id)

    @property
    def weight(self) -> float | None:
        """The weight in `unit`, or None when the weighing was unsuccessful."""
        if self.weight_raw == WEIGHT_UNSUCCESSFUL:
            return None
        return round(self.weight_raw * _WEIGHT_STEP[self.unit], 3)

    @property
    def bmi(self) -> float | None:
        """Body mass index in kg/m², when the scale sent one."""
        return None if self.bmi_raw is None else round(self.bmi_raw * _BMI_STEP, 1)

    @property
    def height(self) -> float | None:
        """Height in m (SI) or inches (imperial), when the scale sent one."""
        if self.height_raw is None:
            return None
        return round(self.height_raw * _HEIGHT_STEP[self.unit], 3)

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode a characteristic value; FrameError if it is shorter than its flags say."""
        reader = Reader(data, cls.NAME)
        flags = reader.u8("flags")
        expected = 3 + 7 * (flags >> 1 & 1) + (flags >> 2 & 1) + 4 * (flags >> 3 & 1)
        if len(data) < expected:
            raise FrameError(
                f"{cls.NAME} too short: flags 0x{flags:02x} need {expected} bytes, got {len(data)}"
            )
        weight = reader.u16("weight")
        timestamp = DateTime.read(reader, f"{cls.NAME} time stamp") if flags & 0x02 else None
        user_id = reader.u8("user id") if flags & 0x04 else None
        bmi = height = None
        if flags & 0x08:
            bmi, height = reader.u16("BMI"), reader.u16("height")
        unit = WeightUnit.POUND if flags & 0x01 else WeightUnit.KILOGRAM
        return cls(weight, unit, timestamp, user_id, bmi, height)

    @property
    def flags(self) -> int:
        return flag_byte(
            self.unit is WeightUnit.POUND,
            self.timestamp is not None,
            self.user_id is not None,
            self.bmi_raw is not None,
        )

    def __bytes__(self) -> bytes:
        out = bytearray((self.flags,))
        out += self.weight_raw.to_bytes(2, "little")
        if self.timestamp is not None:
            out += bytes(self.timestamp)
        if self.user_id is not None:
            out.append(self.user_id)
        if self.bmi_raw is not None and self.height_raw is not None:
            out += self.bmi_raw.to_bytes(2, "little") + self.height_raw.to_bytes(2, "little")
        return bytes(out)

    def to_measurements(self, context: ReadingContext) -> list[Measurement]:
        """The body weight (none for an unsuccessful weighing), timed by the scale's clock."""
        device_time = None if self.timestamp is None else self.timestamp.to_datetime()
        unit = Unit.POUND if self.unit is WeightUnit.POUND else Unit.KILOGRAM
        return replace(context, device_time=device_time).make(
            MeasurementKind.BODY_WEIGHT, self.weight, unit
        )


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    """Weight Scale Feature (0x2A9E): what the scale supports, read once."""

    NAME: ClassVar[str] = "weight scale feature"

    time_stamp_supported: bool = False
    multiple_users_supported: bool = False
    bmi_supported: bool = False
    weight_resolution: int = 0  # 1: 0.5 kg .. 7: 0.005 kg (0: not specified)
    height_resolution: int = 0  # 1: 0.01 m .. 3: 0.001 m (0: not specified)

    def __post_init__(self) -> None:
        _check_uint("weight_resolution", self.weight_resolution, 15)
        _check_uint("height_resolution", self.height_resolution, 7)

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode the 4-byte value (reserved bits ignored); FrameError if it is too short."""
        if len(data) < 4:
            raise FrameError(f"{cls.NAME} too short: needs 4 bytes, got {len(data)}")
        bits = int.from_bytes(data[:4], "little")
        return cls(
            bool(bits & 1), bool(bits & 2), bool(bits & 4), bits >> 3 & 0x0F, bits >> 7 & 0x07
        )

    def __bytes__(self) -> bytes:
        bits = flag_byte(
            self.time_stamp_supported, self.multiple_users_supported, self.bmi_supported
        )
        bits |= self.weight_resolution << 3 | self.height_resolution << 7
        return bits.to_bytes(4, "little")
