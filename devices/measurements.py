"""Measurements: the one shape every device reading takes before it leaves the devices package.

A `Measurement` is one observation (a kind, a value in a UCUM unit, its LOINC code, the device
and the times). `to_measurements` turns a decoded GATT value or serial frame into the list of
observations of one reading; `PlausibilityFilter` drops a reading whole when one of its values
cannot be physiological, and counts it. `PLAUSIBLE_LIMITS` is the one table of limits: the
cabin agent's filter and the hub's re-validation of what agents send both read it. Special
values (NaN, NRes, ±INF) and "no value" sentinels never become measurements.
`Measurement.to_dict/from_dict` is the JSON form the hub's wire schema carries.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Self

from devices.errors import ImplausibleReading
from devices.gatt.blood_pressure import (
    BloodPressureMeasurement,
    IntermediateCuffPressure,
    PressureUnit,
    PulseRateRange,
)
from devices.gatt.plx import (
    PlxContinuousMeasurement,
    PlxDeviceSensorStatus,
    PlxMeasurementStatus,
    PlxSpotCheckMeasurement,
)
from devices.gatt.thermometer import (
    IntermediateTemperature,
    TemperatureMeasurement,
    TemperatureType,
    TemperatureUnit,
)
from devices.gatt.time import DateTime
from devices.ieee11073 import Float11073, Sfloat
from devices.serialproto.contec import Cms50LiveFrame
from devices.serialproto.nonin import NoninDf2Packet, NoninDf8Frame

__all__ = [
    "ALLOWED_UNITS",
    "LOINC",
    "MAX_PLAUSIBLE_DIASTOLIC_MMHG",
    "MAX_PLAUSIBLE_MEAN_PRESSURE_MMHG",
    "MAX_PLAUSIBLE_PERFUSION_INDEX",
    "MAX_PLAUSIBLE_PULSE_RATE",
    "MAX_PLAUSIBLE_SPO2",
    "MAX_PLAUSIBLE_SYSTOLIC_MMHG",
    "MAX_PLAUSIBLE_TEMPERATURE_CEL",
    "MIN_PLAUSIBLE_DIASTOLIC_MMHG",
    "MIN_PLAUSIBLE_MEAN_PRESSURE_MMHG",
    "MIN_PLAUSIBLE_PERFUSION_INDEX",
    "MIN_PLAUSIBLE_PULSE_RATE",
    "MIN_PLAUSIBLE_SPO2",
    "MIN_PLAUSIBLE_SYSTOLIC_MMHG",
    "MIN_PLAUSIBLE_TEMPERATURE_CEL",
    "PLAUSIBLE_LIMITS",
    "DeviceIdentity",
    "Measurement",
    "MeasurementKind",
    "PlausibilityFilter",
    "PlausibleRange",
    "StatusFlag",
    "Unit",
    "check_plausible",
    "to_measurements",
]

logger = logging.getLogger(__name__)


class MeasurementKind(enum.StrEnum):
    BLOOD_PRESSURE_SYSTOLIC = "blood_pressure_systolic"
    BLOOD_PRESSURE_DIASTOLIC = "blood_pressure_diastolic"
    BLOOD_PRESSURE_MEAN = "blood_pressure_mean"
    PULSE_RATE = "pulse_rate"
    SPO2 = "spo2"
    BODY_TEMPERATURE = "body_temperature"
    PERFUSION_INDEX = "perfusion_index"


class Unit(enum.StrEnum):
    """UCUM codes of the units measurements come in."""

    MMHG = "mm[Hg]"
    KPA = "kPa"
    CELSIUS = "Cel"
    FAHRENHEIT = "[degF]"
    PERCENT = "%"
    PER_MINUTE = "/min"


class StatusFlag(enum.StrEnum):
    """Conditions a device reported along with a reading."""

    BODY_MOVEMENT = "body_movement"
    CUFF_FIT_LOOSE = "cuff_fit_loose"
    IRREGULAR_PULSE = "irregular_pulse"
    PULSE_RATE_OUT_OF_RANGE = "pulse_rate_out_of_range"
    IMPROPER_MEASUREMENT_POSITION = "improper_measurement_position"
    FINGER_OUT = "finger_out"
    SEARCHING = "searching"
    SENSOR_DISCONNECTED = "sensor_disconnected"
    SENSOR_ERROR = "sensor_error"
    LOW_PERFUSION = "low_perfusion"
    MARGINAL_PERFUSION = "marginal_perfusion"
    ARTIFACT = "artifact"
    OUT_OF_TRACK = "out_of_track"
    POOR_SIGNAL = "poor_signal"
    QUESTIONABLE = "questionable"
    EARLY_ESTIMATE = "early_estimate"


LOINC: Mapping[MeasurementKind, str] = MappingProxyType(
    {
        MeasurementKind.BLOOD_PRESSURE_SYSTOLIC: "8480-6",
        MeasurementKind.BLOOD_PRESSURE_DIASTOLIC: "8462-4",
        MeasurementKind.BLOOD_PRESSURE_MEAN: "8478-0",
        MeasurementKind.PULSE_RATE: "8867-4",
        MeasurementKind.SPO2: "59408-5",
        MeasurementKind.BODY_TEMPERATURE: "8310-5",
        MeasurementKind.PERFUSION_INDEX: "61006-3",
    }
)
"""Default LOINC code of each kind (heart rate, SpO2 by pulse oximetry, body temperature...)."""

_TEMPERATURE_SITE_LOINC: Mapping[TemperatureType, str] = MappingProxyType(
    {
        TemperatureType.ARMPIT: "8328-7",  # axillary temperature
        TemperatureType.MOUTH: "8331-1",  # oral temperature
        TemperatureType.RECTUM: "8332-9",  # rectal temperature
        TemperatureType.TYMPANUM: "8333-7",  # tympanic membrane temperature
    }
)

ALLOWED_UNITS: Mapping[MeasurementKind, frozenset[Unit]] = MappingProxyType(
    {
        MeasurementKind.BLOOD_PRESSURE_SYSTOLIC: frozenset({Unit.MMHG, Unit.KPA}),
        MeasurementKind.BLOOD_PRESSURE_DIASTOLIC: frozenset({Unit.MMHG, Unit.KPA}),
        MeasurementKind.BLOOD_PRESSURE_MEAN: frozenset({Unit.MMHG, Unit.KPA}),
        MeasurementKind.PULSE_RATE: frozenset({Unit.PER_MINUTE}),
        MeasurementKind.SPO2: frozenset({Unit.PERCENT}),
        MeasurementKind.BODY_TEMPERATURE: frozenset({Unit.CELSIUS, Unit.FAHRENHEIT}),
        MeasurementKind.PERFUSION_INDEX: frozenset({Unit.PERCENT}),
    }
)
"""The units each kind may be expressed in."""

# -- plausibility limits (in mm[Hg], Cel, %, /min) -----------------------------------------
MIN_PLAUSIBLE_SYSTOLIC_MMHG = 40.0
MAX_PLAUSIBLE_SYSTOLIC_MMHG = 300.0
MIN_PLAUSIBLE_DIASTOLIC_MMHG = 20.0
MAX_PLAUSIBLE_DIASTOLIC_MMHG = 200.0
MIN_PLAUSIBLE_MEAN_PRESSURE_MMHG = 25.0
MAX_PLAUSIBLE_MEAN_PRESSURE_MMHG = 250.0
MIN_PLAUSIBLE_PULSE_RATE = 20.0
MAX_PLAUSIBLE_PULSE_RATE = 300.0
MIN_PLAUSIBLE_SPO2 = 50.0
MAX_PLAUSIBLE_SPO2 = 100.0
MIN_PLAUSIBLE_TEMPERATURE_CEL = 30.0
MAX_PLAUSIBLE_TEMPERATURE_CEL = 45.0
MIN_PLAUSIBLE_PERFUSION_INDEX = 0.0
MAX_PLAUSIBLE_PERFUSION_INDEX = 30.0

_MMHG_PER_KPA = 760.0 / 101.325


@dataclass(frozen=True, slots=True)
class PlausibleRange:
    """Inclusive bounds of a plausible value, in the kind's reference unit."""

    minimum: float
    maximum: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.minimum <= value <= self.maximum


PLAUSIBLE_LIMITS: Mapping[MeasurementKind, PlausibleRange] = MappingProxyType(
    {
        MeasurementKind.BLOOD_PRESSURE_SYSTOLIC: PlausibleRange(
            MIN_PLAUSIBLE_SYSTOLIC_MMHG, MAX_PLAUSIBLE_SYSTOLIC_MMHG
        ),
        MeasurementKind.BLOOD_PRESSURE_DIASTOLIC: PlausibleRange(
            MIN_PLAUSIBLE_DIASTOLIC_MMHG, MAX_PLAUSIBLE_DIASTOLIC_MMHG
        ),
        MeasurementKind.BLOOD_PRESSURE_MEAN: PlausibleRange(
            MIN_PLAUSIBLE_MEAN_PRESSURE_MMHG, MAX_PLAUSIBLE_MEAN_PRESSURE_MMHG
        ),
        MeasurementKind.PULSE_RATE: PlausibleRange(
            MIN_PLAUSIBLE_PULSE_RATE, MAX_PLAUSIBLE_PULSE_RATE
        ),
        MeasurementKind.SPO2: PlausibleRange(MIN_PLAUSIBLE_SPO2, MAX_PLAUSIBLE_SPO2),
        MeasurementKind.BODY_TEMPERATURE: PlausibleRange(
            MIN_PLAUSIBLE_TEMPERATURE_CEL, MAX_PLAUSIBLE_TEMPERATURE_CEL
        ),
        MeasurementKind.PERFUSION_INDEX: PlausibleRange(
            MIN_PLAUSIBLE_PERFUSION_INDEX, MAX_PLAUSIBLE_PERFUSION_INDEX
        ),
    }
)
"""The one table of plausibility limits, in mm[Hg] (pressures), Cel (temperature), %
(SpO2, perfusion index) and /min, used by the agent's filter and by the hub alike."""


def _reference_value(value: float, unit: Unit) -> float:
    """The value in the unit the limits are written in."""
    if unit is Unit.KPA:
        return value * _MMHG_PER_KPA
    if unit is Unit.FAHRENHEIT:
        return (value - 32.0) * 5.0 / 9.0
    return value


# -- the value type ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Which device took a reading (catalogue model id, plus what the device says)."""

    model: str
    serial: str | None = None
    firmware: str | None = None
    manufacturer: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "model": self.model,
            "serial": self.serial,
            "firmware": self.firmware,
            "manufacturer": self.manufacturer,
        }


@dataclass(frozen=True, slots=True)
class Measurement:
    """One observation from one device.

    `device_time` is the device's own (local, zone-less) clock when it sent one that is
    complete; `received_at` is when the cabin received it (timezone-aware).
    """

    kind: MeasurementKind
    value: float
    unit: Unit
    received_at: dt.datetime
    device: DeviceIdentity
    loinc: str = ""
    device_time: dt.datetime | None = None
    status: frozenset[StatusFlag] = frozenset()

    def __post_init__(self) -> None:
        if not self.loinc:
            object.__setattr__(self, "loinc", LOINC[self.kind])
        if not math.isfinite(self.value):
            raise ValueError(f"{self.kind} value must be a finite number, got {self.value}")
        if self.unit not in ALLOWED_UNITS[self.kind]:
            raise ValueError(f"{self.kind} cannot be in {self.unit}")
        if self.received_at.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware")

    def to_dict(self) -> dict[str, object]:
        """The JSON-friendly form (ISO 8601 times, sorted status names)."""
        return {
            "kind": str(self.kind),
            "value": self.value,
            "unit": str(self.unit),
            "loinc": self.loinc,
            "device_time": None if self.device_time is None else self.device_time.isoformat(),
            "received_at": self.received_at.isoformat(),
            "device": self.device.to_dict(),
            "status": sorted(str(flag) for flag in self.status),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        """Rebuild a measurement from `to_dict` output; ValueError on anything malformed."""
        try:
            device = data["device"]
            if not isinstance(device, Mapping):
                raise ValueError("device must be an object")
            value = data["value"]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("value must be a number")
            device_time = data.get("device_time")
            status = data.get("status", [])
            if not isinstance(status, list):
                raise ValueError("status must be a list")
            return cls(
                kind=MeasurementKind(_text(data["kind"], "kind")),
                value=float(value),
                unit=Unit(_text(data["unit"], "unit")),
                loinc=_text(data.get("loinc", ""), "loinc"),
                received_at=dt.datetime.fromisoformat(_text(data["received_at"], "received_at")),
                device_time=None
                if device_time is None
                else dt.datetime.fromisoformat(_text(device_time, "device_time")),
                device=DeviceIdentity(
                    model=_text(device["model"], "device.model"),
                    serial=_optional_text(device.get("serial"), "device.serial"),
                    firmware=_optional_text(device.get("firmware"), "device.firmware"),
                    manufacturer=_optional_text(device.get("manufacturer"), "device.manufacturer"),
                ),
                status=frozenset(StatusFlag(_text(flag, "status")) for flag in status),
            )
        except KeyError as error:
            raise ValueError(f"measurement is missing {error.args[0]!r}") from None


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _optional_text(value: object, name: str) -> str | None:
    return None if value is None else _text(value, name)


# -- plausibility --------------------------------------------------------------------------


def check_plausible(reading: Sequence[Measurement]) -> None:
    """Raise ImplausibleReading when one value of the reading is out of `PLAUSIBLE_LIMITS`,
    or when the diastolic pressure is above the systolic one."""
    by_kind: dict[MeasurementKind, float] = {}
    for item in reading:
        value = _reference_value(item.value, item.unit)
        by_kind[item.kind] = value
        bounds = PLAUSIBLE_LIMITS.get(item.kind)
        if bounds is not None and value not in bounds:
            raise ImplausibleReading(
                f"{item.kind} outside {bounds.minimum:g}..{bounds.maximum:g}"
            )
    systolic = by_kind.get(MeasurementKind.BLOOD_PRESSURE_SYSTOLIC)
    diastolic = by_kind.get(MeasurementKind.BLOOD_PRESSURE_DIASTOLIC)
    if systolic is not None and diastolic is not None and diastolic > systolic:
        raise ImplausibleReading("diastolic pressure above systolic pressure")


class PlausibilityFilter:
    """Passes plausible readings, drops implausible ones whole and counts them in `dropped`."""

    __slots__ = ("dropped",)

    def __init__(self) -> None:
        self.dropped = 0

    def __call__(self, reading: Sequence[Measurement]) -> list[Measurement]:
        """Return the reading unchanged, or [] (and count it) when it is implausible."""
        try:
            check_plausible(reading)
        except ImplausibleReading as error:
            self.dropped += 1
            kinds = ",".join(sorted({str(item.kind) for item in reading}))
            logger.info("dropped an implausible reading (%s)", kinds)
            logger.debug("implausible reading: %s", error)
            return []
        return list(reading)


# -- conversion ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    device: DeviceIdentity
    received_at: dt.datetime
    device_time: dt.datetime | None = None
    status: frozenset[StatusFlag] = field(default_factory=frozenset)

    def make(
        self, kind: MeasurementKind, value: Sfloat | Float11073 | float | None, unit: Unit,
        loinc: str = "",
    ) -> list[Measurement]:
        """One measurement, or none for a missing or special value."""
        if value is None:
            return []
        if isinstance(value, Sfloat | Float11073):
            if not value.is_number:
                return []
            value = value.value
        return [
            Measurement(kind, float(value), unit, self.received_at, self.device, loinc,
                        self.device_time, self.status)
        ]


def _device_time(timestamp: DateTime | None) -> dt.datetime | None:
    return None if timestamp is None else timestamp.to_datetime()


def _blood_pressure(value: BloodPressureMeasurement, context: _Context) -> list[Measurement]:
    flags: set[StatusFlag] = set()
    if value.status is not None:
        status = value.status
        for present, flag in (
            (status.body_movement_detected, StatusFlag.BODY_MOVEMENT),
            (status.cuff_fit_loose, StatusFlag.CUFF_FIT_LOOSE),
            (status.irregular_pulse_detected, StatusFlag.IRREGULAR_PULSE),
            (status.pulse_rate_range is not PulseRateRange.WITHIN_RANGE,
             StatusFlag.PULSE_RATE_OUT_OF_RANGE),
            (status.improper_measurement_position, StatusFlag.IMPROPER_MEASUREMENT_POSITION),
        ):
            if present:
                flags.add(flag)
    ctx = _Context(context.device, context.received_at, _device_time(value.timestamp),
                   frozenset(flags))
    unit = Unit.KPA if value.unit is PressureUnit.KPA else Unit.MMHG
    return [
        *ctx.make(MeasurementKind.BLOOD_PRESSURE_SYSTOLIC, value.systolic, unit),
        *ctx.make(MeasurementKind.BLOOD_PRESSURE_DIASTOLIC, value.diastolic, unit),
        *ctx.make(MeasurementKind.BLOOD_PRESSURE_MEAN, value.mean_arterial_pressure, unit),
        *ctx.make(MeasurementKind.PULSE_RATE, value.pulse_rate, Unit.PER_MINUTE),
    ]


def _temperature(value: TemperatureMeasurement, context: _Context) -> list[Measurement]:
    ctx = _Context(context.device, context.received_at, _device_time(value.timestamp))
    unit = Unit.FAHRENHEIT if value.unit is TemperatureUnit.FAHRENHEIT else Unit.CELSIUS
    loinc = ""
    if value.temperature_type is not None:
        loinc = _TEMPERATURE_SITE_LOINC.get(value.temperature_type, "")
    return ctx.make(MeasurementKind.BODY_TEMPERATURE, value.temperature, unit, loinc)


_PLX_SENSOR_FLAGS: tuple[tuple[str, StatusFlag], ...] = (
    ("sensor_disconnected", StatusFlag.SENSOR_DISCONNECTED),
    ("sensor_unconnected_to_user", StatusFlag.FINGER_OUT),
    ("sensor_malfunctioning", StatusFlag.SENSOR_ERROR),
    ("low_perfusion_detected", StatusFlag.LOW_PERFUSION),
    ("poor_signal_detected", StatusFlag.POOR_SIGNAL),
    ("inadequate_signal_detected", StatusFlag.POOR_SIGNAL),
    ("erratic_signal_detected", StatusFlag.ARTIFACT),
    ("questionable_pulse_detected", StatusFlag.QUESTIONABLE),
)
_PLX_UNUSABLE = (
    "measurement_unavailable",
    "invalid_measurement_detected",
    "data_for_demonstration",
    "data_for_testing",
)


def _plx_flags(
    status: PlxMeasurementStatus | None, sensor: PlxDeviceSensorStatus | None
) -> frozenset[StatusFlag] | None:
    """Status flags of a PLX reading, or None when the reading must not be stored."""
    flags: set[StatusFlag] = set()
    if status is not None:
        if any(getattr(status, name) for name in _PLX_UNUSABLE):
            return None
        if status.questionable_measurement_detected:
            flags.add(StatusFlag.QUESTIONABLE)
        if status.early_estimated_data:
            flags.add(StatusFlag.EARLY_ESTIMATE)
    if sensor is not None:
        flags.update(flag for name, flag in _PLX_SENSOR_FLAGS if getattr(sensor, name))
    return frozenset(flags)


def _plx(
    value: PlxSpotCheckMeasurement | PlxContinuousMeasurement, context: _Context
) -> list[Measurement]:
    flags = _plx_flags(value.measurement_status, value.device_and_sensor_status)
    if flags is None:
        return []
    device_time = None
    if isinstance(value, PlxSpotCheckMeasurement) and not value.device_clock_not_set:
        device_time = _device_time(value.timestamp)
    ctx = _Context(context.device, context.received_at, device_time, flags)
    return [
        *ctx.make(MeasurementKind.SPO2, value.spo2, Unit.PERCENT),
        *ctx.make(MeasurementKind.PULSE_RATE, value.pulse_rate, Unit.PER_MINUTE),
        *ctx.make(MeasurementKind.PERFUSION_INDEX, value.perfusion_index, Unit.PERCENT),
    ]


def _cms50(value: Cms50LiveFrame, context: _Context) -> list[Measurement]:
    flags = {
        flag
        for present, flag in (
            (value.finger_out, StatusFlag.FINGER_OUT),
            (value.searching, StatusFlag.SEARCHING),
            (value.probe_error, StatusFlag.SENSOR_ERROR),
        )
        if present
    }
    ctx = _Context(context.device, context.received_at, None, frozenset(flags))
    return [
        *ctx.make(MeasurementKind.SPO2, value.spo2, Unit.PERCENT),
        *ctx.make(MeasurementKind.PULSE_RATE, value.pulse_rate, Unit.PER_MINUTE),
    ]


_NONIN_FLAGS: Mapping[str, StatusFlag] = MappingProxyType(
    {
        "sensor_disconnect": StatusFlag.SENSOR_DISCONNECTED,
        "sensor_alarm": StatusFlag.SENSOR_ERROR,
        "out_of_track": StatusFlag.OUT_OF_TRACK,
        "artifact": StatusFlag.ARTIFACT,
        "red_perfusion": StatusFlag.LOW_PERFUSION,
        "low_perfusion": StatusFlag.LOW_PERFUSION,
        "marginal_perfusion": StatusFlag.MARGINAL_PERFUSION,
        "yellow_perfusion": StatusFlag.MARGINAL_PERFUSION,
    }
)


def _nonin(value: NoninDf2Packet | NoninDf8Frame, context: _Context) -> list[Measurement]:
    names = value.flags if isinstance(value, NoninDf2Packet) else value.status.set_flags()
    if "yellow_perfusion" in names:
        names = names - {"red_perfusion"}
    flags = frozenset(_NONIN_FLAGS[name] for name in names if name in _NONIN_FLAGS)
    ctx = _Context(context.device, context.received_at, None, flags)
    return [
        *ctx.make(MeasurementKind.SPO2, value.spo2, Unit.PERCENT),
        *ctx.make(MeasurementKind.PULSE_RATE, value.heart_rate, Unit.PER_MINUTE),
    ]


def _nothing(value: object, context: _Context) -> list[Measurement]:
    """Intermediate values are shown live, never stored."""
    return []


_CONVERTERS: Mapping[type, Callable[[Any, _Context], list[Measurement]]] = MappingProxyType(
    {
        BloodPressureMeasurement: _blood_pressure,
        IntermediateCuffPressure: _nothing,
        TemperatureMeasurement: _temperature,
        IntermediateTemperature: _nothing,
        PlxSpotCheckMeasurement: _plx,
        PlxContinuousMeasurement: _plx,
        Cms50LiveFrame: _cms50,
        NoninDf2Packet: _nonin,
        NoninDf8Frame: _nonin,
    }
)


def to_measurements(
    value: object,
    *,
    device: DeviceIdentity,
    received_at: dt.datetime,
    plausibility: PlausibilityFilter | None = None,
) -> list[Measurement]:
    """Return the measurements of one decoded reading (possibly none).

    Special and missing values are left out; with a `plausibility` filter, an implausible
    reading is dropped whole (and counted by the filter). Intermediate values (cuff pressure
    while inflating, a settling thermometer) give no measurement. TypeError for a value
    that is not a reading.
    """
    converter = _CONVERTERS.get(type(value))
    if converter is None:
        raise TypeError(f"{type(value).__name__} is not a device reading")
    reading = converter(value, _Context(device, received_at))
    if plausibility is not None and reading:
        return plausibility(reading)
    return reading

