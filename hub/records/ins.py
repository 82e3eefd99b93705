"""INS helpers: NIR/NIA format, key and coherence with the traits, the INSEE birth-place code,
and the search key of a birth name."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_NIR = re.compile(r"^[12378]\d{2}(0[1-9]|1[0-2]|[2-9]\d)(\d{2}|2A|2B)\d{6}\d{2}$")


def normalise_nir(value: str) -> str:
    """The NIR without spaces, dots or dashes, upper-cased (Corsica's 2A/2B)."""
    return re.sub(r"[\s.\-]", "", value).upper()


def nir_problem(value: str) -> str | None:
    """Why a NIR (13 characters + 2-digit key) is invalid, in French, or None when valid."""
    nir = normalise_nir(value)
    if len(nir) != 15:
        return (
            "Le numéro de sécurité sociale doit compter 15 caractères (13 + la clé à 2 chiffres)."
        )
    if not _NIR.match(nir):
        return "Le numéro de sécurité sociale n'a pas le bon format."
    body = nir[:13].replace("2A", "19").replace("2B", "18")
    key = 97 - int(body) % 97
    if key != int(nir[13:]):
        return "La clé du numéro de sécurité sociale ne correspond pas : vérifiez le numéro."
    return None


def name_key(name: str) -> str:
    """A birth name as searched: upper case, no accents, single spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.upper().replace("-", " ").split())


_BIRTH_PLACE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


def birth_place_problem(code: str) -> str | None:
    """Why an INSEE birth-place code (commune, or 99 + country for a birth abroad) is invalid."""
    if not _BIRTH_PLACE.match(code.strip().upper()):
        return (
            "Le lieu de naissance est le code INSEE de la commune (5 caractères, par exemple "
            "63113), ou 99 suivi du code du pays pour une naissance à l'étranger."
        )
    return None


def nir_traits_problem(nir: str, *, sex: str, birth_date: dt.date) -> str | None:
    """Why a NIR contradicts the patient's sex or birth date, or None.

    A NIA (temporary number, first digit 7 or 8) carries no such traits. A month between 20 and
    99 stands for an unknown month in the NIR, so only 01–12 is compared."""
    value = normalise_nir(nir)
    if value[:1] not in ("1", "2"):
        return None
    if (value[0] == "1" and sex == "F") or (value[0] == "2" and sex == "M"):
        return "Le numéro de sécurité sociale ne correspond pas au sexe du patient."
    if int(value[1:3]) != birth_date.year % 100:
        return "Le numéro de sécurité sociale ne correspond pas à l'année de naissance."
    month = int(value[3:5])
    if 1 <= month <= 12 and month != birth_date.month:
        return "Le numéro de sécurité sociale ne correspond pas au mois de naissance."
    return None
