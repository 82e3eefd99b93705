"""Pulse Oximeter service (0x1822): PLX Spot-Check Measurement (0x2A5E), PLX Continuous
Measurement (0x2A5F) and PLX Features (0x2A60).

Spot-check::

    flags             uint8   bit 0 time stamp, bit 1 measurement status, bit 2 device and
                              sensor status, bit 3 pulse amplitude index, bit 4 clock not set
    SpO2, PR          SFLOAT, SFLOAT  (percent, beats per minute)
    time stamp        7 bytes, if bit 0
    measurement st.   uint16, if bit 1
    device/sensor st. uint24, if bit 2
    pulse amp. index  SFLOAT (percent), if bit 3

Continuous::

    flags             uint8   bit 0 SpO2PR-Fast, bit 1 SpO2PR-Slow, bit 2 measurement status,
                              bit 3 device and sensor status, bit 4 pulse amplitude index
    SpO2PR-Normal     SFLOAT, SFLOAT
    SpO2PR-Fast       SFLOAT, SFLOAT, if bit 0
    SpO2PR-Slow       SFLOAT, SFLOAT, if bit 1
    measurement st.   uint16, if bit 2
    device/sensor st. uint24, if bit 3
    pulse amp. index  SFLOAT, if bit 4

The pulse amplitude index is the perfusion index, hence the field name `perfusion_index`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar, Self

from devices._bits import BitFlags, flag_byte
from devices.errors import FrameError
from devices.gatt._codec import Reader
from devices.gatt.time import DateTime
from devices.ieee11073 import Sfloat
from devices.measurements import Measurement, MeasurementKind, ReadingContext, StatusFlag, Unit

__all__ = [
    "PlxContinuousMeasurement",
    "PlxDeviceSensorStatus",
    "PlxFeatures",
    "PlxMeasurementStatus",
    "PlxSpotCheckMeasurement",
    "PlxSupportedFeatures",
]


@dataclass(frozen=True, slots=True)
class PlxMeasurementStatus(BitFlags):
    """Measurement Status (uint16); bits 0-4 are reserved."""

    BITS: ClassVar[tuple[str, ...]] = (
        "", "", "", "", "",
        "measurement_ongoing",
        "early_estimated_data",
        "validated_data",
        "fully_qualified_data",
        "data_from_measurement_storage",
        "data_for_demonstration",
        "data_for_testing",
        "calibration_ongoing",
        "measurement_unavailable",
        "questionable_measurement_detected",
        "invalid_measurement_detected",
    )  # fmt: skip

    measurement_ongoing: bool = False
    early_estimated_data: bool = False
    validated_data: bool = False
    fully_qualified_data: bool = False
    data_from_measurement_storage: bool = False
    data_for_demonstration: bool = False
    data_for_testing: bool = False
    calibration_ongoing: bool = False
    measurement_unavailable: bool = False
    questionable_measurement_detected: bool = False
    invalid_measurement_detected: bool = False


@dataclass(frozen=True, slots=True)
class PlxDeviceSensorStatus(BitFlags):
    """Device and Sensor Status (uint24); bits 16-23 are reserved."""

    BITS: ClassVar[tuple[str, ...]] = (
        "extended_display_update_ongoing",
        "equipment_malfunction_detected",
        "signal_processing_irregularity_detected",
        "inadequate_signal_detected",
        "poor_signal_detected",
        "low_perfusion_detected",
        "erratic_signal_detected",
        "nonpulsatile_signal_detected",
        "questionable_pulse_detected",
        "signal_analysis_ongoing",
        "sensor_interference_detected",
        "sensor_unconnected_to_user",
        "unknown_sensor_connected",
        "sensor_displaced",
        "sensor_malfunctioning",
        "sensor_disconnected",
    )

    extended_display_update_ongoing: bool = False
    equipment_malfunction_detected: bool = False
    signal_processing_irregularity_detected: bool = False
    inadequate_signal_detected: bool = False
    poor_signal_detected: bool = False
    low_perfusion_detected: bool = False
    erratic_signal_detected: bool = False
    nonpulsatile_signal_detected: bool = False
    questionable_pulse_detected: bool = False
    signal_analysis_ongoing: bool = False
    sensor_interference_detected: bool = False
    sensor_unconnected_to_user: bool = False
    unknown_sensor_connected: bool = False
    sensor_displaced: bool = False
    sensor_malfunctioning: bool = False
    sensor_disconnected: bool = False


_SENSOR_FLAGS: tuple[tuple[str, StatusFlag], ...] = (
    ("sensor_disconnected", StatusFlag.SENSOR_DISCONNECTED),
    ("sensor_unconnected_to_user", StatusFlag.FINGER_OUT),
    ("sensor_malfunctioning", StatusFlag.SENSOR_ERROR),
    ("low_perfusion_detected", StatusFlag.LOW_PERFUSION),
    ("poor_signal_detected", StatusFlag.POOR_SIGNAL),
    ("inadequate_signal_detected", StatusFlag.POOR_SIGNAL),
    ("erratic_signal_detected", StatusFlag.ARTIFACT),
    ("questionable_pulse_detected", StatusFlag.QUESTIONABLE),
)
_UNUSABLE = (
    "measurement_unavailable",
    "invalid_measurement_detected",
    "data_for_demonstration",
    "data_for_testing",
)


def _plx_measurements(
    value: PlxSpotCheckMeasurement | PlxContinuousMeasurement,
    context: ReadingContext,
    device_time: DateTime | None,
) -> list[Measurement]:
    """SpO2, pulse rate and perfusion index; none for unavailable, invalid, demonstration
    or test data."""
    flags: set[StatusFlag] = set()
    status, sensor = value.measurement_status, value.device_and_sensor_status
    if status is not None:
        if any(getattr(status, name) for name in _UNUSABLE):
            return []
        if status.questionable_measurement_detected:
            flags.add(StatusFlag.QUESTIONABLE)
        if status.early_estimated_data:
            flags.add(StatusFlag.EARLY_ESTIMATE)
    if sensor is not None:
        flags.update(flag for name, flag in _SENSOR_FLAGS if getattr(sensor, name))
    ctx = replace(
        context,
        device_time=None if device_time is None else device_time.to_datetime(),
        status=frozenset(flags),
    )
    return [
        *ctx.make(MeasurementKind.SPO2, value.spo2, Unit.PERCENT),
        *ctx.make(MeasurementKind.PULSE_RATE, value.pulse_rate, Unit.PER_MINUTE),
        *ctx.make(MeasurementKind.PERFUSION_INDEX, value.perfusion_index, Unit.PERCENT),
    ]


def _too_short(name: str, flags: int, expected: int, got: int) -> FrameError:
    return FrameError(f"{name} too short: flags 0x{flags:02x} need {expected} bytes, got {got}")


@dataclass(frozen=True, slots=True)
class PlxSpotCheckMeasurement:
    """PLX Spot-Check Measurement (0x2A5E), indicated once per spot check."""

    NAME: ClassVar[str] = "PLX spot-check measurement"

    spo2: Sfloat
    pulse_rate: Sfloat
    timestamp: DateTime | None = None
    measurement_status: PlxMeasurementStatus | None = None
    device_and_sensor_status: PlxDeviceSensorStatus | None = None
    perfusion_index: Sfloat | None = None
    device_clock_not_set: bool = False

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode a characteristic value; FrameError if it is shorter than its flags say."""
        reader = Reader(data, cls.NAME)
        flags = reader.u8("flags")
        expected = (
            5 + 7 * (flags & 1) + 2 * (flags >> 1 & 1) + 3 * (flags >> 2 & 1) + 2 * (flags >> 3 & 1)
        )
        if len(data) < expected:
            raise _too_short(cls.NAME, flags, expected, len(data))
        spo2 = reader.sfloat("SpO2")
        pulse_rate = reader.sfloat("pulse rate")
        timestamp = DateTime.read(reader, f"{cls.NAME} time stamp") if flags & 0x01 else None
        status = None
        if flags & 0x02:
            status = PlxMeasurementStatus.from_int(reader.u16("measurement status"))
        sensor = None
        if flags & 0x04:
            sensor = PlxDeviceSensorStatus.from_int(reader.u24("device and sensor status"))
        perfusion = reader.sfloat("pulse amplitude index") if flags & 0x08 else None
        return cls(spo2, pulse_rate, timestamp, status, sensor, perfusion, bool(flags & 0x10))

    def to_measurements(self, context: ReadingContext) -> list[Measurement]:
        """SpO2, pulse rate and perfusion index, timed by the device unless its clock is unset."""
        timestamp = None if self.device_clock_not_set else self.timestamp
        return _plx_measurements(self, context, timestamp)

    @property
    def flags(self) -> int:
        return flag_byte(
            self.timestamp is not None,
            self.measurement_status is not None,
            self.device_and_sensor_status is not None,
            self.perfusion_index is not None,
            self.device_clock_not_set,
        )

    def __bytes__(self) -> bytes:
        out = bytearray((self.flags,))
        out += bytes(self.spo2) + bytes(self.pulse_rate)
        if self.timestamp is not None:
            out += bytes(self.timestamp)
        if self.measurement_status is not None:
            out += int(self.measurement_status).to_bytes(2, "little")
        if self.device_and_sensor_status is not None:
            out += int(self.device_and_sensor_status).to_bytes(3, "little")
        if self.perfusion_index is not None:
            out += bytes(self.perfusion_index)
        return bytes(out)


@dataclass(frozen=True, slots=True)
class PlxContinuousMeasurement:
    """PLX Continuous Measurement (0x2A5F), notified about once a second."""

    NAME: ClassVar[str] = "PLX continuous measurement"

    spo2: Sfloat
    pulse_rate: Sfloat
    spo2_fast: Sfloat | None = None
    pulse_rate_fast: Sfloat | None = None
    spo2_slow: Sfloat | None = None
    pulse_rate_slow: Sfloat | None = None
    measurement_status: PlxMeasurementStatus | None = None
    device_and_sensor_status: PlxDeviceSensorStatus | None = None
    perfusion_index: Sfloat | None = None

    def __post_init__(self) -> None:
        if (self.spo2_fast is None) != (self.pulse_rate_fast is None):
            raise ValueError("spo2_fast and pulse_rate_fast go together")
        if (self.spo2_slow is None) != (self.pulse_rate_slow is None):
            raise ValueError("spo2_slow and pulse_rate_slow go together")

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode a characteristic value; FrameError if it is shorter than its flags say."""
        reader = Reader(data, cls.NAME)
        flags = reader.u8("flags")
        expected = (
            5
            + 4 * (flags & 1)
            + 4 * (flags >> 1 & 1)
            + 2 * (flags >> 2 & 1)
            + 3 * (flags >> 3 & 1)
            + 2 * (flags >> 4 & 1)
        )
        if len(data) < expected:
            raise _too_short(cls.NAME, flags, expected, len(data))
        spo2, pulse_rate = reader.sfloat("SpO2"), reader.sfloat("pulse rate")
        spo2_fast = pulse_rate_fast = spo2_slow = pulse_rate_slow = None
        if flags & 0x01:
            spo2_fast, pulse_rate_fast = reader.sfloat("SpO2 fast"), reader.sfloat("PR fast")
        if flags & 0x02:
            spo2_slow, pulse_rate_slow = reader.sfloat("SpO2 slow"), reader.sfloat("PR slow")
        status = None
        if flags & 0x04:
            status = PlxMeasurementStatus.from_int(reader.u16("measurement status"))
        sensor = None
        if flags & 0x08:
            sensor = PlxDeviceSensorStatus.from_int(reader.u24("device and sensor status"))
        perfusion = reader.sfloat("pulse amplitude index") if flags & 0x10 else None
        return cls(
            spo2,
            pulse_rate,
            spo2_fast,
            pulse_rate_fast,
            spo2_slow,
            pulse_rate_slow,
            status,
            sensor,
            perfusion,
        )

    def to_measurements(self, context: ReadingContext) -> list[Measurement]:
        """SpO2, pulse rate and perfusion index (the normal averages)."""
        return _plx_measurements(self, context, None)

    @property
    def flags(self) -> int:
        return flag_byte(
            self.spo2_fast is not None,
            self.spo2_slow is not None,
            self.measurement_status is not None,
            self.device_and_sensor_status is not None,
            self.perfusion_index is not None,
        )

    def __bytes__(self) -> bytes:
        out = bytearray((self.flags,))
        out += bytes(self.spo2) + bytes(self.pulse_rate)
        if self.spo2_fast is not None and self.pulse_rate_fast is not None:
            out += bytes(self.spo2_fast) + bytes(self.pulse_rate_fast)
        if self.spo2_slow is not None and self.pulse_rate_slow is not None:
            out += bytes(self.spo2_slow) + bytes(self.pulse_rate_slow)
        if self.measurement_status is not None:
            out += int(self.measurement_status).to_bytes(2, "little")
        if self.device_and_sensor_status is not None:
            out += int(self.device_and_sensor_status).to_bytes(3, "little")
        if self.perfusion_index is not None:
            out += bytes(self.perfusion_index)
        return bytes(out)


@dataclass(frozen=True, slots=True)
class PlxSupportedFeatures(BitFlags):
    """The Supported Features bit field (uint16) of PLX Features."""

    BITS: ClassVar[tuple[str, ...]] = (
        "measurement_status_support",
        "device_and_sensor_status_support",
        "measurement_storage_for_spot_check",
        "timestamp_for_spot_check",
        "spo2pr_fast_metric",
        "spo2pr_slow_metric",
        "pulse_amplitude_index",
        "multiple_bonds",
    )

    measurement_status_support: bool = False
    device_and_sensor_status_support: bool = False
    measurement_storage_for_spot_check: bool = False
    timestamp_for_spot_check: bool = False
    spo2pr_fast_metric: bool = False
    spo2pr_slow_metric: bool = False
    pulse_amplitude_index: bool = False
    multiple_bonds: bool = False


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """PLX Features (0x2A60): supported features, then which status bits are supported.

    The measurement status support (uint16) is present when
    `supported.measurement_status_support`; the device and sensor status support (uint24)
    when `supported.device_and_sensor_status_support`.
    """

    NAME: ClassVar[str] = "PLX features"

    supported: PlxSupportedFeatures = field(default_factory=PlxSupportedFeatures)
    measurement_status_support: PlxMeasurementStatus | None = None
    device_and_sensor_status_support: PlxDeviceSensorStatus | None = None

    def __post_init__(self) -> None:
        if self.supported.measurement_status_support != (
            self.measurement_status_support is not None
        ):
            raise ValueError("measurement_status_support is present exactly when supported")
        if self.supported.device_and_sensor_status_support != (
            self.device_and_sensor_status_support is not None
        ):
            raise ValueError("device_and_sensor_status_support is present exactly when supported")

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode the features value; FrameError if shorter than its supported bits say."""
        reader = Reader(data, cls.NAME)
        supported = PlxSupportedFeatures.from_int(reader.u16("supported features"))
        status = sensor = None
        if supported.measurement_status_support:
            status = PlxMeasurementStatus.from_int(reader.u16("measurement status support"))
        if supported.device_and_sensor_status_support:
            sensor = PlxDeviceSensorStatus.from_int(reader.u24("device and sensor status support"))
        return cls(supported, status, sensor)

    def __bytes__(self) -> bytes:
        out = bytearray(int(self.supported).to_bytes(2, "little"))
        if self.measurement_status_support is not None:
            out += int(self.measurement_status_support).to_bytes(2, "little")
        if self.device_and_sensor_status_support is not None:
            out += int(self.device_and_sensor_status_support).to_bytes(3, "little")
        return bytes(out)
