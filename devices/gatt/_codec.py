"""A bounded little-endian reader shared by the GATT codecs."""

from __future__ import annotations

from devices.errors import FrameError
from devices.ieee11073 import Float11073, Sfloat

__all__ = ["Reader"]


class Reader:
    """Reads little-endian fields from a characteristic value, with readable errors."""

    __slots__ = ("_data", "_name", "offset")

    def __init__(self, data: bytes, name: str) -> None:
        self._data = bytes(data)
        self._name = name
        self.offset = 0

    def need(self, size: int, what: str) -> None:
        """Raise FrameError unless `size` more bytes are available for `what`."""
        remaining = len(self._data) - self.offset
        if remaining < size:
            raise FrameError(
                f"{self._name} too short: {what} needs {size} bytes at offset {self.offset},"
                f" {remaining} left"
            )

    def take(self, size: int, what: str) -> bytes:
        self.need(size, what)
        chunk = self._data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "little")

    def u8(self, what: str) -> int:
        return self.uint(1, what)

    def u16(self, what: str) -> int:
        return self.uint(2, what)

    def u24(self, what: str) -> int:
        return self.uint(3, what)

    def sfloat(self, what: str) -> Sfloat:
        return Sfloat.from_raw(self.uint(2, what))

    def float32(self, what: str) -> Float11073:
        return Float11073.from_raw(self.uint(4, what))
