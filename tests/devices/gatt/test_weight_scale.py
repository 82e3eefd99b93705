"""Weight Measurement and Weight Scale Feature (GATT Weight Scale service, 0x181D)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.catalogue import get_model
from devices.errors import FrameError
from devices.gatt.time import DateTime
from devices.gatt.weight_scale import (
    WEIGHT_UNSUCCESSFUL,
    WeightMeasurement,
    WeightScaleFeature,
    WeightUnit,
)
from devices.measurements import (
    MAX_PLAUSIBLE_WEIGHT_KG,
    PLAUSIBLE_LIMITS,
    DeviceIdentity,
    MeasurementKind,
    PlausibilityFilter,
    Unit,
    to_measurements,
)

NOW = dt.datetime(2026, 11, 22, 10, 16, tzinfo=dt.UTC)
SCALE = DeviceIdentity("generic_gatt_weight_scale", serial="WS-1")


def test_si_weighing_with_every_option() -> None:
    """0e | 9038 | ea070b160a0f1e | 01 | ec00 | d806.

    flags 0x0e: SI, time stamp, user id, BMI and height present; weight 0x3890 = 14480
    × 0.005 kg = 72.4 kg; 2026-11-22 10:15:30; user 1; BMI 0x00ec = 236 × 0.1 = 23.6 kg/m²;
    height 0x06d8 = 1752 × 0.001 m = 1.752 m.
    """
    data = bytes.fromhex("0e9038ea070b160a0f1e01ec00d806")
    m = WeightMeasurement.parse(data)
    assert (m.weight, m.unit) == (72.4, WeightUnit.KILOGRAM)
    assert m.timestamp == DateTime(2026, 11, 22, 10, 15, 30)
    assert (m.user_id, m.bmi, m.height) == (1, 23.6, 1.752)
    assert bytes(m) == data


def test_imperial_weighing_without_options() -> None:
    """01 | 583e: flags 0x01 (imperial), weight 0x3e58 = 15960 × 0.01 lb = 159.6 lb."""
    m = WeightMeasurement.parse(bytes.fromhex("01583e"))
    assert (m.weight, m.unit) == (159.6, WeightUnit.POUND)
    assert (m.timestamp, m.user_id, m.bmi, m.height) == (None, None, None, None)


def test_imperial_height_is_in_inches() -> None:
    """09 | 583e | f500 | b802: imperial with BMI 24.5 and height 0x02b8 = 696 × 0.1 = 69.6 in."""
    m = WeightMeasurement.parse(bytes.fromhex("09583ef500b802"))
    assert (m.bmi, m.height) == (24.5, 69.6)


@pytest.mark.parametrize(
    ("hex_data", "message"),
    [
        ("", "weight measurement too short: flags needs 1 bytes at offset 0, 0 left"),
        ("0090", "weight measurement too short: flags 0x00 need 3 bytes, got 2"),
        ("029038", "weight measurement too short: flags 0x02 need 10 bytes, got 3"),
        ("0c9038ec00", "weight measurement too short: flags 0x0c need 8 bytes, got 5"),
    ],
)
def test_short_values_say_what_is_missing(hex_data: str, message: str) -> None:
    with pytest.raises(FrameError) as error:
        WeightMeasurement.parse(bytes.fromhex(hex_data))
    assert str(error.value) == message


def test_bmi_and_height_travel_together() -> None:
    with pytest.raises(ValueError, match="bmi_raw and height_raw go together"):
        WeightMeasurement(14480, bmi_raw=236)


def test_a_weighing_becomes_a_body_weight_in_kg_timed_by_the_scale() -> None:
    m = WeightMeasurement.parse(bytes.fromhex("0e9038ea070b160a0f1e01ec00d806"))
    [weight] = to_measurements(m, device=SCALE, received_at=NOW)
    assert (weight.kind, weight.value, weight.unit) == (
        MeasurementKind.BODY_WEIGHT,
        72.4,
        Unit.KILOGRAM,
    )
    assert weight.loinc == "29463-7"
    assert weight.device_time == dt.datetime(2026, 11, 22, 10, 15, 30)
    assert weight.unit.display == "kg" and weight.kind.info.label == "Poids"


def test_pounds_stay_pounds_and_are_checked_in_kg() -> None:
    """155 lb ≈ 70.3 kg is plausible; 0.5 lb ≈ 0.23 kg (an empty platform) is not."""
    scale_filter = PlausibilityFilter()
    [weight] = to_measurements(
        WeightMeasurement.of(155.0, WeightUnit.POUND),
        device=SCALE,
        received_at=NOW,
        plausibility=scale_filter,
    )
    assert (weight.value, weight.unit) == (155.0, Unit.POUND)
    empty = WeightMeasurement.of(0.5, WeightUnit.POUND)
    assert to_measurements(empty, device=SCALE, received_at=NOW, plausibility=scale_filter) == []
    assert scale_filter.dropped == 1


def test_an_unsuccessful_weighing_gives_no_measurement() -> None:
    """00 | ffff: weight 0xffff means "measurement unsuccessful"."""
    m = WeightMeasurement.parse(bytes.fromhex("00ffff"))
    assert m.weight_raw == WEIGHT_UNSUCCESSFUL and m.weight is None
    assert to_measurements(m, device=SCALE, received_at=NOW) == []


def test_feature_with_time_stamp_and_finest_resolution() -> None:
    """39000000: bit 0 time stamp; bits 3-6 = 7 (0.005 kg); no BMI, height unspecified."""
    data = bytes.fromhex("39000000")
    feature = WeightScaleFeature.parse(data)
    assert feature == WeightScaleFeature(time_stamp_supported=True, weight_resolution=7)
    assert bytes(feature) == data
    with pytest.raises(FrameError) as error:
        WeightScaleFeature.parse(b"\x39\x00")
    assert str(error.value) == "weight scale feature too short: needs 4 bytes, got 2"


def test_the_registry_describes_the_scale_once() -> None:
    """Label, "Mesurer", limits and simulator all come from the one model record."""
    model = get_model("generic_gatt_weight_scale")
    assert (model.label, model.measurable) == ("Pèse-personne", True)
    assert model.plausible_limits == {
        MeasurementKind.BODY_WEIGHT: PLAUSIBLE_LIMITS[MeasurementKind.BODY_WEIGHT]
    }
    assert PLAUSIBLE_LIMITS[MeasurementKind.BODY_WEIGHT].maximum == MAX_PLAUSIBLE_WEIGHT_KG
    assert model.simulator is not None and model.simulator.name == "SimulatedWeightScale"


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    grams=st.integers(0, 327_670).map(lambda g: g - g % 5),
    pounds=st.booleans(),
    user=st.one_of(st.none(), st.integers(0, 255)),
    body=st.one_of(st.none(), st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))),
)
def test_weighings_round_trip(
    grams: int, pounds: bool, user: int | None, body: tuple[int, int] | None
) -> None:
    unit = WeightUnit.POUND if pounds else WeightUnit.KILOGRAM
    weight = grams / 1000 if not pounds else round(grams / 5) / 100
    m = WeightMeasurement.of(weight, unit, user_id=user)
    if body is not None:
        m = WeightMeasurement(m.weight_raw, unit, None, user, *body)
    assert WeightMeasurement.parse(bytes(m)) == m
    assert m.weight == pytest.approx(weight)
