"""Turning decoded readings into Measurements: units, LOINC, flags, plausibility, JSON."""

from __future__ import annotations

import datetime as dt

import pytest

from devices.errors import ImplausibleReading
from devices.gatt.blood_pressure import (
    BloodPressureMeasurement,
    IntermediateCuffPressure,
    PressureUnit,
)
from devices.gatt.plx import (
    PlxContinuousMeasurement,
    PlxDeviceSensorStatus,
    PlxMeasurementStatus,
    PlxSpotCheckMeasurement,
)
from devices.gatt.thermometer import TemperatureMeasurement, TemperatureType, TemperatureUnit
from devices.gatt.time import DateTime
from devices.ieee11073 import Float11073, Sfloat, SpecialValue
from devices.measurements import (
    MAX_PLAUSIBLE_SPO2,
    DeviceIdentity,
    Measurement,
    MeasurementKind,
    PlausibilityFilter,
    StatusFlag,
    Unit,
    check_plausible,
    to_measurements,
)
from devices.serialproto.contec import Cms50LiveFrame
from devices.serialproto.nonin import NoninDf2Packet, NoninDf2Status, NoninDf8Frame, NoninDf8Status

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
CUFF = DeviceIdentity("generic_gatt_cuff", serial="SN1", firmware="1.2")
NAN = Sfloat.special_value(SpecialValue.NAN)


def _convert(value: object, plausibility: PlausibilityFilter | None = None) -> list[Measurement]:
    return to_measurements(value, device=CUFF, received_at=NOW, plausibility=plausibility)


def test_blood_pressure_reading() -> None:
    value = BloodPressureMeasurement.parse(bytes.fromhex("1e8a00580078000000041114293b3c00012700"))
    result = _convert(value)
    assert [(m.kind, m.value, m.unit, m.loinc) for m in result] == [
        (MeasurementKind.BLOOD_PRESSURE_SYSTOLIC, 138.0, Unit.MMHG, "8480-6"),
        (MeasurementKind.BLOOD_PRESSURE_DIASTOLIC, 88.0, Unit.MMHG, "8462-4"),
        (MeasurementKind.BLOOD_PRESSURE_MEAN, 120.0, Unit.MMHG, "8478-0"),
        (MeasurementKind.PULSE_RATE, 60.0, Unit.PER_MINUTE, "8867-4"),
    ]
    assert result[0].status == {
        StatusFlag.BODY_MOVEMENT,
        StatusFlag.CUFF_FIT_LOOSE,
        StatusFlag.IRREGULAR_PULSE,
        StatusFlag.IMPROPER_MEASUREMENT_POSITION,
    }
    assert result[0].device_time is None  # the capture's year is unknown
    assert result[0].device == CUFF and result[0].received_at == NOW


def test_special_values_are_left_out() -> None:
    value = BloodPressureMeasurement(
        Sfloat(120), Sfloat(80), NAN, pulse_rate=Sfloat.special_value(SpecialValue.NRES)
    )
    kinds = [m.kind for m in _convert(value)]
    assert kinds == [
        MeasurementKind.BLOOD_PRESSURE_SYSTOLIC,
        MeasurementKind.BLOOD_PRESSURE_DIASTOLIC,
    ]


def test_kpa_readings_keep_their_unit_and_are_checked_in_mmhg() -> None:
    value = BloodPressureMeasurement(
        Sfloat(160, -1),
        Sfloat(107, -1),
        Sfloat(125, -1),
        PressureUnit.KPA,
        DateTime(2026, 11, 22, 9, 59, 30),
    )
    plausibility = PlausibilityFilter()
    result = _convert(value, plausibility)
    assert [(m.value, m.unit) for m in result] == [
        (16.0, Unit.KPA),
        (10.7, Unit.KPA),
        (12.5, Unit.KPA),
    ]
    assert result[0].device_time == dt.datetime(2026, 11, 22, 9, 59, 30)
    assert plausibility.dropped == 0


def test_implausible_reading_is_dropped_whole_and_counted() -> None:
    plausibility = PlausibilityFilter()
    too_high = BloodPressureMeasurement(Sfloat(350), Sfloat(80), Sfloat(100), pulse_rate=Sfloat(70))
    assert _convert(too_high, plausibility) == []
    inverted = BloodPressureMeasurement(Sfloat(80), Sfloat(120), Sfloat(100))
    assert _convert(inverted, plausibility) == []
    assert plausibility.dropped == 2
    fine = BloodPressureMeasurement(Sfloat(120), Sfloat(80), Sfloat(93))
    assert len(_convert(fine, plausibility)) == 3
    assert plausibility.dropped == 2


def test_check_plausible_messages() -> None:
    spo2 = Measurement(MeasurementKind.SPO2, 101, Unit.PERCENT, NOW, CUFF)
    with pytest.raises(ImplausibleReading, match=r"^spo2 outside 50\.\.100$"):
        check_plausible([spo2])
    assert MAX_PLAUSIBLE_SPO2 == 100


def test_temperature_site_gives_the_loinc_code() -> None:
    value = TemperatureMeasurement(
        Float11073(366, -1), TemperatureUnit.CELSIUS, temperature_type=TemperatureType.MOUTH
    )
    [measurement] = _convert(value)
    assert (measurement.value, measurement.unit, measurement.loinc) == (
        36.6,
        Unit.CELSIUS,
        "8331-1",
    )
    body = TemperatureMeasurement(Float11073(986, -1), TemperatureUnit.FAHRENHEIT)
    [fahrenheit] = _convert(body, PlausibilityFilter())
    assert (fahrenheit.unit, fahrenheit.loinc) == (Unit.FAHRENHEIT, "8310-5")


def test_fahrenheit_fever_is_plausible_but_a_room_temperature_is_not() -> None:
    plausibility = PlausibilityFilter()
    assert _convert(
        TemperatureMeasurement(Float11073(1040, -1), TemperatureUnit.FAHRENHEIT), plausibility
    )
    assert not _convert(TemperatureMeasurement(Float11073(22)), plausibility)
    assert plausibility.dropped == 1


def test_intermediate_values_give_no_measurement() -> None:
    assert _convert(IntermediateCuffPressure.of(Sfloat(150))) == []


def test_plx_spot_check_with_flags() -> None:
    value = PlxSpotCheckMeasurement(
        Sfloat(97),
        Sfloat(72),
        DateTime(2026, 11, 22, 9, 0, 0),
        PlxMeasurementStatus(),
        PlxDeviceSensorStatus(low_perfusion_detected=True),
        Sfloat(25, -1),
    )
    result = _convert(value)
    assert [(m.kind, m.value, m.loinc) for m in result] == [
        (MeasurementKind.SPO2, 97.0, "59408-5"),
        (MeasurementKind.PULSE_RATE, 72.0, "8867-4"),
        (MeasurementKind.PERFUSION_INDEX, 2.5, "61006-3"),
    ]
    assert result[0].status == {StatusFlag.LOW_PERFUSION}
    assert result[0].device_time == dt.datetime(2026, 11, 22, 9, 0, 0)


def test_plx_clock_not_set_means_no_device_time() -> None:
    value = PlxSpotCheckMeasurement(
        Sfloat(97), Sfloat(72), DateTime(2000, 1, 1, 0, 0, 0), device_clock_not_set=True
    )
    assert {m.device_time for m in _convert(value)} == {None}


@pytest.mark.parametrize(
    "status",
    [
        PlxMeasurementStatus(data_for_demonstration=True),
        PlxMeasurementStatus(data_for_testing=True),
        PlxMeasurementStatus(invalid_measurement_detected=True),
        PlxMeasurementStatus(measurement_unavailable=True),
    ],
)
def test_plx_demonstration_or_invalid_data_is_never_stored(status: PlxMeasurementStatus) -> None:
    assert (
        _convert(PlxContinuousMeasurement(Sfloat(97), Sfloat(72), measurement_status=status)) == []
    )


def test_cms50_frame() -> None:
    frame = Cms50LiveFrame(5, False, False, True, 64, 7, False, False, 75, 98)
    assert [(m.kind, m.value) for m in _convert(frame)] == [
        (MeasurementKind.SPO2, 98.0),
        (MeasurementKind.PULSE_RATE, 75.0),
    ]
    finger_out = Cms50LiveFrame(0, True, False, False, 0, 0, False, True, 255, 127)
    assert _convert(finger_out) == []


def test_nonin_readings() -> None:
    packet = NoninDf2Packet.build(
        heart_rate=64, spo2=99, pleth=[0] * 25, status=NoninDf2Status(artifact=True)
    )
    result = _convert(packet)
    assert [(m.kind, m.value) for m in result] == [
        (MeasurementKind.SPO2, 99.0),
        (MeasurementKind.PULSE_RATE, 64.0),
    ]
    assert result[0].status == {StatusFlag.ARTIFACT}
    frame = NoninDf8Frame(NoninDf8Status(sensor_disconnect=True), None, None)
    assert _convert(frame) == []


def test_out_of_range_oximeter_value_is_dropped() -> None:
    plausibility = PlausibilityFilter()
    frame = NoninDf8Frame(NoninDf8Status(), 72, 120)
    assert _convert(frame, plausibility) == []
    assert plausibility.dropped == 1


def test_unknown_value_type() -> None:
    with pytest.raises(TypeError, match="str is not a device reading"):
        _convert("120/80")


def test_measurement_refuses_non_finite_values() -> None:
    with pytest.raises(ValueError, match="spo2 value must be a finite number, got nan"):
        Measurement(MeasurementKind.SPO2, float("nan"), Unit.PERCENT, NOW, CUFF)
