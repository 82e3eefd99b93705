"""Blood Pressure service (0x1810): Measurement (0x2A35), Intermediate Cuff Pressure (0x2A36)
and Feature (0x2A49).

Measurement and Intermediate Cuff Pressure share one layout::

    flags            uint8   bit 0 unit (0 mmHg, 1 kPa), bit 1 time stamp, bit 2 pulse rate,
                             bit 3 user id, bit 4 measurement status
    systolic         SFLOAT  (the current cuff pressure in Intermediate Cuff Pressure)
    diastolic        SFLOAT  (NaN in Intermediate Cuff Pressure)
    mean arterial    SFLOAT  (NaN in Intermediate Cuff Pressure)
    time stamp       7 bytes Date Time, if flag bit 1
    pulse rate       SFLOAT  beats per minute, if flag bit 2
    user id          uint8   255 = unknown user, if flag bit 3
    status           uint16  if flag bit 4
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import ClassVar, Self

from devices._bits import BitFlags, flag_byte
from devices.errors import FrameError
from devices.gatt._codec import Reader
from devices.gatt.time import DateTime
from devices.ieee11073 import Sfloat, SpecialValue
from devices.measurements import Measurement, MeasurementKind, ReadingContext, StatusFlag, Unit

__all__ = [
    "UNKNOWN_USER",
    "BloodPressureFeature",
    "BloodPressureMeasurement",
    "BloodPressureStatus",
    "IntermediateCuffPressure",
    "PressureUnit",
    "PulseRateRange",
]

UNKNOWN_USER = 0xFF
"""User id meaning "unknown user"."""


class PressureUnit(enum.StrEnum):
    """Unit of the pressures, as UCUM codes."""

    MMHG = "mm[Hg]"
    KPA = "kPa"


class PulseRateRange(enum.StrEnum):
    """Bits 3-4 of the measurement status."""

    WITHIN_RANGE = "within_range"
    EXCEEDS_UPPER_LIMIT = "exceeds_upper_limit"
    BELOW_LOWER_LIMIT = "below_lower_limit"
    RESERVED = "reserved"


_PULSE_RATE_RANGES = list(PulseRateRange)  # index = the 2-bit value


@dataclass(frozen=True, slots=True)
class BloodPressureStatus:
    """The Measurement Status bit field (uint16); reserved bits are ignored."""

    body_movement_detected: bool = False
    cuff_fit_loose: bool = False
    irregular_pulse_detected: bool = False
    pulse_rate_range: PulseRateRange = PulseRateRange.WITHIN_RANGE
    improper_measurement_position: bool = False

    @classmethod
    def from_int(cls, raw: int) -> Self:
        return cls(
            body_movement_detected=bool(raw & 0x01),
            cuff_fit_loose=bool(raw & 0x02),
            irregular_pulse_detected=bool(raw & 0x04),
            pulse_rate_range=_PULSE_RATE_RANGES[(raw >> 3) & 0x03],
            improper_measurement_position=bool(raw & 0x20),
        )

    def __int__(self) -> int:
        return (
            flag_byte(
                self.body_movement_detected, self.cuff_fit_loose, self.irregular_pulse_detected
            )
            | _PULSE_RATE_RANGES.index(self.pulse_rate_range) << 3
            | (0x20 if self.improper_measurement_position else 0)
        )


@dataclass(frozen=True, slots=True)
class _BloodPressureRecord:
    """Fields and codec shared by Measurement and Intermediate Cuff Pressure."""

    NAME: ClassVar[str] = "blood pressure record"

    systolic: Sfloat
    diastolic: Sfloat
    mean_arterial_pressure: Sfloat
    unit: PressureUnit = PressureUnit.MMHG
    timestamp: DateTime | None = None
    pulse_rate: Sfloat | None = None
    user_id: int | None = None
    status: BloodPressureStatus | None = None

    def __post_init__(self) -> None:
        if self.user_id is not None and not 0 <= self.user_id <= 255:
            raise ValueError(f"user id {self.user_id} out of range 0..255")

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode a characteristic value; FrameError if it is shorter than its flags say."""
        reader = Reader(data, cls.NAME)
        flags = reader.u8("flags")
        expected = (
            7
            + 7 * (flags >> 1 & 1)
            + 2 * (flags >> 2 & 1)
            + (flags >> 3 & 1)
            + 2 * (flags >> 4 & 1)
        )
        if len(data) < expected:
            raise FrameError(
                f"{cls.NAME} too short: flags 0x{flags:02x} need {expected} bytes, got {len(data)}"
            )
        systolic = reader.sfloat("systolic")
        diastolic = reader.sfloat("diastolic")
        mean = reader.sfloat("mean arterial pressure")
        timestamp = DateTime.read(reader, f"{cls.NAME} time stamp") if flags & 0x02 else None
        pulse_rate = reader.sfloat("pulse rate") if flags & 0x04 else None
        user_id = reader.u8("user id") if flags & 0x08 else None
        status = BloodPressureStatus.from_int(reader.u16("status")) if flags & 0x10 else None
        return cls(
            systolic=systolic,
            diastolic=diastolic,
            mean_arterial_pressure=mean,
            unit=PressureUnit.KPA if flags & 0x01 else PressureUnit.MMHG,
            timestamp=timestamp,
            pulse_rate=pulse_rate,
            user_id=user_id,
            status=status,
        )

    @property
    def flags(self) -> int:
        return flag_byte(
            self.unit is PressureUnit.KPA,
            self.timestamp is not None,
            self.pulse_rate is not None,
            self.user_id is not None,
            self.status is not None,
        )

    def __bytes__(self) -> bytes:
        out = bytearray((self.flags,))
        out += bytes(self.systolic) + bytes(self.diastolic) + bytes(self.mean_arterial_pressure)
        if self.timestamp is not None:
            out += bytes(self.timestamp)
        if self.pulse_rate is not None:
            out += bytes(self.pulse_rate)
        if self.user_id is not None:
            out.append(self.user_id)
        if self.status is not None:
            out += int(self.status).to_bytes(2, "little")
        return bytes(out)


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement(_BloodPressureRecord):
    """Blood Pressure Measurement (0x2A35): the final reading of a cuff, indicated."""

    NAME: ClassVar[str] = "blood pressure measurement"

    def to_measurements(self, context: ReadingContext) -> list[Measurement]:
        """Systolic, diastolic, mean pressure and pulse rate, with the cuff's status flags."""
        flags: set[StatusFlag] = set()
        if self.status is not None:
            s = self.status
            for present, flag in (
                (s.body_movement_detected, StatusFlag.BODY_MOVEMENT),
                (s.cuff_fit_loose, StatusFlag.CUFF_FIT_LOOSE),
                (s.irregular_pulse_detected, StatusFlag.IRREGULAR_PULSE),
                (
                    s.pulse_rate_range is not PulseRateRange.WITHIN_RANGE,
                    StatusFlag.PULSE_RATE_OUT_OF_RANGE,
                ),
                (s.improper_measurement_position, StatusFlag.IMPROPER_MEASUREMENT_POSITION),
            ):
                if present:
                    flags.add(flag)
        device_time = None if self.timestamp is None else self.timestamp.to_datetime()
        ctx = replace(context, device_time=device_time, status=frozenset(flags))
        unit = Unit.KPA if self.unit is PressureUnit.KPA else Unit.MMHG
        return [
            *ctx.make(MeasurementKind.BLOOD_PRESSURE_SYSTOLIC, self.systolic, unit),
            *ctx.make(MeasurementKind.BLOOD_PRESSURE_DIASTOLIC, self.diastolic, unit),
            *ctx.make(MeasurementKind.BLOOD_PRESSURE_MEAN, self.mean_arterial_pressure, unit),
            *ctx.make(MeasurementKind.PULSE_RATE, self.pulse_rate, Unit.PER_MINUTE),
        ]


_NAN = Sfloat.special_value(SpecialValue.NAN)


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure(_BloodPressureRecord):
    """Intermediate Cuff Pressure (0x2A36): the cuff pressure while inflating/deflating.

    The pressure travels in the systolic field; diastolic and mean are NaN.
    """

    NAME: ClassVar[str] = "intermediate cuff pressure"

    @classmethod
    def of(
        cls,
        cuff_pressure: Sfloat,
        unit: PressureUnit = PressureUnit.MMHG,
        *,
        timestamp: DateTime | None = None,
        user_id: int | None = None,
        status: BloodPressureStatus | None = None,
    ) -> Self:
        """Return an intermediate value with `cuff_pressure` and NaN in the other fields."""
        return cls(
            cuff_pressure, _NAN, _NAN, unit, timestamp=timestamp, user_id=user_id, status=status
        )

    @property
    def cuff_pressure(self) -> Sfloat:
        """The current cuff pressure (carried in the systolic field)."""
        return self.systolic

    def to_measurements(self, context: ReadingContext) -> list[Measurement]:
        """None: the cuff pressure while measuring is shown live, never stored."""
        return []


@dataclass(frozen=True, slots=True)
class BloodPressureFeature(BitFlags):
    """Blood Pressure Feature (0x2A49): what the cuff can detect (uint16)."""

    NAME: ClassVar[str] = "blood pressure feature"
    BITS: ClassVar[tuple[str, ...]] = (
        "body_movement_detection",
        "cuff_fit_detection",
        "irregular_pulse_detection",
        "pulse_rate_range_detection",
        "measurement_position_detection",
        "multiple_bond",
    )

    body_movement_detection: bool = False
    cuff_fit_detection: bool = False
    irregular_pulse_detection: bool = False
    pulse_rate_range_detection: bool = False
    measurement_position_detection: bool = False
    multiple_bond: bool = False

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode the 2-byte feature bit field."""
        return cls.from_int(Reader(data, cls.NAME).u16("feature bits"))

    def __bytes__(self) -> bytes:
        return int(self).to_bytes(2, "little")
