"""Bit fields as frozen dataclasses of booleans (shared by GATT and serial codecs)."""

from __future__ import annotations

from typing import ClassVar, Self

__all__ = ["BitFlags", "flag_byte"]


def flag_byte(*bits: bool) -> int:
    """Return the integer whose bit i is `bits[i]`."""
    return sum(1 << index for index, bit in enumerate(bits) if bit)


class BitFlags:
    """Mixin for frozen dataclasses of booleans named after a bit field's bits.

    Subclasses list their field names in `BITS`, index = bit position, "" for a bit that is
    reserved for future use (ignored when decoding, zero when encoding).
    """

    __slots__ = ()

    BITS: ClassVar[tuple[str, ...]]

    @classmethod
    def from_int(cls, raw: int) -> Self:
        """Return the flags of `raw`; reserved bits are ignored."""
        values = {name: bool(raw >> bit & 1) for bit, name in enumerate(cls.BITS) if name}
        return cls(**values)

    def __int__(self) -> int:
        return sum(1 << bit for bit, name in enumerate(self.BITS) if name and getattr(self, name))

    def set_flags(self) -> frozenset[str]:
        """Return the names of the bits that are set."""
        return frozenset(name for name in self.BITS if name and getattr(self, name))
