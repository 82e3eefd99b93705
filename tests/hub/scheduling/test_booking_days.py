"""The day shown on the online booking page: what a patient may ask for, and its bounds."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hub.scheduling.booking_days import choose_day, short_day_fr

TODAY = dt.date(2027, 3, 26)  # a Friday; clocks go forward in Paris on Sunday the 28th


def test_a_day_in_the_horizon_is_kept_with_its_neighbours() -> None:
    chosen = choose_day("2027-03-29", today=TODAY, horizon_days=42)
    assert (chosen.day, chosen.problem) == (dt.date(2027, 3, 29), "")
    assert chosen.previous == dt.date(2027, 3, 28) and chosen.next == dt.date(2027, 3, 30)
    links = chosen.links()
    assert [link.label for link in links][:2] == ["lun. 29 mars", "mar. 30 mars"]
    assert [link.current for link in links].count(True) == 1 and len(links) == 7


def test_the_last_days_links_end_at_the_horizon_and_there_is_no_next_day() -> None:
    chosen = choose_day("2027-04-02", today=TODAY, horizon_days=7)
    assert chosen.next is None
    assert [link.day for link in chosen.links()][-1] == dt.date(2027, 4, 2)
    assert choose_day("", today=TODAY, horizon_days=7).previous is None


def test_the_day_of_the_clock_change_lasts_23_hours_in_paris() -> None:
    start, end = choose_day("2027-03-28", today=TODAY, horizon_days=42).bounds(
        ZoneInfo("Europe/Paris")
    )
    assert start == dt.datetime(2027, 3, 27, 23, 0, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(hours=23)


def test_short_french_day_names() -> None:
    assert short_day_fr(dt.date(2027, 8, 1)) == "dim. 1 août"
    assert short_day_fr(dt.date(2027, 2, 3)) == "mer. 3 févr."


def test_the_read_back_promises_only_the_reminders_that_will_leave() -> None:
    from hub.scheduling.messages import reminder_moments
    from hub.scheduling.models import BookingPolicy

    policy = BookingPolicy(organisation_id=1, reminder_hours="24,2")
    starts = dt.datetime(2026, 12, 7, 7, 0, tzinfo=dt.UTC)
    # Booked two days ahead: the day before, then two hours before.
    assert reminder_moments(starts_at=starts, policy=policy, now=starts - dt.timedelta(days=2)) == [
        "la veille",
        "2 h avant",
    ]
    # Booked in the evening for the next morning: the day-before reminder is already past.
    assert reminder_moments(
        starts_at=starts, policy=policy, now=starts - dt.timedelta(hours=13)
    ) == ["2 h avant"]
    assert (
        reminder_moments(starts_at=starts, policy=policy, now=starts - dt.timedelta(hours=1)) == []
    )
