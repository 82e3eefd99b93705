"""The day a patient looks at on the online booking page: reading the chosen day, its bounds
in the rooms' local time, and the links to the neighbouring days (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from hub.rendering import DAYS_FR, MONTHS_FR

DAY_LINKS = 7  # days offered as links from the chosen one
SHORT_MONTHS_FR = (
    "janv.", "févr.", "mars", "avr.", "mai", "juin",
    "juil.", "août", "sept.", "oct.", "nov.", "déc.",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DayLink:
    day: dt.date
    label: str  # « lun. 4 janv. »
    current: bool


@dataclass(frozen=True, slots=True)
class ChosenDay:
    """The day shown, the range a patient may choose from, and why a request was not kept."""

    day: dt.date
    first: dt.date
    last: dt.date
    problem: str = ""

    @property
    def previous(self) -> dt.date | None:
        return self.day - dt.timedelta(days=1) if self.day > self.first else None

    @property
    def next(self) -> dt.date | None:
        return self.day + dt.timedelta(days=1) if self.day < self.last else None

    def bounds(self, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """The day's start and end as aware UTC datetimes, midnight to midnight in ``tz``."""
        start = dt.datetime.combine(self.day, dt.time(0), tz)
        end = dt.datetime.combine(self.day + dt.timedelta(days=1), dt.time(0), tz)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)

    def links(self) -> list[DayLink]:
        """A week of days from the chosen one (from the first day near the end of the range)."""
        start = max(self.first, min(self.day, self.last - dt.timedelta(days=DAY_LINKS - 1)))
        days = [start + dt.timedelta(days=k) for k in range(DAY_LINKS)]
        return [DayLink(d, short_day_fr(d), d == self.day) for d in days if d <= self.last]


def day_fr(day: dt.date) -> str:
    """« lundi 4 janvier 2027 »."""
    return f"{DAYS_FR[day.weekday()]} {day.day} {MONTHS_FR[day.month - 1]} {day.year}"


def short_day_fr(day: dt.date) -> str:
    """« lun. 4 janv. »."""
    return f"{DAYS_FR[day.weekday()][:3]}. {day.day} {SHORT_MONTHS_FR[day.month - 1]}"


def choose_day(asked: str, *, today: dt.date, horizon_days: int) -> ChosenDay:
    """The day asked for (``AAAA-MM-JJ``) if bookable, else today with the reason in French."""
    last = today + dt.timedelta(days=horizon_days)
    if not asked.strip():
        return ChosenDay(today, today, last)
    try:
        day = dt.date.fromisoformat(asked.strip())
    except ValueError:
        return ChosenDay(today, today, last, "Cette date n'est pas valide : voici aujourd'hui.")
    if day < today:
        return ChosenDay(today, today, last, "Ce jour est passé : voici aujourd'hui.")
    if day > last:
        return ChosenDay(
            today,
            today,
            last,
            f"Les rendez-vous s'ouvrent jusqu'au {day_fr(last)} : voici aujourd'hui.",
        )
    return ChosenDay(day, today, last)
