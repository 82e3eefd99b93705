"""Measurements: the protocol-free values every device reading becomes.

A `Measurement` is one observation (a kind, a value in a UCUM unit, its LOINC code, the device
and the times). `KINDS` describes each measurement kind once: LOINC code (and the other codes
it is known by, and the LOINC panel it is a component of: `PANELS`), UCUM units, French
label, plausible range and clinical alert range (`range_status` says where a value stands:
"hors normes" on the consoles); `LOINC`, `ALLOWED_UNITS` and `PLAUSIBLE_LIMITS` are views of it.
`PLAUSIBLE_LIMITS` is the one table of limits: the cabin agent's filter and the hub's
re-validation of what agents send both read it. Decoded readings (GATT values, serial frames)
convert themselves (`Reading.to_measurements`, beside each parser); `to_measurements` calls
that and applies the `PlausibilityFilter`, which drops a reading whole when one of its values
cannot be physiological, and counts it. Special values (NaN, NRes, ±INF) and "no value"
sentinels never become measurements. Its JSON form is the hub's wire schema
(`hub.wire.WireMeasurement`), not this module's. This module imports no protocol code.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from devices.errors import ImplausibleReading
from devices.ieee11073 import Float11073, Sfloat

__all__ = [
    "ALLOWED_UNITS",
    "BLOOD_PRESSURE_PANEL_LOINC",
    "KINDS",
    "LOINC",
    "MAX_NORMAL_DIASTOLIC_MMHG",
    "MAX_NORMAL_PULSE_RATE",
    "MAX_NORMAL_SPO2",
    "MAX_NORMAL_SYSTOLIC_MMHG",
    "MAX_NORMAL_TEMPERATURE_CEL",
    "MAX_PLAUSIBLE_DIASTOLIC_MMHG",
    "MAX_PLAUSIBLE_MEAN_PRESSURE_MMHG",
    "MAX_PLAUSIBLE_PERFUSION_INDEX",
    "MAX_PLAUSIBLE_PULSE_RATE",
    "MAX_PLAUSIBLE_SPO2",
    "MAX_PLAUSIBLE_SYSTOLIC_MMHG",
    "MAX_PLAUSIBLE_TEMPERATURE_CEL",
    "MAX_PLAUSIBLE_WEIGHT_KG",
    "MIN_NORMAL_DIASTOLIC_MMHG",
    "MIN_NORMAL_PULSE_RATE",
    "MIN_NORMAL_SPO2",
    "MIN_NORMAL_SYSTOLIC_MMHG",
    "MIN_NORMAL_TEMPERATURE_CEL",
    "MIN_PLAUSIBLE_DIASTOLIC_MMHG",
    "MIN_PLAUSIBLE_MEAN_PRESSURE_MMHG",
    "MIN_PLAUSIBLE_PERFUSION_INDEX",
    "MIN_PLAUSIBLE_PULSE_RATE",
    "MIN_PLAUSIBLE_SPO2",
    "MIN_PLAUSIBLE_SYSTOLIC_MMHG",
    "MIN_PLAUSIBLE_TEMPERATURE_CEL",
    "MIN_PLAUSIBLE_WEIGHT_KG",
    "PANELS",
    "PLAUSIBLE_LIMITS",
    "DeviceIdentity",
    "KindInfo",
    "Measurement",
    "MeasurementKind",
    "PlausibilityFilter",
    "PlausibleRange",
    "RangeStatus",
    "Reading",
    "ReadingContext",
    "StatusFlag",
    "Unit",
    "Valued",
    "check_plausible",
    "display_unit",
    "kind_label",
    "range_status",
    "reference_value",
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
    BODY_WEIGHT = "body_weight"

    @property
    def info(self) -> KindInfo:
        """LOINC code, units, French label and plausible range of this kind."""
        return KINDS[self]


class Unit(enum.StrEnum):
    """UCUM codes of the units measurements come in."""

    MMHG = "mm[Hg]"
    KPA = "kPa"
    CELSIUS = "Cel"
    FAHRENHEIT = "[degF]"
    PERCENT = "%"
    PER_MINUTE = "/min"
    KILOGRAM = "kg"
    POUND = "[lb_av]"

    @property
    def display(self) -> str:
        """How the unit is written for people ("mmHg", "°C", "kg")."""
        return _UNIT_DISPLAY[self]


_UNIT_DISPLAY: Mapping[Unit, str] = MappingProxyType(
    {
        Unit.MMHG: "mmHg",
        Unit.KPA: "kPa",
        Unit.CELSIUS: "°C",
        Unit.FAHRENHEIT: "°F",
        Unit.PERCENT: "%",
        Unit.PER_MINUTE: "/min",
        Unit.KILOGRAM: "kg",
        Unit.POUND: "lb",
    }
)


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


# -- plausibility limits (in mm[Hg], Cel, %, /min, kg) -------------------------------------
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
MIN_PLAUSIBLE_WEIGHT_KG = 0.5
MAX_PLAUSIBLE_WEIGHT_KG = 350.0

# -- clinical alert ranges (adults at rest, same units) ------------------------------------
# A value outside them is shown "hors normes" on the consoles; it is stored all the same.
# Blood pressure: HAS, « Prise en charge de l'hypertension artérielle de l'adulte » (2016):
# office hypertension from 140 (systolic) or 90 (diastolic) mmHg; hypotension below 90
# systolic, 60 diastolic. Pulse rate, SpO2 and temperature: the ranges that score 0 in NEWS2
# (Royal College of Physicians, National Early Warning Score 2, 2017; SpO2 scale 1).
# Bounds are inclusive: a value between two integers past a bound (139.5) is outside.
MIN_NORMAL_SYSTOLIC_MMHG = 90.0
MAX_NORMAL_SYSTOLIC_MMHG = 139.0
MIN_NORMAL_DIASTOLIC_MMHG = 60.0
MAX_NORMAL_DIASTOLIC_MMHG = 89.0
MIN_NORMAL_PULSE_RATE = 51.0
MAX_NORMAL_PULSE_RATE = 90.0
MIN_NORMAL_SPO2 = 96.0
MAX_NORMAL_SPO2 = 100.0
MIN_NORMAL_TEMPERATURE_CEL = 36.1
MAX_NORMAL_TEMPERATURE_CEL = 38.0

_MMHG_PER_KPA = 760.0 / 101.325
_KG_PER_POUND = 0.45359237


@dataclass(frozen=True, slots=True)
class PlausibleRange:
    """Inclusive bounds of a plausible value, in the kind's reference unit."""

    minimum: float
    maximum: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.minimum <= value <= self.maximum


@dataclass(frozen=True, slots=True)
class KindInfo:
    """What one measurement kind is, for machines and for people."""

    loinc: str  # default LOINC code (a reading may give a more precise one)
    label: str  # French, as the report and the consoles show it
    short_label: str  # French, for a one-line summary ("PAS", "T°")
    units: frozenset[Unit]  # the units it may be expressed in
    limits: PlausibleRange  # in the reference unit
    reference_unit: Unit  # the unit the limits are written in (mm[Hg], Cel, %, /min, kg)
    # Of the measurements one reading gives, the lowest shows as the device's last value:
    # a cuff's card shows the systolic pressure, not the pulse that came with it.
    precedence: int = 0
    # The clinical alert range (reference unit), None where none is defined (see above).
    normal: PlausibleRange | None = None
    # Other LOINC codes the observation is also known by: the HL7 vital-signs code where the
    # default is more precise (SpO2 by pulse oximetry 59408-5 is also 2708-6, oxygen
    # saturation in arterial blood).
    also_loinc: tuple[str, ...] = ()
    # The LOINC panel the kind is one component of (the blood pressure panel), "" for none.
    panel: str = ""


_PRESSURE = frozenset({Unit.MMHG, Unit.KPA})

BLOOD_PRESSURE_PANEL_LOINC = "85354-9"
"""LOINC "Blood pressure panel with all children optional": systolic, diastolic and mean
pressures of one cuff reading are its components."""

PANELS: Mapping[str, str] = MappingProxyType({BLOOD_PRESSURE_PANEL_LOINC: "Pression artérielle"})
"""The LOINC panels kinds belong to, with their French label."""

KINDS: Mapping[MeasurementKind, KindInfo] = MappingProxyType(
    {
        MeasurementKind.BLOOD_PRESSURE_SYSTOLIC: KindInfo(
            "8480-6",
            "Pression artérielle systolique",
            "PAS",
            _PRESSURE,
            PlausibleRange(MIN_PLAUSIBLE_SYSTOLIC_MMHG, MAX_PLAUSIBLE_SYSTOLIC_MMHG),
            Unit.MMHG,
            normal=PlausibleRange(MIN_NORMAL_SYSTOLIC_MMHG, MAX_NORMAL_SYSTOLIC_MMHG),
            panel=BLOOD_PRESSURE_PANEL_LOINC,
        ),
        MeasurementKind.BLOOD_PRESSURE_DIASTOLIC: KindInfo(
            "8462-4",
            "Pression artérielle diastolique",
            "PAD",
            _PRESSURE,
            PlausibleRange(MIN_PLAUSIBLE_DIASTOLIC_MMHG, MAX_PLAUSIBLE_DIASTOLIC_MMHG),
            Unit.MMHG,
            precedence=1,
            normal=PlausibleRange(MIN_NORMAL_DIASTOLIC_MMHG, MAX_NORMAL_DIASTOLIC_MMHG),
            panel=BLOOD_PRESSURE_PANEL_LOINC,
        ),
        MeasurementKind.BLOOD_PRESSURE_MEAN: KindInfo(
            "8478-0",
            "Pression artérielle moyenne",
            "PAM",
            _PRESSURE,
            PlausibleRange(MIN_PLAUSIBLE_MEAN_PRESSURE_MMHG, MAX_PLAUSIBLE_MEAN_PRESSURE_MMHG),
            Unit.MMHG,
            precedence=2,
            panel=BLOOD_PRESSURE_PANEL_LOINC,
        ),
        MeasurementKind.PULSE_RATE: KindInfo(
            "8867-4",
            "Fréquence cardiaque",
            "pouls",
            frozenset({Unit.PER_MINUTE}),
            PlausibleRange(MIN_PLAUSIBLE_PULSE_RATE, MAX_PLAUSIBLE_PULSE_RATE),
            Unit.PER_MINUTE,
            precedence=3,
            normal=PlausibleRange(MIN_NORMAL_PULSE_RATE, MAX_NORMAL_PULSE_RATE),
        ),
        MeasurementKind.SPO2: KindInfo(
            "59408-5",
            "Saturation en oxygène (SpO2)",
            "SpO2",
            frozenset({Unit.PERCENT}),
            PlausibleRange(MIN_PLAUSIBLE_SPO2, MAX_PLAUSIBLE_SPO2),
            Unit.PERCENT,
            normal=PlausibleRange(MIN_NORMAL_SPO2, MAX_NORMAL_SPO2),
            also_loinc=("2708-6",),
        ),
        MeasurementKind.BODY_TEMPERATURE: KindInfo(
            "8310-5",
            "Température",
            "T°",
            frozenset({Unit.CELSIUS, Unit.FAHRENHEIT}),
            PlausibleRange(MIN_PLAUSIBLE_TEMPERATURE_CEL, MAX_PLAUSIBLE_TEMPERATURE_CEL),
            Unit.CELSIUS,
            normal=PlausibleRange(MIN_NORMAL_TEMPERATURE_CEL, MAX_NORMAL_TEMPERATURE_CEL),
        ),
        MeasurementKind.PERFUSION_INDEX: KindInfo(
            "61006-3",
            "Indice de perfusion",
            "IP",
            frozenset({Unit.PERCENT}),
            PlausibleRange(MIN_PLAUSIBLE_PERFUSION_INDEX, MAX_PLAUSIBLE_PERFUSION_INDEX),
            Unit.PERCENT,
            precedence=3,
        ),
        MeasurementKind.BODY_WEIGHT: KindInfo(
            "29463-7",
            "Poids",
            "poids",
            frozenset({Unit.KILOGRAM, Unit.POUND}),
            PlausibleRange(MIN_PLAUSIBLE_WEIGHT_KG, MAX_PLAUSIBLE_WEIGHT_KG),
            Unit.KILOGRAM,
        ),
    }
)
"""Every measurement kind, described once."""

LOINC: Mapping[MeasurementKind, str] = MappingProxyType({k: i.loinc for k, i in KINDS.items()})
"""Default LOINC code of each kind (heart rate, SpO2 by pulse oximetry, body temperature...)."""

ALLOWED_UNITS: Mapping[MeasurementKind, frozenset[Unit]] = MappingProxyType(
    {k: i.units for k, i in KINDS.items()}
)
"""The units each kind may be expressed in."""

PLAUSIBLE_LIMITS: Mapping[MeasurementKind, PlausibleRange] = MappingProxyType(
    {k: i.limits for k, i in KINDS.items()}
)
"""The one table of plausibility limits, in mm[Hg] (pressures), Cel (temperature), %
(SpO2, perfusion index), /min and kg, used by the agent's filter and by the hub alike."""


def kind_label(kind: str) -> str:
    """The French label of a measurement kind's name (the name itself if it is unknown)."""
    try:
        return KINDS[MeasurementKind(kind)].label
    except ValueError:
        return kind


def kind_precedence(kind: str) -> int:
    """Of measurements taken together, which shows as a device's last value: the lowest
    (a cuff's systolic pressure before its pulse); unknown kinds come last."""
    try:
        return KINDS[MeasurementKind(kind)].precedence
    except ValueError:
        return 99


def last_value_key(kind: str, at: dt.datetime) -> tuple[dt.datetime, int]:
    """Orders a device's measurements for its last value: the newest, then by precedence. A
    measurement replaces the shown one when its key is at least as great."""
    return at, -kind_precedence(kind)


class RangeStatus(enum.StrEnum):
    """Where a value stands against its kind's limits."""

    NORMAL = "normal"  # inside the alert range, or no alert range is defined
    ALERT = "alert"  # plausible, outside the clinical alert range ("hors normes")
    IMPLAUSIBLE = "implausible"  # outside the plausibility limits


def range_status(kind: str, value: float, unit: str) -> RangeStatus:
    """Where a value in a UCUM unit stands against the registry's limits of its kind
    (NORMAL for a kind or unit the registry does not know)."""
    try:
        info = KINDS[MeasurementKind(kind)]
        reference = _reference_value(value, Unit(unit))
    except ValueError:
        return RangeStatus.NORMAL
    if reference not in info.limits:
        return RangeStatus.IMPLAUSIBLE
    if info.normal is not None and reference not in info.normal:
        return RangeStatus.ALERT
    return RangeStatus.NORMAL


def display_unit(unit: str) -> str:
    """How a UCUM unit code is written for people (the code itself if it is unknown)."""
    try:
        return Unit(unit).display
    except ValueError:
        return unit


def reference_value(value: float, unit: str) -> float:
    """A value in a UCUM unit, in its kind's reference unit (kPa → mm[Hg], [degF] → Cel,
    [lb_av] → kg); unchanged for a unit the registry does not convert."""
    try:
        return _reference_value(value, Unit(unit))
    except ValueError:
        return value


def _reference_value(value: float, unit: Unit) -> float:
    """The value in the unit the limits are written in."""
    if unit is Unit.KPA:
        return value * _MMHG_PER_KPA
    if unit is Unit.FAHRENHEIT:
        return (value - 32.0) * 5.0 / 9.0
    if unit is Unit.POUND:
        return value * _KG_PER_POUND
    return value


# -- the value type ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Which device took a reading (catalogue model id, plus what the device says)."""

    model: str
    serial: str | None = None
    firmware: str | None = None
    manufacturer: str | None = None


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


# -- plausibility --------------------------------------------------------------------------


class Valued(Protocol):
    """What plausibility looks at: a kind, a value and its unit (a `Measurement`, or the
    hub's typed wire form of one)."""

    @property
    def kind(self) -> MeasurementKind: ...
    @property
    def value(self) -> float: ...
    @property
    def unit(self) -> Unit: ...


def check_plausible(reading: Sequence[Valued]) -> None:
    """Raise ImplausibleReading when one value of the reading is out of `PLAUSIBLE_LIMITS`,
    or when the diastolic pressure is above the systolic one."""
    by_kind: dict[MeasurementKind, float] = {}
    for item in reading:
        value = _reference_value(item.value, item.unit)
        by_kind[item.kind] = value
        bounds = PLAUSIBLE_LIMITS.get(item.kind)
        if bounds is not None and value not in bounds:
            raise ImplausibleReading(f"{item.kind} outside {bounds.minimum:g}..{bounds.maximum:g}")
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
class ReadingContext:
    """What a reading's measurements share: the device, when it arrived, the device's own
    time of the reading and the conditions it reported."""

    device: DeviceIdentity
    received_at: dt.datetime
    device_time: dt.datetime | None = None
    status: frozenset[StatusFlag] = frozenset()

    def make(
        self,
        kind: MeasurementKind,
        value: Sfloat | Float11073 | float | None,
        unit: Unit,
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
            Measurement(
                kind,
                float(value),
                unit,
                self.received_at,
                self.device,
                loinc,
                self.device_time,
                self.status,
            )
        ]


@runtime_checkable
class Reading(Protocol):
    """A decoded value that knows its measurements (each parser's value type beside it)."""

    def to_measurements(self, context: ReadingContext) -> list[Measurement]: ...


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
    if not isinstance(value, Reading):
        raise TypeError(f"{type(value).__name__} is not a device reading")
    reading = value.to_measurements(ReadingContext(device, received_at))
    if plausibility is not None and reading:
        return plausibility(reading)
    return reading
