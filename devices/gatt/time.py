"""Date Time (0x2A08) and Current Time (0x2A2B) characteristics.

Date Time is 7 bytes: year (uint16, 1582..9999, 0 = unknown), month (1..12, 0 = unknown),
day (1..31, 0 = unknown), hours (0..23), minutes (0..59), seconds (0..59). It is local time
with no zone. Current Time adds the day of week (0 = unknown, 1 = Monday .. 7 = Sunday),
fractions of a second in 1/256 and an adjust-reason bit field: 10 bytes in all.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import ClassVar, Self

from devices._bits import BitFlags
from devices.errors import FrameError
from devices.gatt._codec import Reader

__all__ = ["AdjustReason", "CurrentTime", "DateTime", "DayOfWeek"]


@dataclass(frozen=True, slots=True)
class DateTime:
    """A GATT Date Time; year, month and day may be 0 (unknown)."""

    SIZE: ClassVar[int] = 7

    year: int
    month: int
    day: int
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    def __post_init__(self) -> None:
        if self.year != 0 and not 1582 <= self.year <= 9999:
            raise ValueError(f"year {self.year} out of range 1582..9999 (0 = unknown)")
        for name, value, low, top in (
            ("month", self.month, 1, 12),
            ("day", self.day, 1, 31),
            ("hours", self.hours, 0, 23),
            ("minutes", self.minutes, 0, 59),
            ("seconds", self.seconds, 0, 59),
        ):
            may_be_unknown = name in ("month", "day")
            if may_be_unknown and value == 0:
                continue
            if not low <= value <= top:
                unknown = " (0 = unknown)" if may_be_unknown else ""
                raise ValueError(f"{name} {value} out of range {low}..{top}{unknown}")
        if self.is_complete:
            try:
                dt.date(self.year, self.month, self.day)
            except ValueError:
                raise ValueError(
                    f"{self.year:04d}-{self.month:02d}-{self.day:02d} is not a calendar date"
                ) from None

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode the 7-byte Date Time at the start of `data`."""
        return cls.read(Reader(data, "date time"), "date time")

    @classmethod
    def read(cls, reader: Reader, what: str) -> Self:
        """Decode a Date Time field at the reader's position."""
        reader.need(cls.SIZE, what)
        fields = (reader.u16(what), *(reader.u8(what) for _ in range(5)))
        try:
            return cls(*fields)
        except ValueError as error:
            raise FrameError(f"{what}: {error}") from None

    @classmethod
    def from_datetime(cls, moment: dt.datetime) -> Self:
        """Return the Date Time of a (local, zone-less on the wire) datetime."""
        return cls(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)

    def __bytes__(self) -> bytes:
        return self.year.to_bytes(2, "little") + bytes(
            (self.month, self.day, self.hours, self.minutes, self.seconds)
        )

    @property
    def is_complete(self) -> bool:
        """True when year, month and day are all known."""
        return self.year != 0 and self.month != 0 and self.day != 0

    def to_datetime(self) -> dt.datetime | None:
        """The naive local datetime, or None when the year, month or day is unknown."""
        if not self.is_complete:
            return None
        return dt.datetime(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)

    def isoformat(self) -> str:
        """ISO 8601; unknown parts are written with X digits (ISO 8601-2 unspecified)."""
        year = f"{self.year:04d}" if self.year else "XXXX"
        month = f"{self.month:02d}" if self.month else "XX"
        day = f"{self.day:02d}" if self.day else "XX"
        return f"{year}-{month}-{day}T{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}"


class DayOfWeek(enum.IntEnum):
    UNKNOWN = 0
    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7


@dataclass(frozen=True, slots=True)
class AdjustReason(BitFlags):
    """Why the server's time was last changed."""

    BITS: ClassVar[tuple[str, ...]] = (
        "manual_time_update",
        "external_reference_time_update",
        "change_of_time_zone",
        "change_of_dst",
    )

    manual_time_update: bool = False
    external_reference_time_update: bool = False
    change_of_time_zone: bool = False
    change_of_dst: bool = False


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """The Current Time characteristic (0x2A2B), 10 bytes."""

    SIZE: ClassVar[int] = 10

    date_time: DateTime
    day_of_week: DayOfWeek = DayOfWeek.UNKNOWN
    fractions256: int = 0
    adjust_reason: AdjustReason = field(default_factory=AdjustReason)

    def __post_init__(self) -> None:
        if not 0 <= self.fractions256 <= 255:
            raise ValueError(f"fractions256 {self.fractions256} out of range 0..255")

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode a Current Time value; FrameError on a short value or bad field."""
        reader = Reader(data, "current time")
        reader.need(cls.SIZE, "current time")
        date_time = DateTime.read(reader, "current time")
        day = reader.u8("day of week")
        if day > 7:
            raise FrameError(f"current time: day of week {day} out of range 0..7")
        return cls(
            date_time,
            DayOfWeek(day),
            reader.u8("fractions256"),
            AdjustReason.from_int(reader.u8("adjust reason")),
        )

    @classmethod
    def from_datetime(cls, moment: dt.datetime, adjust_reason: AdjustReason | None = None) -> Self:
        """Return the Current Time of a local datetime (fractions from its microseconds)."""
        return cls(
            DateTime.from_datetime(moment),
            DayOfWeek(moment.isoweekday()),
            moment.microsecond * 256 // 1_000_000,
            adjust_reason or AdjustReason(),
        )

    def __bytes__(self) -> bytes:
        return bytes(self.date_time) + bytes(
            (self.day_of_week, self.fractions256, int(self.adjust_reason))
        )
