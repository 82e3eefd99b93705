"""How much text each typed answer of the hub's HTML forms may hold, and what to say, in
French and by field, when an answer is longer: forms check lengths with their other problems
and come back as typed, instead of FastAPI refusing the whole request before the page can
answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Text:
    """A free-text field: what the page calls it and how many characters it may hold."""

    label: str
    max_length: int

    def problem(self, value: str) -> str | None:
        """What to say of ``value`` when it is too long for the field, else None."""
        if len(value) <= self.max_length:
            return None
        return (
            f"{self.label} : {self.max_length} caractères au plus "
            f"(vous en avez saisi {len(value)})."
        )


def too_long(typed: Mapping[str, str], limits: Mapping[str, Text]) -> dict[str, str]:
    """Every answer of ``typed`` longer than its field of ``limits`` allows, by field name."""
    problems: dict[str, str] = {}
    for name, text in limits.items():
        if (problem := text.problem(typed.get(name, ""))) is not None:
            problems[name] = problem
    return problems
