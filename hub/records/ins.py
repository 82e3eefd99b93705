"""INS helpers: NIR/NIA format and key check, and the search key of a birth name."""

from __future__ import annotations

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
