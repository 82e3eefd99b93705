"""The CPTS's screening rules, whoever books: every refusal at once, next to its field."""

from __future__ import annotations

import datetime as dt

from hub.scheduling.eligibility import Rules, problems

RULES = Rules(min_age_years=6, excluded_reasons=("certificat de sport",))
DAY = dt.date(2026, 3, 10)


def test_a_four_year_old_with_an_excluded_reason_gets_both_refusals() -> None:
    found = problems(
        rules=RULES,
        birth_date=dt.date(2022, 1, 5),
        appointment_day=DAY,
        today=DAY,
        reason="Un CERTIFICAT de sport pour le judo",
        guardian_name="Paul Petit",
    )
    assert set(found) == {"birth_date", "reason"}
    assert "à partir de 6 ans" in found["birth_date"]
    assert "« certificat de sport »" in found["reason"]


def test_a_six_year_old_needs_a_guardian_only_where_the_path_asks_for_one() -> None:
    six = dt.date(2019, 3, 1)
    online = problems(
        rules=RULES,
        birth_date=six,
        appointment_day=DAY,
        today=DAY,
        reason="Otite",
        guardian_name=" ",
    )
    assert online == {
        "guardian_name": "Pour un mineur, indiquez le nom du représentant légal qui l'accompagnera."
    }
    assert (
        problems(rules=RULES, birth_date=six, appointment_day=DAY, today=DAY, reason="Otite") == {}
    )


def test_an_unknown_birth_date_still_screens_the_reason() -> None:
    found = problems(
        rules=RULES, birth_date=None, appointment_day=DAY, today=DAY, reason="certificat de sport"
    )
    assert list(found) == ["reason"]
