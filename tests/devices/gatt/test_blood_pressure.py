"""Blood Pressure Measurement, Intermediate Cuff Pressure and Blood Pressure Feature."""

from __future__ import annotations

import pytest

from devices.errors import FrameError
from devices.gatt.blood_pressure import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    BloodPressureStatus,
    IntermediateCuffPressure,
    PressureUnit,
    PulseRateRange,
)
from devices.gatt.time import DateTime
from devices.ieee11073 import Sfloat, SpecialValue

NORDIC_CAPTURE = bytes.fromhex("1e8a00580078000000041114293b3c00012700")


def test_nordic_capture_with_all_fields() -> None:
    """Nordic BPM capture 1e 8a00 5800 7800 0000 04 11 14 29 3b 3c00 01 2700.

    flags 0x1e: mmHg, time stamp, pulse rate, user id and status present.
    systolic 0x008a = 138, diastolic 0x0058 = 88, mean 0x0078 = 120 (mmHg, exponent 0).
    time stamp: year 0x0000 (unknown - the capture is often described as 2000-04-17, but the
    year bytes are 00 00), month 4, day 0x11 = 17, 0x14:0x29:0x3b = 20:41:59.
    pulse rate 0x003c = 60, user id 1, status 0x0027 = body movement, cuff fit loose,
    irregular pulse, pulse rate within range (bits 3-4 = 0), improper measurement position.
    """
    m = BloodPressureMeasurement.parse(NORDIC_CAPTURE)
    assert (m.systolic.value, m.diastolic.value, m.mean_arterial_pressure.value) == (138, 88, 120)
    assert m.unit is PressureUnit.MMHG
    assert m.timestamp == DateTime(0, 4, 17, 20, 41, 59)
    assert m.timestamp.to_datetime() is None
    assert m.timestamp.isoformat() == "XXXX-04-17T20:41:59"
    assert m.pulse_rate is not None and m.pulse_rate.value == 60
    assert m.user_id == 1
    assert m.status == BloodPressureStatus(
        body_movement_detected=True,
        cuff_fit_loose=True,
        irregular_pulse_detected=True,
        pulse_rate_range=PulseRateRange.WITHIN_RANGE,
        improper_measurement_position=True,
    )
    assert bytes(m) == NORDIC_CAPTURE


def test_minimal_measurement_in_kpa() -> None:
    """flags 0x01 (kPa); a0f0 = 160e-1, 6bf0 = 107e-1, 7df0 = 125e-1 kPa; nothing else."""
    m = BloodPressureMeasurement.parse(bytes.fromhex("01a0f06bf07df0"))
    assert m.unit is PressureUnit.KPA
    assert (m.systolic.value, m.diastolic.value, m.mean_arterial_pressure.value) == (
        16.0,
        10.7,
        12.5,
    )
    assert (m.timestamp, m.pulse_rate, m.user_id, m.status) == (None, None, None, None)
    assert bytes(m) == bytes.fromhex("01a0f06bf07df0")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (0x0008, PulseRateRange.EXCEEDS_UPPER_LIMIT),
        (0x0010, PulseRateRange.BELOW_LOWER_LIMIT),
        (0x0018, PulseRateRange.RESERVED),
    ],
)
def test_pulse_rate_range(status: int, expected: PulseRateRange) -> None:
    data = bytes.fromhex("107800500060 00") + status.to_bytes(2, "little")
    m = BloodPressureMeasurement.parse(data)
    assert m.status is not None and m.status.pulse_rate_range is expected
    assert int(m.status) == status
    assert bytes(m) == data


def test_round_trip_of_built_value() -> None:
    m = BloodPressureMeasurement(
        Sfloat(125),
        Sfloat(81),
        Sfloat(96),
        PressureUnit.MMHG,
        DateTime(2026, 11, 22, 9, 5, 0),
        Sfloat(64),
        255,
        BloodPressureStatus(irregular_pulse_detected=True),
    )
    assert BloodPressureMeasurement.parse(bytes(m)) == m
    assert bytes(m)[0] == 0x1E


def test_reserved_status_bits_are_ignored() -> None:
    m = BloodPressureMeasurement.parse(bytes.fromhex("1078005000600000ffc0"))
    assert m.status == BloodPressureStatus()


def test_too_short_for_its_flags() -> None:
    with pytest.raises(FrameError) as error:
        BloodPressureMeasurement.parse(NORDIC_CAPTURE[:12])
    assert str(error.value) == (
        "blood pressure measurement too short: flags 0x1e need 19 bytes, got 12"
    )


def test_empty_value() -> None:
    with pytest.raises(FrameError) as error:
        BloodPressureMeasurement.parse(b"")
    assert str(error.value) == (
        "blood pressure measurement too short: flags needs 1 bytes at offset 0, 0 left"
    )


def test_invalid_time_stamp() -> None:
    data = bytes.fromhex("02 7800 5000 6000 e807 0d 01 00 00 00")
    with pytest.raises(FrameError) as error:
        BloodPressureMeasurement.parse(data)
    assert str(error.value) == (
        "blood pressure measurement time stamp: month 13 out of range 1..12 (0 = unknown)"
    )


def test_intermediate_cuff_pressure() -> None:
    """flags 0x00; 0x0050 = 80 mmHg cuff pressure, diastolic and mean NaN (0x07FF)."""
    data = bytes.fromhex("005000ff07ff07")
    icp = IntermediateCuffPressure.parse(data)
    assert icp.cuff_pressure.value == 80
    assert icp.diastolic.special is SpecialValue.NAN
    assert icp.mean_arterial_pressure.special is SpecialValue.NAN
    assert IntermediateCuffPressure.of(Sfloat(80)) == icp
    assert bytes(icp) == data


def test_intermediate_cuff_pressure_error_names_the_characteristic() -> None:
    with pytest.raises(FrameError, match=r"^intermediate cuff pressure too short"):
        IntermediateCuffPressure.parse(bytes.fromhex("0050"))


def test_feature() -> None:
    """0x0027: body movement, cuff fit, irregular pulse and multiple bond supported."""
    feature = BloodPressureFeature.parse(bytes.fromhex("2700"))
    assert feature == BloodPressureFeature(
        body_movement_detection=True,
        cuff_fit_detection=True,
        irregular_pulse_detection=True,
        multiple_bond=True,
    )
    assert bytes(feature) == bytes.fromhex("2700")
    with pytest.raises(FrameError) as error:
        BloodPressureFeature.parse(b"\x01")
    assert str(error.value) == (
        "blood pressure feature too short: feature bits needs 2 bytes at offset 0, 1 left"
    )
