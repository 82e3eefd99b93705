"""Finding and registering patients."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Invalid, NotFound
from hub.records.ins import name_key, nir_problem, normalise_nir
from hub.records.patients import IdentityStatus, Patient, Sex
from hub.records.rpps import normalise_rpps, rpps_problem
from hub.records.vigilance import (
    Actor,
    Proposal,
    differences,
    fill_empty,
    pending_for,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ANONYMOUS = Actor(kind="anonymous")


def normalise_phone(phone: str) -> str:
    """A French phone number as 10 digits (0612345678), or '' when empty; raises Invalid."""
    digits = re.sub(r"[\s.\-()]", "", phone)
    if not digits:
        return ""
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    elif digits.startswith("0033"):
        digits = "0" + digits[4:]
    if not re.fullmatch(r"0[1-9]\d{8}", digits):
        raise Invalid(f"Numéro de téléphone invalide : « {phone} » (10 chiffres attendus).")
    return digits


@dataclass(frozen=True, slots=True)
class PatientDraft:
    """What a person or the secretary gives to register a patient."""

    birth_name: str
    first_names: str
    birth_date: dt.date
    sex: Sex
    phone: str = ""
    email: str = ""
    nir: str = ""
    used_name: str = ""
    birth_place_code: str = ""
    guardian_name: str = ""
    has_medecin_traitant: bool | None = None
    medecin_traitant_name: str = ""
    medecin_traitant_mssante: str = ""  # the GP's secure-messaging address


def contact_problems(*, phone: str, email: str, mssante: str, nir: str) -> dict[str, str]:
    """Every problem with the phone, e-mail, médecin traitant's address and social-security
    number typed for a patient, in French, by the draft's field name."""
    problems: dict[str, str] = {}
    try:
        normalise_phone(phone)
    except Invalid as exc:
        problems["phone"] = exc.message
    email = email.strip()
    if email and not _EMAIL.match(email):
        problems["email"] = f"Adresse e-mail invalide : « {email} »."
    mssante = mssante.strip().lower()
    if mssante and not _EMAIL.match(mssante):
        problems["medecin_traitant_mssante"] = (
            f"Adresse de messagerie sécurisée du médecin traitant invalide : « {mssante} »."
        )
    if nir.strip() and (problem := nir_problem(normalise_nir(nir))):
        problems["nir"] = problem
    return problems


def validate_draft(draft: PatientDraft, *, today: dt.date) -> PatientDraft:
    """The draft cleaned up; raises Invalid with every problem, in French, by field."""
    problems: dict[str, str] = {}
    if not draft.birth_name.strip():
        problems["birth_name"] = "Indiquez le nom de naissance."
    if not draft.first_names.strip():
        problems["first_names"] = "Indiquez le ou les prénoms."
    if draft.birth_date > today:
        problems["birth_date"] = "La date de naissance est dans le futur."
    elif draft.birth_date.year < 1900:
        problems["birth_date"] = "La date de naissance semble erronée."
    problems.update(
        contact_problems(
            phone=draft.phone,
            email=draft.email,
            mssante=draft.medecin_traitant_mssante,
            nir=draft.nir,
        )
    )
    if problems:
        raise Invalid(" ".join(problems.values()), fields=problems)
    phone = normalise_phone(draft.phone)
    email = draft.email.strip()
    mssante = draft.medecin_traitant_mssante.strip().lower()
    nir = normalise_nir(draft.nir) if draft.nir.strip() else ""
    return PatientDraft(
        birth_name=draft.birth_name.strip().upper(),
        first_names=" ".join(draft.first_names.split()),
        birth_date=draft.birth_date,
        sex=draft.sex,
        phone=phone,
        email=email.lower(),
        nir=nir,
        used_name=draft.used_name.strip().upper(),
        birth_place_code=draft.birth_place_code.strip(),
        guardian_name=draft.guardian_name.strip(),
        has_medecin_traitant=draft.has_medecin_traitant,
        medecin_traitant_name=draft.medecin_traitant_name.strip(),
        medecin_traitant_mssante=mssante,
    )


def proposal_of(clean: PatientDraft) -> Proposal:
    """What a cleaned draft says about the person, for comparison with a record."""
    return Proposal(
        nir=clean.nir,
        sex=clean.sex.value,
        birth_place_code=clean.birth_place_code,
        used_name=clean.used_name,
        phone=clean.phone,
        email=clean.email,
        guardian_name=clean.guardian_name,
        has_medecin_traitant=clean.has_medecin_traitant,
        medecin_traitant_name=clean.medecin_traitant_name,
        medecin_traitant_mssante=clean.medecin_traitant_mssante,
    )


async def register_patient(
    *,
    session: AsyncSession,
    organisation_id: int,
    draft: PatientDraft,
    today: dt.date,
    actor: Actor = ANONYMOUS,
) -> Patient:
    """The patient these traits designate, for a path that did not verify them: the existing
    record when birth name, first names and birth date match and nothing disagrees (its empty
    contact fields filled in); a pending identity linked to it when something disagrees (INS,
    a trait, contact, médecin traitant), which staff resolve; else a new provisional patient."""
    clean = validate_draft(draft, today=today)
    namesakes = list(
        await session.scalars(
            select(Patient)
            .where(
                Patient.organisation_id == organisation_id,
                Patient.birth_name_key == name_key(clean.birth_name),
                Patient.birth_date == clean.birth_date,
                Patient.first_names == clean.first_names,
                Patient.pending_of_id.is_(None),
                Patient.merged_into_id.is_(None),
            )
            .order_by(Patient.id)
        )
    )
    proposal = proposal_of(clean)
    for known in namesakes:
        if not differences(known, proposal):
            fill_empty(known, proposal)
            await session.flush()
            return known
    existing = namesakes[0] if namesakes else None
    patient = Patient(
        organisation_id=organisation_id,
        birth_name=clean.birth_name,
        birth_name_key=name_key(clean.birth_name),
        first_names=clean.first_names,
        used_name=clean.used_name,
        birth_date=clean.birth_date,
        sex=clean.sex,
        birth_place_code=clean.birth_place_code,
        nir=clean.nir,
        phone=clean.phone,
        email=clean.email,
        guardian_name=clean.guardian_name,
        has_medecin_traitant=clean.has_medecin_traitant,
        medecin_traitant_name=clean.medecin_traitant_name,
        medecin_traitant_mssante=clean.medecin_traitant_mssante,
        identity_status=IdentityStatus.PROVISIONAL,
    )
    if existing is not None:
        return await pending_for(
            session=session, existing=existing, proposal=proposal, actor=actor, new=patient
        )
    session.add(patient)
    await session.flush()
    return patient


async def find_patients(
    *,
    session: AsyncSession,
    organisation_id: int,
    name: str = "",
    birth_date: dt.date | None = None,
    phone: str = "",
    limit: int = 20,
) -> list[Patient]:
    """Patients matching a name prefix (birth or used name), a birth date and/or a phone."""
    query = select(Patient).where(
        Patient.organisation_id == organisation_id, Patient.merged_into_id.is_(None)
    )
    if not (name.strip() or birth_date or phone.strip()):
        return []
    if name.strip():
        key = name_key(name)
        query = query.where(
            or_(Patient.birth_name_key.startswith(key), Patient.used_name.startswith(key))
        )
    if birth_date is not None:
        query = query.where(Patient.birth_date == birth_date)
    if phone.strip():
        query = query.where(Patient.phone == normalise_phone(phone))
    rows = await session.scalars(
        query.order_by(Patient.birth_name, Patient.first_names).limit(limit)
    )
    return list(rows)


async def patient_by_id(*, session: AsyncSession, patient_id: int) -> Patient | None:
    """The patient record with this id (from the session when already loaded), None if none."""
    return await session.get(Patient, patient_id)


async def get_patient(*, session: AsyncSession, organisation_id: int, patient_id: int) -> Patient:
    patient = await session.get(Patient, patient_id)
    if patient is None or patient.organisation_id != organisation_id:
        raise NotFound("Patient introuvable.")
    return patient


@dataclass(frozen=True, slots=True)
class MedecinTraitant:
    """What staff type about the patient's médecin traitant (or that they have none)."""

    declared: bool | None
    family_name: str = ""
    given_name: str = ""
    rpps: str = ""
    mssante: str = ""  # the secure-messaging address reports are relayed to
    name: str = ""  # the free text of older forms, when no family name is given


def medecin_traitant_problems(mt: MedecinTraitant) -> dict[str, str]:
    """Every problem with what was typed about the médecin traitant, in French, by field."""
    problems: dict[str, str] = {}
    if not mt.declared:
        return problems
    if not (mt.family_name.strip() or mt.name.strip()):
        problems["medecin_traitant_family_name"] = "Indiquez le nom du médecin traitant."
    if mt.rpps.strip() and (problem := rpps_problem(mt.rpps)):
        problems["medecin_traitant_rpps"] = problem
    address = mt.mssante.strip().lower()
    if address and not _EMAIL.match(address):
        problems["medecin_traitant_mssante"] = (
            f"Adresse de messagerie sécurisée du médecin traitant invalide : « {address} »."
        )
    return problems


def requesting_doctor_problems(*, name: str, mssante: str, rpps: str) -> dict[str, str]:
    """Every problem with the doctor who asked for a consultation (none given is fine), in
    French, by field: the médecin traitant's shapes, the secure address required (the report
    goes back to them over it)."""
    problems: dict[str, str] = {}
    if not (name.strip() or mssante.strip() or rpps.strip()):
        return problems
    if not name.strip():
        problems["requester_name"] = "Indiquez le nom du médecin demandeur."
    if rpps.strip() and (problem := rpps_problem(rpps)):
        problems["requester_rpps"] = problem
    address = mssante.strip().lower()
    if not address:
        problems["requester_mssante"] = (
            "Indiquez la messagerie sécurisée du médecin demandeur : le compte rendu lui est "
            "envoyé par elle."
        )
    elif not _EMAIL.match(address):
        problems["requester_mssante"] = (
            f"Adresse de messagerie sécurisée du médecin demandeur invalide : « {address} »."
        )
    return problems


def set_medecin_traitant(patient: Patient, mt: MedecinTraitant) -> None:
    """Record the patient's médecin traitant (or that they have none): their RPPS and names as
    documents carry them, and the secure-messaging address their reports are relayed to.
    Raises Invalid with every problem by field; the caller commits."""
    problems = medecin_traitant_problems(mt)
    if problems:
        raise Invalid(" ".join(problems.values()), fields=problems)
    declared = bool(mt.declared)
    family = " ".join(mt.family_name.split()).upper()[:100] if declared else ""
    given = " ".join(mt.given_name.split())[:100] if declared else ""
    patient.has_medecin_traitant = mt.declared
    patient.medecin_traitant_family_name = family
    patient.medecin_traitant_given_name = given
    patient.medecin_traitant_rpps = normalise_rpps(mt.rpps) if declared else ""
    if family:
        patient.medecin_traitant_name = f"Dr {given} {family}".replace("  ", " ")[:200]
    else:
        patient.medecin_traitant_name = mt.name.strip()[:200] if declared else ""
    patient.medecin_traitant_mssante = mt.mssante.strip().lower()[:200] if declared else ""
