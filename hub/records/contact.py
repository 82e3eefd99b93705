"""How to reach a patient (mobile phone, e-mail), changed by staff who know them.

Contact is not identity: changing it touches neither the INS traits (birth name, first names,
birth date, sex, birth place), nor the social-security number, nor the identity status, which
stay under identity vigilance (``hub.records.vigilance``). A record kept only for the trace
(merged) or a pending identity is not edited here: its decision comes first.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Conflict, Invalid
from hub.notify.mailer import check_address
from hub.notify.sms import normalise_french_mobile
from hub.records.patient_service import contact_problems, normalise_phone
from hub.records.patients import Patient
from hub.records.vigilance import FIELD_LABELS, Actor, trace

CONTACT_FIELDS = ("phone", "email")
MERGED = "Cette fiche a été fusionnée : modifiez les coordonnées sur la fiche gardée."
PENDING = (
    "Cette identité est en attente : dites d'abord s'il s'agit de la personne déjà connue, "
    "puis modifiez ses coordonnées."
)


def _is_mobile(phone: str) -> bool:
    try:
        normalise_french_mobile(phone)
    except ValueError:
        return False
    return True


def contact_change_problems(patient: Patient, *, phone: str, email: str) -> dict[str, str]:
    """Every problem with a new mobile number and e-mail for this patient, in French, by field.

    A number must be a French mobile (reminders go by SMS), unless it is the one already on
    file (a landline kept as it was)."""
    problems = contact_problems(phone=phone, email=email, mssante="", nir="")
    if "phone" not in problems and phone.strip():
        number = normalise_phone(phone)
        if number != patient.phone and not _is_mobile(number):
            problems["phone"] = (
                f"« {phone.strip()} » n'est pas un numéro de portable : les rappels partent par "
                "SMS, indiquez un numéro en 06 ou 07."
            )
    address = email.strip()
    if "email" not in problems and address:
        try:
            check_address(address)
        except ValueError:
            problems["email"] = f"Adresse e-mail invalide : « {address} »."
    return problems


async def change_contact(
    *, session: AsyncSession, patient: Patient, phone: str, email: str, actor: Actor
) -> list[str]:
    """Set the patient's phone and e-mail (empty clears one); returns the fields that changed,
    traced in the audit trail (which ones, not their values). Raises Invalid with every problem
    by field; the caller commits."""
    if patient.merged_into_id is not None:
        raise Conflict(MERGED)
    if patient.pending_of_id is not None:
        raise Conflict(PENDING)
    problems = contact_change_problems(patient, phone=phone, email=email)
    if problems:
        raise Invalid(" ".join(problems.values()), fields=problems)
    new = {"phone": normalise_phone(phone), "email": email.strip().lower()}
    changed = [name for name in CONTACT_FIELDS if getattr(patient, name) != new[name]]
    for name in changed:
        setattr(patient, name, new[name])
    if changed:
        await session.flush()
        trace(
            session,
            actor,
            "patient.contact",
            patient.id,
            "modifié : " + ", ".join(FIELD_LABELS[name] for name in changed),
        )
    return changed
