"""IEEE 11073-20601 SFLOAT and FLOAT: numbers, special values, encoding and errors."""

from __future__ import annotations

import math

import pytest

from devices.errors import FrameError
from devices.ieee11073 import Float11073, Sfloat, SpecialValue, parse_float, parse_sfloat

SFLOAT_SPECIALS = [
    (0x07FF, SpecialValue.NAN),
    (0x0800, SpecialValue.NRES),
    (0x07FE, SpecialValue.POSITIVE_INFINITY),
    (0x0802, SpecialValue.NEGATIVE_INFINITY),
    (0x0801, SpecialValue.RESERVED),
]
FLOAT_SPECIALS = [
    (0x007FFFFF, SpecialValue.NAN),
    (0x00800000, SpecialValue.NRES),
    (0x007FFFFE, SpecialValue.POSITIVE_INFINITY),
    (0x00800002, SpecialValue.NEGATIVE_INFINITY),
    (0x00800001, SpecialValue.RESERVED),
]


@pytest.mark.parametrize(("raw", "special"), SFLOAT_SPECIALS)
def test_sfloat_special_values(raw: int, special: SpecialValue) -> None:
    value = parse_sfloat(raw.to_bytes(2, "little"))
    assert value.special is special
    assert not value.is_number
    assert value.raw == raw
    assert bytes(Sfloat.special_value(special)) == raw.to_bytes(2, "little")
    assert value.to_json() == str(special)


@pytest.mark.parametrize(("raw", "special"), FLOAT_SPECIALS)
def test_float_special_values(raw: int, special: SpecialValue) -> None:
    value = parse_float(raw.to_bytes(4, "little"))
    assert value.special is special
    assert value.raw == raw
    assert bytes(Float11073.special_value(special)) == raw.to_bytes(4, "little")


def test_special_values_as_floats() -> None:
    assert math.isnan(Sfloat.special_value(SpecialValue.NAN).value)
    assert math.isnan(Sfloat.special_value(SpecialValue.NRES).value)
    assert math.isnan(Float11073.special_value(SpecialValue.RESERVED).value)
    assert Sfloat.special_value(SpecialValue.POSITIVE_INFINITY).value == math.inf
    assert Float11073.special_value(SpecialValue.NEGATIVE_INFINITY).value == -math.inf


def test_special_mantissa_with_nonzero_exponent_is_a_number() -> None:
    """0xF7FF: exponent -1, mantissa 2047 -> 204.7, not NaN."""
    value = parse_sfloat(bytes.fromhex("fff7"))
    assert value.special is None
    assert value.value == pytest.approx(204.7)


@pytest.mark.parametrize(
    ("wire", "mantissa", "exponent", "number"),
    [
        ("7800", 120, 0, 120.0),  # 0x0078: a systolic pressure of 120 mmHg
        ("6ef1", 366, -1, 36.6),  # 0xF16E: 36.6
        ("ffff", -1, -1, -0.1),  # 0xFFFF: mantissa -1, exponent -1
        ("0080", 0, -8, 0.0),
        ("ff17", 2047, 1, 20470.0),  # 0x17FF: exponent +1
        ("0108", -2047, 0, math.nan),  # 0x0801 is the reserved value
    ],
)
def test_sfloat_numbers(wire: str, mantissa: int, exponent: int, number: float) -> None:
    value = parse_sfloat(bytes.fromhex(wire))
    assert (value.mantissa, value.exponent) == (mantissa, exponent)
    if math.isnan(number):
        assert math.isnan(value.value)
    else:
        assert value.value == pytest.approx(number)
    assert bytes(value) == bytes.fromhex(wire)


def test_float_health_thermometer_value() -> None:
    """FLOAT 0xFF00016E = 366 x 10^-1 = 36.6 (Cel), as sent by Health Thermometers."""
    value = parse_float(bytes.fromhex("6e0100ff"))
    assert (value.mantissa, value.exponent) == (366, -1)
    assert value.value == 36.6
    assert str(value) == "36.6"


def test_float_negative_mantissa_and_positive_exponent() -> None:
    """0x02FFFFFE: exponent 2, mantissa -2 -> -200."""
    value = parse_float(bytes.fromhex("feffff02"))
    assert (value.mantissa, value.exponent, value.value) == (-2, 2, -200.0)


def test_parse_at_offset() -> None:
    assert parse_sfloat(bytes.fromhex("00007800"), 2).value == 120.0
    assert parse_float(bytes.fromhex("aa6e0100ff"), 1).value == 36.6


def test_short_input_messages() -> None:
    with pytest.raises(FrameError) as sfloat_error:
        parse_sfloat(b"\x01\x02\x03", 2)
    assert str(sfloat_error.value) == "SFLOAT at offset 2 needs 2 bytes, got 1"
    with pytest.raises(FrameError) as float_error:
        parse_float(b"\x01\x02")
    assert str(float_error.value) == "FLOAT at offset 0 needs 4 bytes, got 2"


@pytest.mark.parametrize(
    ("number", "mantissa", "exponent"),
    [
        (36.6, 366, -1),
        (120, 120, 0),
        (0, 0, 0),
        (-0.5, -5, -1),
        (98.25, 9825, -2),
        (1500, 1500, 0),
        (30000, 300, 2),
    ],
)
def test_from_float_picks_the_shortest_exact_form(
    number: float, mantissa: int, exponent: int
) -> None:
    value = Float11073.from_float(number) if abs(mantissa) > 2045 else Sfloat.from_float(number)
    assert (value.mantissa, value.exponent) == (mantissa, exponent)


def test_from_float_rounds_when_the_mantissa_would_not_fit() -> None:
    assert Sfloat.from_float(98.123) == Sfloat(981, -1)
    assert Sfloat.from_float(36.66, exponent=-1) == Sfloat(367, -1)
    assert Float11073.from_float(37.123456789) == Float11073(3712346, -5)


def test_from_float_specials_and_range() -> None:
    assert Sfloat.from_float(math.nan).special is SpecialValue.NAN
    assert Float11073.from_float(-math.inf).special is SpecialValue.NEGATIVE_INFINITY
    with pytest.raises(ValueError, match="out of the SFLOAT range"):
        Sfloat.from_float(1e12)
    with pytest.raises(ValueError, match="does not fit a SFLOAT with exponent 0"):
        Sfloat.from_float(5000, exponent=0)


def test_constructor_checks_ranges() -> None:
    with pytest.raises(ValueError, match=r"SFLOAT mantissa 2048 out of range -2048\.\.2047"):
        Sfloat(2048, 0)
    with pytest.raises(ValueError, match=r"FLOAT exponent 128 out of range -128\.\.127"):
        Float11073(1, 128)


def test_every_sfloat_round_trips() -> None:
    for raw in range(0x10000):
        assert Sfloat.from_raw(raw).raw == raw
