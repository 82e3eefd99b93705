"""What the hub sees of INSi: traits in, an identity or an answer code out (no SOAP here)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Protocol

OID_INS_NIR = "1.2.250.1.213.1.4.8"  # the INS is a NIR
OID_INS_NIA = "1.2.250.1.213.1.4.9"  # the INS is a NIA (temporary number)
INS_OIDS = frozenset({OID_INS_NIR, OID_INS_NIA})


class Answer(enum.StrEnum):
    """The guide's answer codes (``CR``) of a search or a verification."""

    ONE = "00"  # one identity found / the INS and traits are valid
    NONE = "01"  # no identity found / the INS does not match the traits
    SEVERAL = "02"  # several identities match the traits (search only)


@dataclass(frozen=True, slots=True)
class Traits:
    """The five strict traits, as the INSi messages carry them."""

    birth_name: str
    first_names: str  # the first names, separated by spaces
    birth_date: dt.date
    sex: str  # M, F (I is not sent: INSi knows only M and F)
    birth_place_code: str = ""  # INSEE COG, optional in a search


@dataclass(frozen=True, slots=True)
class InsIdentity:
    """An identity as INSi returned it: the INS and its traits (upper case, as returned)."""

    ins: str  # the 13-character matricule followed by its 2-digit key
    oid: str  # OID_INS_NIR or OID_INS_NIA
    traits: Traits


@dataclass(frozen=True, slots=True)
class SearchResult:
    answer: Answer
    identity: InsIdentity | None = None  # with ``Answer.ONE`` only


class InsiError(Exception):
    """INSi answered with an error (a SOAP fault with the guide's error code), or could not be
    reached (``code`` empty)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code or 'injoignable'}: {message}")
        self.code = code
        self.message = message


class InsiService(Protocol):
    """The two operations of the teleservice the hub uses."""

    async def search(self, traits: Traits) -> SearchResult:
        """Search the INS of a person by their traits (the card's traits, no Vitale card)."""
        ...

    async def verify(self, identity: InsIdentity) -> bool:
        """Whether an INS and its traits are those of the national referential."""
        ...
