"""The booking forms, declared once: what the patient online, the secretary on the phone (and
when she updates a known patient's contact) and a facility's staff type, how long each answer
may be, and every problem with it at once, in French, by field.

Routes read them as FastAPI form models (``Annotated[BookingForm, Form()]``). Their fields are
plain text, so nothing is refused before the page can answer: a value too long, a date that is
not one, a missing answer all come back next to their field, with what was typed kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict

from hub.deps import MAX_ROW_ID
from hub.errors import Invalid
from hub.lengths import Text
from hub.records.contact import contact_change_problems
from hub.records.patient_service import (
    PatientDraft,
    contact_problems,
    requesting_doctor_problems,
)
from hub.records.patients import Sex
from hub.records.rpps import normalise_rpps
from hub.scheduling.eligibility import RedFlag

if TYPE_CHECKING:
    from hub.records.patients import Patient

Problems = dict[str, str]

YES = "oui"
ROOM_NOTE = " — à voir dans sa chambre (ne peut pas se déplacer)"

# The patient record's names for what the forms call otherwise (a problem found by the records
# slice is shown next to the form's field).
_FORM_NAME_OF = {
    "has_medecin_traitant": "has_mt",
    "medecin_traitant_name": "mt_name",
    "medecin_traitant_mssante": "mt_mssante",
    "medecin_traitant_family_name": "mt_family",
    "medecin_traitant_given_name": "mt_given",
    "medecin_traitant_rpps": "mt_rpps",
}


def by_field(problems: Mapping[str, str]) -> Problems:
    """Problems keyed by the forms' field names (the records slice names a few otherwise)."""
    return {_FORM_NAME_OF.get(name, name): message for name, message in problems.items()}


def refuse(problems: Mapping[str, str]) -> None:
    """Raise Invalid with every problem at once, by field, if there is any."""
    if problems:
        raise Invalid(" ".join(problems.values()), fields=problems)


def parse_date(value: str) -> dt.date | None:
    """A date typed as 2026-04-12 (the date picker) or 12/04/2026, or None."""
    value = value.strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    return None


def parse_row_id(value: str) -> int | None:
    """A row id sent by a form (a slot's), or None when missing or not one."""
    value = value.strip()
    if not value.isdigit() or not 1 <= int(value) <= MAX_ROW_ID:
        return None
    return int(value)


def _slot_problem(value: str, missing: str) -> str:
    """What to say of a slot field that holds no usable slot: missing, or not a slot at all."""
    if not value.strip():
        return missing
    return "Créneau invalide : choisissez un créneau dans la liste."


class TextForm(BaseModel):
    """A form of plain-text fields (every form of the hub that keeps what was typed): its
    values go back in the page, its lengths are checked with its other problems."""

    model_config = ConfigDict(extra="ignore")  # the CSRF token, a browser's extras

    def values(self) -> dict[str, object]:
        """What was typed, to put back in the form."""
        return self.model_dump()

    def too_long(self) -> Problems:
        """Every free-text answer longer than its field allows."""
        problems: Problems = {}
        for name, info in type(self).model_fields.items():
            text = next((m for m in info.metadata if isinstance(m, Text)), None)
            value = getattr(self, name)
            if text is not None and isinstance(value, str) and (found := text.problem(value)):
                problems[name] = found
        return problems


class PatientForm(TextForm):
    """Who the patient is (as on their ID card) and how to reach them; each page shows the
    fields it needs, the rules are here."""

    birth_name: Annotated[str, Text("Nom de naissance", 100)] = ""
    first_names: Annotated[str, Text("Prénom(s)", 200)] = ""
    birth_date: str = ""
    sex: str = ""
    phone: Annotated[str, Text("Téléphone", 30)] = ""
    email: Annotated[str, Text("E-mail", 200)] = ""
    nir: Annotated[str, Text("Numéro de sécurité sociale", 30)] = ""
    guardian_name: Annotated[str, Text("Représentant légal", 200)] = ""
    has_mt: str = ""
    mt_name: Annotated[str, Text("Médecin traitant", 200)] = ""
    mt_mssante: Annotated[str, Text("Messagerie sécurisée du médecin traitant", 200)] = ""

    def born(self) -> dt.date | None:
        return parse_date(self.birth_date)

    def problems(self, *, today: dt.date) -> Problems:
        """Every problem with the patient's identity and contact, at once."""
        problems = self.too_long()
        if not self.birth_name.strip():
            problems.setdefault("birth_name", "Indiquez le nom de naissance.")
        if not self.first_names.strip():
            problems.setdefault("first_names", "Indiquez le ou les prénoms.")
        born = self.born()
        if not self.birth_date.strip():
            problems["birth_date"] = "Indiquez la date de naissance."
        elif born is None:
            problems["birth_date"] = "Indiquez la date de naissance au format jj/mm/aaaa."
        elif born > today:
            problems["birth_date"] = "La date de naissance est dans le futur : vérifiez-la."
        elif born.year < 1900:
            problems["birth_date"] = "La date de naissance semble erronée : vérifiez-la."
        if self.sex not in {s.value for s in Sex}:
            problems["sex"] = "Indiquez le sexe inscrit sur la pièce d'identité."
        if self.has_mt not in ("", YES, "non"):
            problems["has_mt"] = "Indiquez si le patient a un médecin traitant : oui ou non."
        found = by_field(
            contact_problems(
                phone=self.phone, email=self.email, mssante=self.mt_mssante, nir=self.nir
            )
        )
        return found | problems  # a length problem says more than a format one

    def draft(self) -> PatientDraft:
        """The patient to register or match (once ``problems`` found none)."""
        born = self.born()
        if born is None:
            raise ValueError("draft() before problems(): no birth date")
        return PatientDraft(
            birth_name=self.birth_name,
            first_names=self.first_names,
            birth_date=born,
            sex=Sex(self.sex),
            phone=self.phone,
            email=self.email,
            nir=self.nir,
            guardian_name=self.guardian_name,
            has_medecin_traitant={YES: True, "non": False}.get(self.has_mt),
            medecin_traitant_name=self.mt_name,
            medecin_traitant_mssante=self.mt_mssante,
        )


class ContactForm(TextForm):
    """The secretary changes how to reach a known patient: their mobile and e-mail, nothing
    else (identity traits sent along are ignored: they stay under identity vigilance)."""

    phone: Annotated[str, Text("Téléphone portable", 30)] = ""
    email: Annotated[str, Text("E-mail", 200)] = ""

    def problems(self, patient: Patient) -> Problems:
        """Every problem with the new contact of this patient, at once."""
        return contact_change_problems(patient, phone=self.phone, email=self.email) | (
            self.too_long()
        )


def _reason_problems(reason: str, problems: Problems) -> Problems:
    if not reason.strip():
        problems.setdefault("reason", "Indiquez le motif de la consultation.")
    return problems


class BookingForm(PatientForm):
    """The patient's own booking online: the red flags first, then who, how to reach them,
    their médecin traitant, the reason and their consent."""

    red_flag: list[str] = []
    reason: Annotated[str, Text("Motif", 1000)] = ""
    waiting_list: str = ""
    consent: str = ""

    def red_flags(self) -> frozenset[RedFlag]:
        return frozenset(RedFlag(v) for v in self.red_flag if v in RedFlag._value2member_map_)

    def problems(self, *, today: dt.date) -> Problems:
        problems = super().problems(today=today)
        if not self.phone.strip() and not self.email.strip():
            problems.setdefault(
                "phone",
                "Indiquez un numéro de portable ou une adresse e-mail "
                "pour recevoir la confirmation.",
            )
        if self.has_mt not in (YES, "non"):
            problems["has_mt"] = "Indiquez si vous avez un médecin traitant."
        if self.consent != YES:
            problems["consent"] = "Votre accord est nécessaire pour enregistrer le rendez-vous."
        return _reason_problems(self.reason, problems)


class PhoneBookingForm(TextForm):
    """The secretary books a known patient on the line: a slot, the reason and, when a doctor
    asked for the consultation (e.g. a GP a psychiatric opinion), that doctor."""

    slot_id: str = ""
    reason: Annotated[str, Text("Motif", 1000)] = ""
    requester_name: Annotated[str, Text("Médecin demandeur", 200)] = ""
    requester_mssante: Annotated[str, Text("Messagerie sécurisée du médecin demandeur", 200)] = ""
    requester_rpps: Annotated[str, Text("RPPS du médecin demandeur", 20)] = ""

    def slot(self) -> int | None:
        return parse_row_id(self.slot_id)

    def requester(self) -> tuple[str, str, str]:
        """The requesting doctor's name, secure address and RPPS, cleaned ("" when none)."""
        return (
            " ".join(self.requester_name.split())[:200],
            self.requester_mssante.strip().lower()[:200],
            normalise_rpps(self.requester_rpps.strip()),
        )

    def problems(self) -> Problems:
        problems = self.too_long()
        if self.slot() is None:
            problems["slot_id"] = _slot_problem(self.slot_id, "Choisissez un créneau.")
        for field, problem in requesting_doctor_problems(
            name=self.requester_name, mssante=self.requester_mssante, rpps=self.requester_rpps
        ).items():
            problems.setdefault(field, problem)
        return _reason_problems(self.reason, problems)


class ResidentForm(PatientForm):
    """A facility's staff book a resident on a slot reserved for the facility."""

    slot_id: str = ""
    reason: Annotated[str, Text("Motif", 1000)] = ""
    in_room: str = ""

    def slot(self) -> int | None:
        return parse_row_id(self.slot_id)

    def motive(self) -> str:
        """The reason, saying when the resident is to be seen in their room."""
        motive = self.reason.strip()
        return motive + ROOM_NOTE if self.in_room == YES and motive else motive

    def problems(self, *, today: dt.date) -> Problems:
        problems = super().problems(today=today)
        if self.slot() is None:
            problems["slot_id"] = _slot_problem(
                self.slot_id, "Choisissez un créneau réservé à l'établissement."
            )
        return _reason_problems(self.reason, problems)
