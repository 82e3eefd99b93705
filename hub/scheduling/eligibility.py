"""Eligibility screening before a booking: minimum age, red flags, excluded reasons.

A red flag stops the booking: the person must call the 15 (SAMU) now. These are the signs of
the CPTS's orientation flow chart (logigramme) that no teleconsultation room can handle.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from hub.records.ins import name_key


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

CALL_15 = (
    "Ne prenez pas rendez-vous : appelez immédiatement le 15 (SAMU) ou le 112. "
    "Pour les personnes sourdes ou malentendantes : le 114 (SMS)."
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a booking may go ahead, and if not, what to tell the person."""

    allowed: bool
    message: str = ""
    emergency: bool = False


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Age in whole years on a given day."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def screen(
    *,
    red_flags: frozenset[RedFlag],
    birth_date: dt.date,
    appointment_day: dt.date,
    reason: str,
    min_age_years: int,
    excluded_reasons: list[str],
) -> Verdict:
    """Apply the CPTS's screening to a booking request."""
    if red_flags:
        return Verdict(False, CALL_15, emergency=True)
    if birth_date > appointment_day:
        return Verdict(False, "La date de naissance est dans le futur : vérifiez-la.")
    if age_on(birth_date, appointment_day) < min_age_years:
        return Verdict(
            False,
            (
                "Les cabines de téléconsultation reçoivent les enfants à partir de "
                f"{min_age_years} ans. "
                "Pour un enfant plus jeune, contactez son médecin, un pédiatre, ou le 15 en cas "
                "d'urgence."
            ),
        )
    key = name_key(reason)
    for excluded in excluded_reasons:
        if excluded.strip() and name_key(excluded) in key:
            return Verdict(
                False,
                (
                    f"Ce motif (« {excluded.strip()} ») ne peut pas être pris en charge en "
                    "téléconsultation. Contactez votre médecin ou le secrétariat de la CPTS."
                ),
            )
    return Verdict(True)
