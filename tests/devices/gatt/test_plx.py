"""PLX Spot-Check Measurement, PLX Continuous Measurement and PLX Features."""

from __future__ import annotations

import pytest

from devices.errors import FrameError
from devices.gatt.plx import (
    PlxContinuousMeasurement,
    PlxDeviceSensorStatus,
    PlxFeatures,
    PlxMeasurementStatus,
    PlxSpotCheckMeasurement,
    PlxSupportedFeatures,
)
from devices.gatt.time import DateTime
from devices.ieee11073 import Sfloat

SPOT_CHECK_ALL = bytes.fromhex("0f 6200 4100 e807030108 0f1e 8000 200000 19f0".replace(" ", ""))


def test_minimal_spot_check() -> None:
    """00 | 6100 | 4800: no options, SpO2 97 %, pulse rate 72 /min."""
    m = PlxSpotCheckMeasurement.parse(bytes.fromhex("0061004800"))
    assert (m.spo2.value, m.pulse_rate.value) == (97, 72)
    assert (m.timestamp, m.measurement_status, m.device_and_sensor_status) == (None, None, None)
    assert m.perfusion_index is None and not m.device_clock_not_set


def test_spot_check_with_every_field() -> None:
    """0f | 6200 | 4100 | e807 03 01 08 0f 1e | 8000 | 200000 | 19f0.

    SpO2 98, PR 65, 2024-03-01 08:15:30, measurement status 0x0080 (validated data),
    device and sensor status 0x000020 (low perfusion), PAI 0xF019 = 25e-1 = 2.5 %.
    """
    m = PlxSpotCheckMeasurement.parse(SPOT_CHECK_ALL)
    assert (m.spo2.value, m.pulse_rate.value) == (98, 65)
    assert m.timestamp == DateTime(2024, 3, 1, 8, 15, 30)
    assert m.measurement_status == PlxMeasurementStatus(validated_data=True)
    assert m.device_and_sensor_status == PlxDeviceSensorStatus(low_perfusion_detected=True)
    assert m.perfusion_index == Sfloat(25, -1)
    assert bytes(m) == SPOT_CHECK_ALL


def test_clock_not_set_flag() -> None:
    m = PlxSpotCheckMeasurement.parse(bytes.fromhex("1061004800"))
    assert m.device_clock_not_set
    assert bytes(m) == bytes.fromhex("1061004800")


def test_measurement_status_bit_names() -> None:
    status = PlxMeasurementStatus.from_int(0xFFE0)
    assert status.set_flags() == {
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
    }
    assert int(status) == 0xFFE0
    assert PlxMeasurementStatus.from_int(0x001F) == PlxMeasurementStatus()


def test_device_and_sensor_status_bits() -> None:
    assert PlxDeviceSensorStatus.from_int(1 << 15) == PlxDeviceSensorStatus(
        sensor_disconnected=True
    )
    assert PlxDeviceSensorStatus.from_int(1 << 11).sensor_unconnected_to_user
    assert PlxDeviceSensorStatus.from_int(0xFF0000) == PlxDeviceSensorStatus()
    assert int(PlxDeviceSensorStatus.from_int(0xFFFF)) == 0xFFFF


def test_continuous_with_fast_slow_and_perfusion_index() -> None:
    """1f | 6100 4800 | 6000 4a00 | 6100 4700 | 0000 | 000000 | 0ef0.

    Normal 97 %/72, fast 96 %/74, slow 97 %/71, empty statuses, PAI 14e-1 = 1.4 %.
    """
    data = bytes.fromhex("1f610048006000 4a00 6100 4700 0000 000000 0ef0".replace(" ", ""))
    m = PlxContinuousMeasurement.parse(data)
    assert (m.spo2.value, m.pulse_rate.value) == (97, 72)
    assert m.spo2_fast == Sfloat(96) and m.pulse_rate_fast == Sfloat(74)
    assert m.spo2_slow == Sfloat(97) and m.pulse_rate_slow == Sfloat(71)
    assert m.measurement_status == PlxMeasurementStatus()
    assert m.device_and_sensor_status == PlxDeviceSensorStatus()
    assert m.perfusion_index is not None and m.perfusion_index.value == 1.4
    assert bytes(m) == data


def test_continuous_fast_and_pulse_rate_go_together() -> None:
    with pytest.raises(ValueError, match="spo2_fast and pulse_rate_fast go together"):
        PlxContinuousMeasurement(Sfloat(97), Sfloat(70), spo2_fast=Sfloat(96))


def test_continuous_too_short() -> None:
    with pytest.raises(FrameError) as error:
        PlxContinuousMeasurement.parse(bytes.fromhex("0361004800"))
    assert str(error.value) == (
        "PLX continuous measurement too short: flags 0x03 need 13 bytes, got 5"
    )


def test_features_with_both_supports() -> None:
    """0300 | e0ff | ffff00: status supports present, all their bits supported."""
    data = bytes.fromhex("0300e0ffffff00")
    features = PlxFeatures.parse(data)
    assert features.supported == PlxSupportedFeatures(
        measurement_status_support=True, device_and_sensor_status_support=True
    )
    assert features.measurement_status_support == PlxMeasurementStatus.from_int(0xFFE0)
    assert features.device_and_sensor_status_support == PlxDeviceSensorStatus.from_int(0xFFFF)
    assert bytes(features) == data


def test_features_without_supports() -> None:
    features = PlxFeatures.parse(bytes.fromhex("6c00"))
    assert features.supported.set_flags() == {
        "measurement_storage_for_spot_check",
        "timestamp_for_spot_check",
        "spo2pr_slow_metric",
        "pulse_amplitude_index",
    }
    assert features.measurement_status_support is None
    assert bytes(features) == bytes.fromhex("6c00")


def test_features_too_short() -> None:
    with pytest.raises(FrameError) as error:
        PlxFeatures.parse(bytes.fromhex("0200ffff"))
    assert str(error.value) == (
        "PLX features too short: device and sensor status support needs 3 bytes at offset 2, 2 left"
    )
