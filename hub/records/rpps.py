"""RPPS numbers: the national identifier of a health professional (11 digits, the last one a
Luhn check digit). Shared documents name a professional by the IDNPS, "8" + RPPS."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s.\-]")


def normalise_rpps(value: str) -> str:
    """The RPPS without spaces, dots or dashes."""
    return _SEPARATORS.sub("", value)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (its last digit being the key)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def rpps_problem(value: str) -> str | None:
    """Why an RPPS number is invalid, in French, or None when valid."""
    rpps = normalise_rpps(value)
    if not rpps.isascii() or not rpps.isdigit() or len(rpps) != 11:
        return "Le numéro RPPS compte 11 chiffres (il figure sur la carte CPS ou l'annuaire santé)."
    if not luhn_valid(rpps):
        return "Ce numéro RPPS n'est pas valide (chiffre de contrôle erroné) : vérifiez-le."
    return None
