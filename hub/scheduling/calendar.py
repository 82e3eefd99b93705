"""Calendar arithmetic for opening hours: French public holidays and slot derivation.

Pure functions, no I/O. Local wall times are converted to UTC with :mod:`zoneinfo`, so the
spring-forward gap and the autumn fall-back of Europe/Paris are handled as described in
:func:`derive_slots`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 240
MIN_SEATS = 1
MAX_SEATS = 20
AFTERNOON_STARTS = dt.time(13, 0)

_WEEKDAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday of a Gregorian year (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def french_public_holidays(year: int, *, alsace_moselle: bool = False) -> dict[dt.date, str]:
    """The public holidays (jours fériés) of France for a year, date → French name.

    The eleven national holidays; with ``alsace_moselle`` also Vendredi saint and Saint-Étienne
    (local law of Bas-Rhin, Haut-Rhin and Moselle). When two fall on the same day (Ascension on
    1 May, as in 2008) the names are joined.
    """
    easter = easter_sunday(year)
    days = [
        (dt.date(year, 1, 1), "Jour de l'an"),
        (easter + dt.timedelta(days=1), "Lundi de Pâques"),
        (dt.date(year, 5, 1), "Fête du Travail"),
        (dt.date(year, 5, 8), "Victoire 1945"),
        (easter + dt.timedelta(days=39), "Ascension"),
        (easter + dt.timedelta(days=50), "Lundi de Pentecôte"),
        (dt.date(year, 7, 14), "Fête nationale"),
        (dt.date(year, 8, 15), "Assomption"),
        (dt.date(year, 11, 1), "Toussaint"),
        (dt.date(year, 11, 11), "Armistice 1918"),
        (dt.date(year, 12, 25), "Noël"),
    ]
    if alsace_moselle:
        days += [
            (easter - dt.timedelta(days=2), "Vendredi saint"),
            (dt.date(year, 12, 26), "Saint-Étienne"),
        ]
    holidays: dict[dt.date, str] = {}
    for day, name in days:
        holidays[day] = f"{holidays[day]} et {name}" if day in holidays else name
    return dict(sorted(holidays.items()))


@dataclass(frozen=True, slots=True)
class OpeningRule:
    """A weekly opening: every ``weekday`` (0 = Monday) from ``start`` to ``end``, local time.

    ``reserved_for`` names the audience the slots are kept for (e.g. a facility's residents);
    ``valid_from``/``valid_until`` bound the days the rule applies to, inclusive.
    """

    weekday: int
    start: dt.time
    end: dt.time
    slot_minutes: int
    seats: int
    reserved_for: str | None = None
    rule_id: int | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    def applies_on(self, day: dt.date) -> bool:
        """Whether the rule opens slots on ``day``."""
        if day.weekday() != self.weekday:
            return False
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_until is None or day <= self.valid_until


@dataclass(frozen=True, slots=True)
class Closure:
    """Days the site is closed, ``start`` to ``end`` inclusive (holidays, works, no nurse)."""

    start: dt.date
    end: dt.date
    reason: str

    def covers(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """One slot to offer: aware UTC datetimes, and how many patients it can take."""

    start: dt.datetime
    end: dt.datetime
    seats: int
    reserved_for: str | None
    rule_id: int | None


def validate_rule(rule: OpeningRule) -> None:
    """Raise ``ValueError`` with a French message if the rule cannot produce sensible slots."""
    where = _describe(rule)
    if not 0 <= rule.weekday <= 6:
        raise ValueError(f"{where} : jour de la semaine {rule.weekday} invalide (0 à 6 attendu).")
    if rule.end <= rule.start:
        raise ValueError(
            f"{where} : l'heure de fin ({rule.end:%H:%M}) doit être après "
            f"l'heure de début ({rule.start:%H:%M})."
        )
    if not MIN_SLOT_MINUTES <= rule.slot_minutes <= MAX_SLOT_MINUTES:
        raise ValueError(
            f"{where} : la durée d'un créneau doit être comprise entre {MIN_SLOT_MINUTES} et "
            f"{MAX_SLOT_MINUTES} minutes (reçu : {rule.slot_minutes})."
        )
    if not MIN_SEATS <= rule.seats <= MAX_SEATS:
        raise ValueError(
            f"{where} : le nombre de places par créneau doit être compris entre {MIN_SEATS} et "
            f"{MAX_SEATS} (reçu : {rule.seats})."
        )
    if (
        rule.valid_from is not None
        and rule.valid_until is not None
        and rule.valid_until < rule.valid_from
    ):
        raise ValueError(
            f"{where} : la fin de validité ({rule.valid_until:%d/%m/%Y}) précède le début "
            f"({rule.valid_from:%d/%m/%Y})."
        )


def _describe(rule: OpeningRule) -> str:
    day = _WEEKDAY_NAMES[rule.weekday] if 0 <= rule.weekday <= 6 else "?"
    number = f" n° {rule.rule_id}" if rule.rule_id is not None else ""
    return f"Règle d'ouverture{number} ({day} {rule.start:%H:%M}–{rule.end:%H:%M}) invalide"


def derive_slots(
    rules: Iterable[OpeningRule],
    *,
    first_day: dt.date,
    last_day: dt.date,
    tz: ZoneInfo,
    closures: Sequence[Closure] = (),
    holidays: Callable[[int], Mapping[dt.date, str]] = french_public_holidays,
) -> list[SlotSpec]:
    """The slots the rules open from ``first_day`` to ``last_day`` inclusive, sorted by start.

    Each rule's [start, end) local window is cut into ``slot_minutes`` pieces; a trailing
    partial piece is dropped. Holidays and closure days open nothing. A slot whose local start
    does not exist (the spring-forward gap) is skipped; an ambiguous local start (the autumn
    fall-back hour) is read as its first occurrence (``fold=0``). Every slot lasts exactly
    ``slot_minutes`` of real time, so its end is computed in UTC from its start.
    """
    rules = list(rules)
    for rule in rules:
        validate_rule(rule)
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    holiday_years: dict[int, Mapping[dt.date, str]] = {}
    slots: list[SlotSpec] = []
    day = first_day
    while day <= last_day:
        if day.year not in holiday_years:
            holiday_years[day.year] = holidays(day.year)
        closed = day in holiday_years[day.year] or any(c.covers(day) for c in closures)
        if not closed:
            for rule in rules:
                if rule.applies_on(day):
                    slots.extend(_day_slots(rule, day, tz))
        day += dt.timedelta(days=1)
    slots.sort(key=lambda s: (s.start, s.rule_id is None, s.rule_id or 0))
    return slots


def _day_slots(rule: OpeningRule, day: dt.date, tz: ZoneInfo) -> Iterable[SlotSpec]:
    step = dt.timedelta(minutes=rule.slot_minutes)
    wall = dt.datetime.combine(day, rule.start)
    closing = dt.datetime.combine(day, rule.end)
    while wall + step <= closing:
        start = to_utc(wall, tz)
        if start is not None:
            yield SlotSpec(
                start=start,
                end=start + step,
                seats=rule.seats,
                reserved_for=rule.reserved_for,
                rule_id=rule.rule_id,
            )
        wall += step


def to_utc(wall: dt.datetime, tz: ZoneInfo) -> dt.datetime | None:
    """A naive local wall time as an aware UTC datetime; ``None`` if it does not exist there.

    Ambiguous times (the repeated hour in autumn) resolve to their first occurrence.
    """
    local = wall.replace(tzinfo=tz, fold=0)
    utc = local.astimezone(dt.UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != wall:
        return None
    return utc


def half_day_label(start: dt.time) -> str:
    """« matin » for a slot starting before 13:00, « après-midi » otherwise."""
    return "matin" if start < AFTERNOON_STARTS else "après-midi"
