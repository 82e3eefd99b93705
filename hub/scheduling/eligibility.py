"""Eligibility screening before a booking: red flags, minimum age, a guardian for a minor,
excluded reasons.

A red flag stops the booking at once, before anything else is looked at: the person must call
the 15 (SAMU) now. These are the signs of the CPTS's orientation flow chart (logigramme) that no
teleconsultation room can handle. The other rules answer together, each next to its field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Invalid
from hub.records.ins import name_key
from hub.scheduling.policy import policy_for


class RedFlag(StrEnum):
    CHEST_PAIN = "chest_pain"
    BREATHING = "breathing"
    STROKE = "stroke"
    BLEEDING = "bleeding"
    CONSCIOUSNESS = "consciousness"
    SUICIDAL = "suicidal"
    SEVERE_TRAUMA = "severe_trauma"
    INFANT_FEVER = "infant_fever"


RED_FLAG_LABELS = {
    RedFlag.CHEST_PAIN: "Douleur dans la poitrine",
    RedFlag.BREATHING: "Difficulté importante à respirer",
    RedFlag.STROKE: "Visage qui se déforme, bras ou jambe qui ne répond plus, trouble de la parole",
    RedFlag.BLEEDING: "Saignement abondant",
    RedFlag.CONSCIOUSNESS: "Perte de connaissance ou malaise grave",
    RedFlag.SUICIDAL: "Idées suicidaires",
    RedFlag.SEVERE_TRAUMA: "Chute ou accident avec blessure grave",
    RedFlag.INFANT_FEVER: "Fièvre chez un nourrisson de moins de 3 mois",
}


ADULT_AGE = 18


@dataclass(frozen=True, slots=True)
class Rules:
    """The CPTS's screening rules (its booking policy): minimum age, reasons it excludes."""

    min_age_years: int
    excluded_reasons: tuple[str, ...]


async def rules_for(*, session: AsyncSession, organisation_id: int) -> Rules:
    policy = await policy_for(session=session, organisation_id=organisation_id)
    excluded = tuple(r.strip() for r in policy.excluded_reasons.splitlines() if r.strip())
    return Rules(min_age_years=policy.min_age_years, excluded_reasons=excluded)


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Age in whole years on a given day."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def problems(
    *,
    rules: Rules,
    birth_date: dt.date | None,
    appointment_day: dt.date,
    today: dt.date,
    reason: str,
    guardian_name: str | None = None,
) -> dict[str, str]:
    """Why the CPTS cannot take this request, by field (empty when it can): a patient born in
    the future or too young for the rooms, a minor without a guardian (where the path asks for
    one: ``guardian_name`` not None), a reason the CPTS excludes. Red flags are asked first,
    before any of this (``RedFlag``)."""
    found: dict[str, str] = {}
    if birth_date is not None:
        if birth_date > appointment_day:
            found["birth_date"] = "La date de naissance est dans le futur : vérifiez-la."
        elif age_on(birth_date, appointment_day) < rules.min_age_years:
            found["birth_date"] = (
                "Les cabines de téléconsultation reçoivent les enfants à partir de "
                f"{rules.min_age_years} ans. Pour un enfant plus jeune, contactez son médecin, "
                "un pédiatre, ou le 15 en cas d'urgence."
            )
        elif (
            guardian_name is not None
            and age_on(birth_date, today) < ADULT_AGE
            and not guardian_name.strip()
        ):
            found["guardian_name"] = (
                "Pour un mineur, indiquez le nom du représentant légal qui l'accompagnera."
            )
    key = name_key(reason)
    for excluded in rules.excluded_reasons:
        if name_key(excluded) in key:
            found["reason"] = (
                f"Ce motif (« {excluded} ») ne peut pas être pris en charge en "
                "téléconsultation. Contactez votre médecin ou le secrétariat de la CPTS."
            )
            break
    return found


async def check(
    *,
    session: AsyncSession,
    organisation_id: int,
    appointment_day: dt.date,
    today: dt.date,
    birth_date: dt.date | None,
    reason: str,
    guardian_name: str | None = None,
    found: Mapping[str, str] | None = None,
) -> None:
    """Raise Invalid with every problem at once, by field: those the form found (``found``)
    and the CPTS's rules; a problem the form found about a field comes first."""
    rules = await rules_for(session=session, organisation_id=organisation_id)
    every = problems(
        rules=rules,
        birth_date=birth_date,
        appointment_day=appointment_day,
        today=today,
        reason=reason,
        guardian_name=guardian_name,
    ) | dict(found or {})
    if every:
        raise Invalid(" ".join(every.values()), fields=every)
