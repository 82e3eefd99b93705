"""IEEE 11073-20601 medical floats: the 16-bit SFLOAT and the 32-bit FLOAT.

Both are a signed base-10 exponent and a signed two's-complement mantissa, little-endian on
the wire (as Bluetooth GATT health services carry them). With an exponent of zero, five
mantissa values are not numbers but special values: NaN, NRes (not at this resolution),
+INF, -INF and one reserved for future use.

| value    | SFLOAT (16 bits) | FLOAT (32 bits) |
|----------|------------------|-----------------|
| NaN      | 0x07FF           | 0x007FFFFF      |
| NRes     | 0x0800           | 0x00800000      |
| +INF     | 0x07FE           | 0x007FFFFE      |
| -INF     | 0x0802           | 0x00800002      |
| reserved | 0x0801           | 0x00800001      |
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import ClassVar, Self

from devices.errors import FrameError

__all__ = [
    "Float11073",
    "Sfloat",
    "SpecialValue",
    "parse_float",
    "parse_sfloat",
]


class SpecialValue(enum.StrEnum):
    """The reserved encodings; their string is how they appear in JSON."""

    NAN = "NaN"
    NRES = "NRes"
    POSITIVE_INFINITY = "+INF"
    NEGATIVE_INFINITY = "-INF"
    RESERVED = "reserved"


# Mantissa (with exponent 0) of each special value, relative to the largest mantissa M:
# NaN = M, NRes = -(M+1), +INF = M-1, -INF = -(M-1), reserved = -M.
def _special_mantissas(largest: int) -> dict[int, SpecialValue]:
    return {
        largest: SpecialValue.NAN,
        -(largest + 1): SpecialValue.NRES,
        largest - 1: SpecialValue.POSITIVE_INFINITY,
        -(largest - 1): SpecialValue.NEGATIVE_INFINITY,
        -largest: SpecialValue.RESERVED,
    }


_SPECIAL_FLOATS: dict[SpecialValue, float] = {
    SpecialValue.NAN: math.nan,
    SpecialValue.NRES: math.nan,
    SpecialValue.RESERVED: math.nan,
    SpecialValue.POSITIVE_INFINITY: math.inf,
    SpecialValue.NEGATIVE_INFINITY: -math.inf,
}


class _MderFloat:
    """Shared behaviour of SFLOAT and FLOAT; subclasses set the field widths."""

    __slots__ = ()

    NAME: ClassVar[str]
    SIZE: ClassVar[int]
    MANTISSA_BITS: ClassVar[int]
    EXPONENT_BITS: ClassVar[int]
    _SPECIALS: ClassVar[dict[int, SpecialValue]]

    mantissa: int
    exponent: int

    # -- limits -------------------------------------------------------------------------
    @classmethod
    def _mantissa_max(cls) -> int:
        return (1 << (cls.MANTISSA_BITS - 1)) - 1

    @classmethod
    def _exponent_range(cls) -> tuple[int, int]:
        half = 1 << (cls.EXPONENT_BITS - 1)
        return -half, half - 1

    def _validate(self) -> None:
        top = self._mantissa_max()
        if not -(top + 1) <= self.mantissa <= top:
            raise ValueError(
                f"{self.NAME} mantissa {self.mantissa} out of range {-(top + 1)}..{top}"
            )
        low, high = self._exponent_range()
        if not low <= self.exponent <= high:
            raise ValueError(f"{self.NAME} exponent {self.exponent} out of range {low}..{high}")

    # -- decoding -----------------------------------------------------------------------
    @classmethod
    def from_raw(cls, raw: int) -> Self:
        """Return the value of one raw unsigned integer as read from the wire."""
        mantissa = raw & ((1 << cls.MANTISSA_BITS) - 1)
        if mantissa >= 1 << (cls.MANTISSA_BITS - 1):
            mantissa -= 1 << cls.MANTISSA_BITS
        exponent = raw >> cls.MANTISSA_BITS
        if exponent >= 1 << (cls.EXPONENT_BITS - 1):
            exponent -= 1 << cls.EXPONENT_BITS
        return cls(mantissa, exponent)  # type: ignore[call-arg]

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> Self:
        """Decode the value at `offset` of `data` (little-endian)."""
        if offset < 0 or len(data) - offset < cls.SIZE:
            available = max(0, len(data) - max(offset, 0))
            raise FrameError(
                f"{cls.NAME} at offset {offset} needs {cls.SIZE} bytes, got {available}"
            )
        return cls.from_raw(int.from_bytes(data[offset : offset + cls.SIZE], "little"))

    # -- encoding -----------------------------------------------------------------------
    @classmethod
    def special_value(cls, special: SpecialValue) -> Self:
        """Return the encoding of one special value."""
        for mantissa, name in cls._SPECIALS.items():
            if name is special:
                return cls(mantissa, 0)  # type: ignore[call-arg]
        raise AssertionError(special)  # pragma: no cover - every member is in the table

    @classmethod
    def from_float(cls, value: float, exponent: int | None = None) -> Self:
        """Return the closest encoding of `value`; a fixed `exponent` sets the resolution.

        Without an exponent, the shortest exact decimal form is used (36.6 → 366e-1,
        120 → 120e0), rounding away digits only when the mantissa would not fit.
        NaN and infinities map to the special values. Raises ValueError when out of range.
        """
        if math.isnan(value):
            return cls.special_value(SpecialValue.NAN)
        if math.isinf(value):
            infinity = (
                SpecialValue.POSITIVE_INFINITY if value > 0 else SpecialValue.NEGATIVE_INFINITY
            )
            return cls.special_value(infinity)
        low, high = cls._exponent_range()
        limit = cls._mantissa_max() - 2  # keep clear of the special mantissas
        decimal = Decimal(repr(float(value)))
        if exponent is not None:
            if not low <= exponent <= high:
                raise ValueError(f"{cls.NAME} exponent {exponent} out of range {low}..{high}")
            mantissa = int(decimal.scaleb(-exponent).quantize(Decimal(1), ROUND_HALF_EVEN))
            if abs(mantissa) > limit:
                raise ValueError(f"{value} does not fit a {cls.NAME} with exponent {exponent}")
            return cls(mantissa, exponent)  # type: ignore[call-arg]
        sign, digits, exp = decimal.normalize().as_tuple()
        assert isinstance(exp, int)
        mantissa = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        if mantissa == 0:
            return cls(0, 0)  # type: ignore[call-arg]
        # Prefer exponent 0 for whole numbers that fit (120 rather than 12e1).
        while exp > 0 and abs(mantissa * 10) <= limit:
            mantissa, exp = mantissa * 10, exp - 1
        while exp > high:
            mantissa, exp = mantissa * 10, exp - 1
        # Drop digits (round half to even) while the mantissa or exponent is out of range.
        while (abs(mantissa) > limit or exp < low) and exp < high:
            mantissa = int((Decimal(mantissa) / 10).quantize(Decimal(1), ROUND_HALF_EVEN))
            exp += 1
        if abs(mantissa) > limit or exp < low:
            raise ValueError(f"{value} is out of the {cls.NAME} range")
        return cls(mantissa, exp)  # type: ignore[call-arg]

    @property
    def raw(self) -> int:
        """The unsigned integer sent on the wire."""
        mantissa = self.mantissa & ((1 << self.MANTISSA_BITS) - 1)
        exponent = self.exponent & ((1 << self.EXPONENT_BITS) - 1)
        return (exponent << self.MANTISSA_BITS) | mantissa

    def __bytes__(self) -> bytes:
        return self.raw.to_bytes(self.SIZE, "little")

    # -- reading ------------------------------------------------------------------------
    @property
    def special(self) -> SpecialValue | None:
        """The special value this encodes, or None for an ordinary number."""
        if self.exponent != 0:
            return None
        return self._SPECIALS.get(self.mantissa)

    @property
    def is_number(self) -> bool:
        """True for an ordinary finite number (not NaN, NRes, ±INF or reserved)."""
        return self.special is None

    @property
    def value(self) -> float:
        """The value as a float: NaN for NaN/NRes/reserved, ±inf for ±INF."""
        special = self.special
        if special is not None:
            return _SPECIAL_FLOATS[special]
        return float(Decimal(self.mantissa).scaleb(self.exponent))

    def to_json(self) -> float | str:
        """The number, or the special value's name ("NaN", "NRes", "+INF", "-INF")."""
        special = self.special
        return str(special) if special is not None else self.value

    def __str__(self) -> str:
        special = self.special
        if special is not None:
            return str(special)
        return f"{Decimal(self.mantissa).scaleb(self.exponent):f}"


@dataclass(frozen=True, slots=True)
class Sfloat(_MderFloat):
    """IEEE 11073-20601 SFLOAT: 4-bit exponent, 12-bit mantissa (2 bytes)."""

    NAME: ClassVar[str] = "SFLOAT"
    SIZE: ClassVar[int] = 2
    MANTISSA_BITS: ClassVar[int] = 12
    EXPONENT_BITS: ClassVar[int] = 4
    _SPECIALS: ClassVar[dict[int, SpecialValue]] = _special_mantissas(0x07FF)

    mantissa: int
    exponent: int = 0

    def __post_init__(self) -> None:
        self._validate()


@dataclass(frozen=True, slots=True)
class Float11073(_MderFloat):
    """IEEE 11073-20601 FLOAT: 8-bit exponent, 24-bit mantissa (4 bytes)."""

    NAME: ClassVar[str] = "FLOAT"
    SIZE: ClassVar[int] = 4
    MANTISSA_BITS: ClassVar[int] = 24
    EXPONENT_BITS: ClassVar[int] = 8
    _SPECIALS: ClassVar[dict[int, SpecialValue]] = _special_mantissas(0x007FFFFF)

    mantissa: int
    exponent: int = 0

    def __post_init__(self) -> None:
        self._validate()


def parse_sfloat(data: bytes, offset: int = 0) -> Sfloat:
    """Return the SFLOAT at `offset` of `data`; FrameError if fewer than 2 bytes remain."""
    return Sfloat.parse(data, offset)


def parse_float(data: bytes, offset: int = 0) -> Float11073:
    """Return the FLOAT at `offset` of `data`; FrameError if fewer than 4 bytes remain."""
    return Float11073.parse(data, offset)
