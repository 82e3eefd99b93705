"""The vitals panel's rules, as the doctor and the nurse read them: the latest value of each
measure, blood pressure as one reading, "hors normes" from the devices registry, and a history
with one row per blood-pressure reading and the oximeter summarised per minute."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from devices.measurements import RangeStatus, range_status
from hub.cabins.live import ObservationPublic
from hub.consoles.vitals import (
    MeasuringDevice,
    history,
    measuring_devices,
    readings_of,
    summary,
    tiles,
    vitals_view,
)

T0 = dt.datetime(2026, 12, 5, 9, 30, 5, tzinfo=dt.UTC)
_seq = iter(range(1, 10_000))


def obs(kind: str, value: float, unit: str, at: dt.datetime, device: str) -> ObservationPublic:
    return ObservationPublic._of(1, next(_seq), 7, kind, value, unit, at, device)


def cuff(
    systolic: float, diastolic: float, mean: float, pulse: float, at: dt.datetime
) -> list[ObservationPublic]:
    return [
        obs("blood_pressure_systolic", systolic, "mm[Hg]", at, "Tensiomètre"),
        obs("blood_pressure_diastolic", diastolic, "mm[Hg]", at, "Tensiomètre"),
        obs("blood_pressure_mean", mean, "mm[Hg]", at, "Tensiomètre"),
        obs("pulse_rate", pulse, "/min", at, "Tensiomètre"),
    ]


def oximeter(seconds: int, start: dt.datetime) -> list[ObservationPublic]:
    out = []
    for s in range(seconds):
        at = start + dt.timedelta(seconds=s)
        out += [
            obs("spo2", 95 + s % 4, "%", at, "Oxymètre"),
            obs("pulse_rate", 70 + s % 3, "/min", at, "Oxymètre"),
        ]
    return out


def test_the_monitor_shows_each_measures_latest_value_with_bp_as_one_reading() -> None:
    seen = cuff(150, 95, 113, 88, T0)
    seen += cuff(128, 84, 99, 67, T0 + dt.timedelta(minutes=3))
    seen += [obs("body_temperature", 38.6, "Cel", T0 + dt.timedelta(minutes=1), "Thermomètre")]
    seen += oximeter(3, T0 + dt.timedelta(minutes=2))
    shown = {t.key: t for t in tiles(readings_of(reversed(seen)))}
    assert list(shown) == ["blood_pressure", "spo2", "pulse_rate", "body_temperature"]
    bp = shown["blood_pressure"]
    assert (bp.label, bp.figure, bp.mean, bp.unit, bp.device) == (
        "Pression artérielle",
        "128/84",
        "99",
        "mmHg",
        "Tensiomètre",
    )
    assert not bp.alert  # the earlier 150/95 is history, not the monitor
    assert (shown["pulse_rate"].figure, shown["pulse_rate"].device) == ("67", "Tensiomètre")
    assert (shown["spo2"].label, shown["spo2"].figure, shown["spo2"].unit) == (
        "Saturation en oxygène (SpO2)",
        "97",
        "%",
    )
    temperature = shown["body_temperature"]
    assert (temperature.figure, temperature.unit, temperature.alert) == ("38,6", "°C", True)


def test_the_waiting_room_line_gives_bp_as_one_reading_and_marks_a_fever() -> None:
    seen = [obs("body_temperature", 38.6, "Cel", T0, "Thermomètre")]
    seen += cuff(128, 84, 99, 67, T0 + dt.timedelta(seconds=30))
    assert summary(seen) == (
        "PAS/PAD (PAM) 128/84 (99) mmHg · pouls 67 /min · T° 38,6 °C (hors normes)"
    )


def test_a_measure_not_taken_yet_shows_as_such() -> None:
    shown = tiles(readings_of([]))
    assert [t.figure for t in shown] == ["", "", "", ""]  # weight and PI only once measured


def test_history_has_one_row_per_bp_reading_and_the_oximeter_per_minute() -> None:
    seen = cuff(128, 84, 99, 67, T0) + cuff(131, 86, 101, 66, T0 + dt.timedelta(seconds=20))
    seen += oximeter(61, T0.replace(second=0) + dt.timedelta(minutes=1))  # 61 s: 2 minutes
    rows = history(readings_of(seen))
    assert [(r.device, r.readings) for r in rows] == [
        ("Oxymètre", 1),
        ("Oxymètre", 60),
        ("Tensiomètre", 1),
        ("Tensiomètre", 1),
    ]
    assert [(i.label, i.text) for i in rows[-1].items] == [
        ("PAS/PAD (PAM)", "128/84 (99) mmHg"),
        ("pouls", "67 /min"),
    ]
    assert [(i.label, i.text) for i in rows[1].items] == [
        ("SpO2", "95–98 % (dernier 98)"),
        ("pouls", "70–72 /min (dernier 72)"),
    ]
    assert rows[1].items[0].alert  # 95 % is below the alert range (NEWS2: 96 and above)


@pytest.mark.parametrize(
    ("kind", "value", "unit", "status"),
    [
        ("blood_pressure_systolic", 139, "mm[Hg]", RangeStatus.NORMAL),
        ("blood_pressure_systolic", 140, "mm[Hg]", RangeStatus.ALERT),
        ("blood_pressure_diastolic", 21.4, "kPa", RangeStatus.ALERT),  # 160 mmHg
        ("body_temperature", 101.0, "[degF]", RangeStatus.ALERT),  # 38.3 °C
        ("body_temperature", 98.6, "[degF]", RangeStatus.NORMAL),
        ("spo2", 40, "%", RangeStatus.IMPLAUSIBLE),
        ("body_weight", 80, "kg", RangeStatus.NORMAL),  # no alert range
    ],
)
def test_alert_ranges_come_from_the_registry(
    kind: str, value: float, unit: str, status: RangeStatus
) -> None:
    assert range_status(kind, value, unit) is status


def test_the_page_gets_the_registrys_labels_to_render_live() -> None:
    config = vitals_view([], "Europe/Paris")["config"]
    assert isinstance(config, dict)
    assert config["alert_label"] == "hors normes"
    assert config["measures"][0]["kinds"] == [  # type: ignore[index]
        "blood_pressure_systolic",
        "blood_pressure_diastolic",
        "blood_pressure_mean",
    ]


@dataclass(frozen=True)
class Device:
    cabin_id: int
    name: str
    model: str


def test_each_tile_measures_with_the_devices_the_registry_says_can_measure_it() -> None:
    """The cuff and the oximeter both give a pulse; the stethoscope measures nothing on
    demand; a model the registry does not know gets no button."""
    trolley = [
        Device(3, "Tensiomètre", "generic_gatt_cuff"),
        Device(3, "Oxymètre", "contec_cms50d_plus"),
        Device(3, "Thermomètre", "generic_gatt_thermometer"),
        Device(3, "Stéthoscope", "usb_stethoscope"),
        Device(3, "Inconnu", "no_such_model"),
    ]
    found = measuring_devices(trolley)
    assert found == {
        "blood_pressure": [MeasuringDevice(3, "Tensiomètre")],
        "pulse_rate": [MeasuringDevice(3, "Tensiomètre"), MeasuringDevice(3, "Oxymètre")],
        "spo2": [MeasuringDevice(3, "Oxymètre")],
        "body_temperature": [MeasuringDevice(3, "Thermomètre")],
    }
