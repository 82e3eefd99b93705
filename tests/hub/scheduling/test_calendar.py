"""French public holidays and slot derivation from opening rules, across DST changes."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.scheduling.calendar import (
    Closure,
    OpeningRule,
    derive_slots,
    easter_sunday,
    french_public_holidays,
    half_day_label,
)

PARIS = ZoneInfo("Europe/Paris")
D = dt.date
T = dt.time


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def monday_morning(**kwargs: object) -> OpeningRule:
    """Monday 8:00–12:00, 20-minute slots, 3 seats."""
    fields: dict[str, object] = {
        "weekday": 0,
        "start": T(8),
        "end": T(12),
        "slot_minutes": 20,
        "seats": 3,
        "rule_id": 1,
    }
    fields.update(kwargs)
    return OpeningRule(**fields)  # type: ignore[arg-type]


# --- holidays ------------------------------------------------------------------------------


def _national(
    year: int, easter_monday: dt.date, ascension: dt.date, whit: dt.date
) -> dict[dt.date, str]:
    return {
        D(year, 1, 1): "Jour de l'an",
        easter_monday: "Lundi de Pâques",
        D(year, 5, 1): "Fête du Travail",
        D(year, 5, 8): "Victoire 1945",
        ascension: "Ascension",
        whit: "Lundi de Pentecôte",
        D(year, 7, 14): "Fête nationale",
        D(year, 8, 15): "Assomption",
        D(year, 11, 1): "Toussaint",
        D(year, 11, 11): "Armistice 1918",
        D(year, 12, 25): "Noël",
    }


@pytest.mark.parametrize(
    ("year", "easter_monday", "ascension", "whit"),
    [
        (2024, D(2024, 4, 1), D(2024, 5, 9), D(2024, 5, 20)),
        (2025, D(2025, 4, 21), D(2025, 5, 29), D(2025, 6, 9)),
        (2026, D(2026, 4, 6), D(2026, 5, 14), D(2026, 5, 25)),
    ],
)
def test_national_holidays_match_the_official_calendar(
    year: int, easter_monday: dt.date, ascension: dt.date, whit: dt.date
) -> None:
    """Dates as published on service-public.fr for 2024, 2025 and 2026."""
    assert french_public_holidays(year) == _national(year, easter_monday, ascension, whit)


@pytest.mark.parametrize(
    ("year", "good_friday"), [(2024, D(2024, 3, 29)), (2025, D(2025, 4, 18)), (2026, D(2026, 4, 3))]
)
def test_alsace_moselle_adds_good_friday_and_saint_stephen(year: int, good_friday: dt.date) -> None:
    local = french_public_holidays(year, alsace_moselle=True)
    national = french_public_holidays(year)
    assert len(local) == 13
    assert set(local) - set(national) == {good_friday, D(year, 12, 26)}
    assert local[good_friday] == "Vendredi saint"
    assert local[D(year, 12, 26)] == "Saint-Étienne"


def test_easter_for_known_years() -> None:
    known = {
        1818: D(1818, 3, 22),
        1943: D(1943, 4, 25),
        2000: D(2000, 4, 23),
        2008: D(2008, 3, 23),
        2038: D(2038, 4, 25),
        2285: D(2285, 3, 22),
    }
    assert {year: easter_sunday(year) for year in known} == known


def test_two_holidays_on_one_day_keep_both_names() -> None:
    """In 2008 Ascension fell on 1 May: ten distinct days, one carrying both names."""
    holidays = french_public_holidays(2008)
    assert len(holidays) == 10
    assert holidays[D(2008, 5, 1)] == "Fête du Travail et Ascension"


# --- slot derivation -----------------------------------------------------------------------


def test_monday_morning_gives_twelve_slots_of_three_seats() -> None:
    slots = derive_slots(
        [monday_morning()], first_day=D(2026, 1, 12), last_day=D(2026, 1, 18), tz=PARIS
    )
    assert len(slots) == 12
    assert {s.seats for s in slots} == {3}
    assert slots[0].start == utc(2026, 1, 12, 7, 0)  # 8:00 in Paris, winter time
    assert slots[-1].end == utc(2026, 1, 12, 11, 0)
    assert all(s.end - s.start == dt.timedelta(minutes=20) for s in slots)
    assert all(b.start == a.end for a, b in itertools.pairwise(slots))
    assert all(s.start.tzinfo is dt.UTC for s in slots)


def test_trailing_partial_slot_is_dropped() -> None:
    rule = monday_morning(end=T(12, 10))
    slots = derive_slots([rule], first_day=D(2026, 1, 12), last_day=D(2026, 1, 12), tz=PARIS)
    assert len(slots) == 12
    assert slots[-1].end == utc(2026, 1, 12, 11, 0)


def test_public_holiday_opens_nothing() -> None:
    """Easter Monday 2026-04-06 is closed; the next Monday opens as usual."""
    slots = derive_slots(
        [monday_morning()], first_day=D(2026, 4, 6), last_day=D(2026, 4, 13), tz=PARIS
    )
    assert {s.start.date() for s in slots} == {D(2026, 4, 13)}


def test_custom_holiday_calendar_for_alsace_moselle() -> None:
    friday = monday_morning(weekday=4)
    national = derive_slots([friday], first_day=D(2026, 4, 3), last_day=D(2026, 4, 3), tz=PARIS)
    local = derive_slots(
        [friday],
        first_day=D(2026, 4, 3),
        last_day=D(2026, 4, 3),
        tz=PARIS,
        holidays=functools.partial(french_public_holidays, alsace_moselle=True),
    )
    assert (len(national), len(local)) == (12, 0)


def test_closure_days_open_nothing() -> None:
    closures = [Closure(D(2026, 1, 12), D(2026, 1, 18), "Congés de l'infirmière")]
    slots = derive_slots(
        [monday_morning()],
        first_day=D(2026, 1, 5),
        last_day=D(2026, 1, 25),
        tz=PARIS,
        closures=closures,
    )
    assert sorted({s.start.date() for s in slots}) == [D(2026, 1, 5), D(2026, 1, 19)]


def test_closure_end_day_is_inclusive() -> None:
    closures = [Closure(D(2026, 1, 10), D(2026, 1, 12), "Travaux")]
    slots = derive_slots(
        [monday_morning()],
        first_day=D(2026, 1, 12),
        last_day=D(2026, 1, 12),
        tz=PARIS,
        closures=closures,
    )
    assert slots == []


def test_week_of_spring_forward_shifts_utc_by_one_hour() -> None:
    """Clocks go forward on Sunday 2026-03-29: 8:00 is 07:00Z before, 06:00Z after."""
    slots = derive_slots(
        [monday_morning()], first_day=D(2026, 3, 23), last_day=D(2026, 3, 30), tz=PARIS
    )
    assert len(slots) == 24
    assert [s.start for s in slots[::12]] == [utc(2026, 3, 23, 7), utc(2026, 3, 30, 6)]
    assert slots[-1].end == utc(2026, 3, 30, 10)


def test_week_of_fall_back_shifts_utc_by_one_hour() -> None:
    """Clocks go back on Sunday 2026-10-25: 8:00 is 06:00Z before, 07:00Z after."""
    slots = derive_slots(
        [monday_morning()], first_day=D(2026, 10, 19), last_day=D(2026, 10, 26), tz=PARIS
    )
    assert [s.start for s in slots[::12]] == [utc(2026, 10, 19, 6), utc(2026, 10, 26, 7)]
    assert slots[11].end == utc(2026, 10, 19, 10)


def test_non_existent_local_times_are_skipped() -> None:
    """On 2026-03-29 local 02:00–03:00 does not exist: 02:00 and 02:30 are not offered."""
    night = OpeningRule(weekday=6, start=T(1), end=T(4), slot_minutes=30, seats=1)
    slots = derive_slots([night], first_day=D(2026, 3, 29), last_day=D(2026, 3, 29), tz=PARIS)
    assert [s.start for s in slots] == [
        utc(2026, 3, 29, 0, 0),
        utc(2026, 3, 29, 0, 30),  # 01:00, 01:30 CET
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 1, 30),  # 03:00, 03:30 CEST
    ]


def test_ambiguous_local_times_use_the_first_occurrence() -> None:
    """On 2026-10-25 local 02:00–03:00 happens twice; slots follow the first (summer) one."""
    night = OpeningRule(weekday=6, start=T(1), end=T(4), slot_minutes=30, seats=1)
    slots = derive_slots([night], first_day=D(2026, 10, 25), last_day=D(2026, 10, 25), tz=PARIS)
    assert [s.start for s in slots] == [
        utc(2026, 10, 24, 23, 0),
        utc(2026, 10, 24, 23, 30),  # 01:00, 01:30 CEST
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 0, 30),  # 02:00, 02:30 CEST (fold=0)
        utc(2026, 10, 25, 2, 0),
        utc(2026, 10, 25, 2, 30),  # 03:00, 03:30 CET
    ]
    assert all(s.end - s.start == dt.timedelta(minutes=30) for s in slots)


def test_validity_window_is_inclusive() -> None:
    rule = monday_morning(valid_from=D(2026, 2, 2), valid_until=D(2026, 2, 23))
    slots = derive_slots([rule], first_day=D(2026, 1, 1), last_day=D(2026, 3, 31), tz=PARIS)
    days = sorted({s.start.date() for s in slots})
    assert days == [D(2026, 2, 2), D(2026, 2, 9), D(2026, 2, 16), D(2026, 2, 23)]


def test_open_ended_validity() -> None:
    starts_in_march = monday_morning(valid_from=D(2026, 3, 1))
    ends_in_january = monday_morning(valid_until=D(2026, 1, 31), rule_id=2)
    slots = derive_slots(
        [starts_in_march, ends_in_january],
        first_day=D(2026, 1, 1),
        last_day=D(2026, 3, 31),
        tz=PARIS,
    )
    by_rule = {rid: sorted({s.start.date() for s in slots if s.rule_id == rid}) for rid in (1, 2)}
    assert by_rule[1] == [
        D(2026, 3, 2),
        D(2026, 3, 9),
        D(2026, 3, 16),
        D(2026, 3, 23),
        D(2026, 3, 30),
    ]
    assert by_rule[2] == [D(2026, 1, 5), D(2026, 1, 12), D(2026, 1, 19), D(2026, 1, 26)]


def test_several_rules_come_out_sorted_with_their_reservation() -> None:
    afternoon = OpeningRule(
        weekday=0,
        start=T(14),
        end=T(15),
        slot_minutes=30,
        seats=1,
        reserved_for="etablissement",
        rule_id=7,
    )
    tuesday = OpeningRule(weekday=1, start=T(9), end=T(10), slot_minutes=60, seats=2, rule_id=8)
    slots = derive_slots(
        [tuesday, afternoon, monday_morning()],
        first_day=D(2026, 1, 12),
        last_day=D(2026, 1, 13),
        tz=PARIS,
    )
    assert [s.start for s in slots] == sorted(s.start for s in slots)
    assert [(s.rule_id, s.reserved_for) for s in slots[12:]] == [
        (7, "etablissement"),
        (7, "etablissement"),
        (8, None),
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end": T(8)}, "l'heure de fin (08:00) doit être après l'heure de début (08:00)"),
        ({"start": T(12), "end": T(8)}, "l'heure de fin (08:00) doit être après"),
        ({"slot_minutes": 4}, "entre 5 et 240 minutes (reçu : 4)"),
        ({"slot_minutes": 241}, "entre 5 et 240 minutes (reçu : 241)"),
        ({"seats": 0}, "compris entre 1 et 20 (reçu : 0)"),
        ({"seats": 21}, "compris entre 1 et 20 (reçu : 21)"),
        ({"weekday": 7}, "jour de la semaine 7 invalide"),
        (
            {"valid_from": D(2026, 3, 1), "valid_until": D(2026, 2, 1)},
            "la fin de validité (01/02/2026) précède le début (01/03/2026)",
        ),
    ],
)
def test_invalid_rules_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=r"^Règle d'ouverture n° 1 ") as error:
        derive_slots(
            [monday_morning(**changes)], first_day=D(2026, 1, 1), last_day=D(2026, 1, 31), tz=PARIS
        )
    assert message in str(error.value)


def test_limits_are_accepted() -> None:
    rules = [monday_morning(slot_minutes=5, seats=1), monday_morning(slot_minutes=240, seats=20)]
    slots = derive_slots(rules, first_day=D(2026, 1, 12), last_day=D(2026, 1, 12), tz=PARIS)
    assert len(slots) == 48 + 1


def test_reversed_day_range_is_refused() -> None:
    with pytest.raises(ValueError, match="before first_day"):
        derive_slots([monday_morning()], first_day=D(2026, 1, 2), last_day=D(2026, 1, 1), tz=PARIS)


def test_half_day_label() -> None:
    assert half_day_label(T(8)) == "matin"
    assert half_day_label(T(12, 59)) == "matin"
    assert half_day_label(T(13)) == "après-midi"
    assert half_day_label(T(18, 30)) == "après-midi"


@given(
    weekday=st.integers(0, 6),
    start_minute=st.integers(0, 23 * 60),
    length=st.integers(5, 600),
    slot_minutes=st.integers(5, 240),
    first_day=st.dates(D(2024, 1, 1), D(2027, 12, 31)),
    span=st.integers(0, 20),
)
def test_derived_slots_stay_inside_their_local_window(
    weekday: int, start_minute: int, length: int, slot_minutes: int, first_day: dt.date, span: int
) -> None:
    end_minute = min(start_minute + length, 24 * 60 - 1)
    start, end = T(*divmod(start_minute, 60)), T(*divmod(end_minute, 60))
    if end <= start:
        return
    rule = OpeningRule(weekday=weekday, start=start, end=end, slot_minutes=slot_minutes, seats=1)
    last_day = first_day + dt.timedelta(days=span)
    slots = derive_slots([rule], first_day=first_day, last_day=last_day, tz=PARIS)
    assert [s.start for s in slots] == sorted(s.start for s in slots)
    for slot in slots:
        local_start = slot.start.astimezone(PARIS)
        assert first_day <= local_start.date() <= last_day
        assert local_start.weekday() == weekday
        assert start <= local_start.time() < end
        assert slot.end - slot.start == dt.timedelta(minutes=slot_minutes)
        assert local_start.date() not in french_public_holidays(local_start.year)
