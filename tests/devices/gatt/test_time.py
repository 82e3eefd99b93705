"""Date Time and Current Time."""

from __future__ import annotations

import datetime as dt

import pytest

from devices.errors import FrameError
from devices.gatt.time import AdjustReason, CurrentTime, DateTime, DayOfWeek


def test_date_time() -> None:
    """e407 0a 0f 0c 1e 00 = 2020-10-15 12:30:00."""
    value = DateTime.parse(bytes.fromhex("e4070a0f0c1e00"))
    assert value == DateTime(2020, 10, 15, 12, 30, 0)
    assert value.to_datetime() == dt.datetime(2020, 10, 15, 12, 30)
    assert value.isoformat() == "2020-10-15T12:30:00"
    assert bytes(value) == bytes.fromhex("e4070a0f0c1e00")


def test_unknown_date() -> None:
    value = DateTime.parse(bytes(7))
    assert not value.is_complete
    assert value.to_datetime() is None
    assert value.isoformat() == "XXXX-XX-XXT00:00:00"


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ("e4070d0f0c1e00", "date time: month 13 out of range 1..12 (0 = unknown)"),
        ("e707021e000000", "date time: 2023-02-30 is not a calendar date"),
        ("e8030101000000", "date time: year 1000 out of range 1582..9999 (0 = unknown)"),
        ("e4070a0f181e00", "date time: hours 24 out of range 0..23"),
        ("e4070a0f0c3c00", "date time: minutes 60 out of range 0..59"),
        ("e4070a0f0c1e3c", "date time: seconds 60 out of range 0..59"),
        ("e4070a0f0c1e", "date time too short: date time needs 7 bytes at offset 0, 6 left"),
    ],
)
def test_invalid_date_times(wire: str, reason: str) -> None:
    with pytest.raises(FrameError) as error:
        DateTime.parse(bytes.fromhex(wire))
    assert str(error.value) == reason


def test_current_time() -> None:
    """e4070a0f0c1e00 | 04 | 80 | 01: Thursday 2020-10-15 12:30:00.5, manual update."""
    data = bytes.fromhex("e4070a0f0c1e00048001")
    value = CurrentTime.parse(data)
    assert value.date_time == DateTime(2020, 10, 15, 12, 30, 0)
    assert value.day_of_week is DayOfWeek.THURSDAY
    assert value.fractions256 == 128
    assert value.adjust_reason == AdjustReason(manual_time_update=True)
    assert bytes(value) == data


def test_current_time_from_datetime() -> None:
    value = CurrentTime.from_datetime(dt.datetime(2026, 11, 22, 10, 35, 7, 250000))
    assert value.day_of_week is DayOfWeek.SUNDAY
    assert value.fractions256 == 64
    assert CurrentTime.parse(bytes(value)) == value


def test_current_time_errors() -> None:
    with pytest.raises(FrameError) as short:
        CurrentTime.parse(bytes.fromhex("e4070a0f0c1e000480"))
    assert str(short.value) == (
        "current time too short: current time needs 10 bytes at offset 0, 9 left"
    )
    with pytest.raises(FrameError) as weekday:
        CurrentTime.parse(bytes.fromhex("e4070a0f0c1e00088001"))
    assert str(weekday.value) == "current time: day of week 8 out of range 0..7"
