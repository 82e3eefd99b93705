"""The vitals panel of the consultation consoles, as a bedside monitor shows them.

The latest value of each measure in large figures (blood pressure as systolic/diastolic with
the mean), with its time and device and, when outside the registry's alert range, "hors
normes"; below, the history by reading: one row per blood-pressure reading, a continuous
device (the oximeter) summarised per minute. Labels, units and ranges come from the devices
registry (`devices.measurements`). The page is rendered complete here; `vitals_config` is what
web/static/js/consultation.js needs to keep it live from ``observation.stored`` events, with
the same rules. Each tile offers "Mesurer" for the trolley's devices that can take its measure
on demand (`measuring_devices`, from the registry `devices.catalogue`); the button sends the
same device command as the cabins' list (web/static/js/cabins.js).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from devices.catalogue import get_model
from devices.errors import UnknownDeviceModel
from devices.measurements import KINDS, MeasurementKind
from hub.cabins.live import ObservationPublic

ALERT_LABEL = "hors normes"
BLOOD_PRESSURE = (
    MeasurementKind.BLOOD_PRESSURE_SYSTOLIC,
    MeasurementKind.BLOOD_PRESSURE_DIASTOLIC,
    MeasurementKind.BLOOD_PRESSURE_MEAN,
)


@dataclass(frozen=True, slots=True)
class Measure:
    """One tile of the monitor: the kinds it shows (blood pressure: three of one reading)."""

    key: str
    label: str  # French
    short: str  # French, for the history
    kinds: tuple[MeasurementKind, ...]
    optional: bool = False  # shown only once measured


def _single(kind: MeasurementKind, *, optional: bool = False) -> Measure:
    info = KINDS[kind]
    return Measure(str(kind), info.label, info.short_label, (kind,), optional)


MEASURES: tuple[Measure, ...] = (
    Measure(
        "blood_pressure",
        "Pression artérielle",
        "/".join(KINDS[k].short_label for k in BLOOD_PRESSURE[:2])
        + f" ({KINDS[BLOOD_PRESSURE[2]].short_label})",
        BLOOD_PRESSURE,
    ),
    _single(MeasurementKind.SPO2),
    _single(MeasurementKind.PULSE_RATE),
    _single(MeasurementKind.BODY_TEMPERATURE),
    _single(MeasurementKind.PERFUSION_INDEX, optional=True),
    _single(MeasurementKind.BODY_WEIGHT, optional=True),
)


def number_fr(value: float) -> str:
    """A measured value as French people write it: « 37,2 », « 128 »."""
    return f"{round(value, 1):g}".replace(".", ",")


@dataclass(frozen=True, slots=True)
class Tile:
    """A measure's latest value, ready to show (empty figure: not measured yet)."""

    key: str
    label: str
    short: str
    figure: str = ""
    mean: str = ""  # blood pressure: the mean, shown in brackets
    unit: str = ""
    at: dt.datetime | None = None
    device: str = ""
    alert: bool = False


@dataclass
class Reading:
    """The measurements one device gave at one moment (a cuff's pressures and pulse)."""

    at: dt.datetime
    device: str
    values: dict[str, ObservationPublic] = field(default_factory=dict)

    @property
    def is_blood_pressure(self) -> bool:
        return any(str(k) in self.values for k in BLOOD_PRESSURE)


@dataclass(frozen=True, slots=True)
class Item:
    """One measure in a history row: « PAS/PAD (PAM) 128/84 (99) mmHg », « SpO2 95–97 % »."""

    label: str
    text: str
    alert: bool


@dataclass(frozen=True, slots=True)
class Row:
    at: dt.datetime
    device: str
    items: tuple[Item, ...]
    readings: int  # how many readings the row summarises


def _at(o: ObservationPublic) -> dt.datetime:
    return dt.datetime.fromisoformat(o.measured_at)


def readings_of(observations: Iterable[ObservationPublic]) -> list[Reading]:
    """The observations grouped by reading (cabin, device, moment), oldest first."""
    readings: dict[tuple[int, str, dt.datetime], Reading] = {}
    for o in sorted(observations, key=lambda o: (_at(o), o.cabin_id, o.seq)):
        at = _at(o)
        reading = readings.setdefault((o.cabin_id, o.device, at), Reading(at, o.device))
        reading.values[o.kind] = o
    return list(readings.values())


def _tile(measure: Measure, readings: Sequence[Reading]) -> Tile:
    headline = str(measure.kinds[0])
    latest = next((r for r in reversed(readings) if headline in r.values), None)
    if latest is None:
        return Tile(measure.key, measure.label, measure.short)
    first = latest.values[headline]
    shown = [latest.values[str(k)] for k in measure.kinds[:2] if str(k) in latest.values]
    mean = latest.values.get(str(measure.kinds[2])) if len(measure.kinds) > 2 else None
    return Tile(
        measure.key,
        measure.label,
        measure.short,
        figure="/".join(number_fr(o.value) for o in shown),
        mean=number_fr(mean.value) if mean else "",
        unit=first.unit_display,
        at=latest.at,
        device=latest.device,
        alert=any(o.status != "normal" for o in shown),
    )


def tiles(readings: Sequence[Reading]) -> list[Tile]:
    """The monitor: each measure's latest value (optional measures only once taken)."""
    shown = [_tile(m, readings) for m in MEASURES]
    return [t for t, m in zip(shown, MEASURES, strict=True) if t.figure or not m.optional]


def summary(observations: Iterable[ObservationPublic]) -> str:
    """Each measure's latest value on one line (the doctor's waiting room)."""
    parts = []
    for t in tiles(readings_of(observations)):
        if t.figure:
            mean = f" ({t.mean})" if t.mean else ""
            flag = f" ({ALERT_LABEL})" if t.alert else ""
            parts.append(f"{t.short} {t.figure}{mean} {t.unit}{flag}")
    return " · ".join(parts)


def _items(readings: Sequence[Reading]) -> tuple[Item, ...]:
    """Each measure of these readings (of one device): its value, or its range and last."""
    items: list[Item] = []
    for measure in MEASURES:
        headline = str(measure.kinds[0])
        with_it = [r for r in readings if headline in r.values]
        if not with_it:
            continue
        if len(measure.kinds) > 1:  # blood pressure: never summarised (one row per reading)
            tile = _tile(measure, with_it)
            mean = f" ({tile.mean})" if tile.mean else ""
            items.append(Item(measure.short, f"{tile.figure}{mean} {tile.unit}", tile.alert))
            continue
        values = [r.values[headline] for r in with_it]
        low, high = min(o.value for o in values), max(o.value for o in values)
        last, unit = values[-1], values[-1].unit_display
        text = (
            f"{number_fr(low)} {unit}"
            if low == high
            else f"{number_fr(low)}–{number_fr(high)} {unit} (dernier {number_fr(last.value)})"
        )
        items.append(Item(measure.short, text, any(o.status != "normal" for o in values)))
    return tuple(items)


def history(readings: Sequence[Reading]) -> list[Row]:
    """One row per blood-pressure reading; other readings of a device summarised per minute;
    newest first."""
    rows: list[Row] = []
    minute: dict[tuple[str, dt.datetime], list[Reading]] = {}
    for r in readings:
        if r.is_blood_pressure:
            rows.append(Row(r.at, r.device, _items([r]), 1))
        else:
            minute.setdefault((r.device, r.at.replace(second=0, microsecond=0)), []).append(r)
    for (device, _), group in minute.items():
        rows.append(Row(group[0].at, device, _items(group), len(group)))
    return sorted(rows, key=lambda row: row.at, reverse=True)


class TrolleyDevice(Protocol):
    """A device of a cabin's trolley, as the hub knows it (`hub.cabins.presence.CabinDevice`)."""

    @property
    def cabin_id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...


@dataclass(frozen=True, slots=True)
class MeasuringDevice:
    """A device a tile's "Mesurer" asks for a measurement."""

    cabin_id: int
    name: str


def measuring_devices(devices: Iterable[TrolleyDevice]) -> dict[str, list[MeasuringDevice]]:
    """For each tile (by key), the devices that can take its measure on demand: the registry
    says which models can be asked to measure and what each measures."""
    found: dict[str, list[MeasuringDevice]] = {}
    for device in devices:
        try:
            model = get_model(device.model)
        except UnknownDeviceModel:
            continue
        if not model.measurable:
            continue
        for measure in MEASURES:
            if measure.kinds[0] in model.measures:
                found.setdefault(measure.key, []).append(
                    MeasuringDevice(device.cabin_id, device.name)
                )
    return found


def vitals_config(timezone: str) -> dict[str, object]:
    """What the page's script needs to render the panel live as the hub renders it."""
    return {
        "timezone": timezone,
        "alert_label": ALERT_LABEL,
        "measures": [
            {
                "key": m.key,
                "label": m.label,
                "short": m.short,
                "kinds": [str(k) for k in m.kinds],
                "optional": m.optional,
            }
            for m in MEASURES
        ],
    }


def vitals_view(observations: Iterable[ObservationPublic], timezone: str) -> dict[str, object]:
    """The panel's tiles, its history and its live configuration, for a console's template."""
    readings = readings_of(observations)
    return {
        "tiles": tiles(readings),
        "history": history(readings),
        "config": vitals_config(timezone),
        "alert_label": ALERT_LABEL,
    }
