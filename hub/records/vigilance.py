"""Identity vigilance (the French RNIV rules) on the patients table.

A path that did not verify an identity (an online booking, a phone call, the SAS, a facility)
never changes the traits of an identity that is ``validée``, ``récupérée`` or ``qualifiée``:
when what it gives disagrees with the patient it matches, the booking goes to a *pending
identity* (a provisional patient linked to that one) that a nurse or a secretary resolves. Every
identity decision is written to the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hub.audit.service import record_event
from hub.errors import Conflict, Invalid
from hub.records.ins import name_key
from hub.records.patients import DistinctPatients, IdentityStatus, Patient

# Checked against a document or returned by the national INSi service.
VERIFIED = frozenset({IdentityStatus.RETRIEVED, IdentityStatus.VALIDATED, IdentityStatus.QUALIFIED})
# The INS was returned by INSi: a typed number never replaces it.
FROM_INSI = frozenset({IdentityStatus.RETRIEVED, IdentityStatus.QUALIFIED})
STATUS_LABELS = {
    IdentityStatus.PROVISIONAL: "provisoire",
    IdentityStatus.RETRIEVED: "récupérée",
    IdentityStatus.VALIDATED: "validée",
    IdentityStatus.QUALIFIED: "qualifiée",
}
# Fields a resolver may take from a pending identity; the strict ones are INS traits.
FIELD_LABELS = {
    "nir": "Numéro de sécurité sociale",
    "sex": "Sexe",
    "birth_place_code": "Lieu de naissance (code INSEE)",
    "used_name": "Nom utilisé",
    "phone": "Téléphone",
    "email": "E-mail",
    "guardian_name": "Représentant légal",
    "medecin_traitant": "Médecin traitant",
}
SEX_LABELS = {"F": "féminin", "M": "masculin", "I": "indéterminé"}
STRICT_FIELDS = frozenset({"nir", "sex", "birth_place_code"})
CONTACT_FIELDS = ("used_name", "phone", "email", "guardian_name")


@dataclass(frozen=True, slots=True)
class Proposal:
    """What an unverified path says about a person (cleaned: see ``validate_draft``)."""

    nir: str
    sex: str
    birth_place_code: str
    used_name: str
    phone: str
    email: str
    guardian_name: str
    has_medecin_traitant: bool | None
    medecin_traitant_name: str
    medecin_traitant_mssante: str

    @classmethod
    def of(cls, patient: Patient) -> Proposal:
        return cls(
            nir=patient.nir,
            sex=patient.sex.value,
            birth_place_code=patient.birth_place_code,
            used_name=patient.used_name,
            phone=patient.phone,
            email=patient.email,
            guardian_name=patient.guardian_name,
            has_medecin_traitant=patient.has_medecin_traitant,
            medecin_traitant_name=patient.medecin_traitant_name,
            medecin_traitant_mssante=patient.medecin_traitant_mssante,
        )


@dataclass(frozen=True, slots=True)
class Difference:
    field: str  # a key of FIELD_LABELS
    label: str
    current: str  # as shown to staff
    proposed: str

    @property
    def strict(self) -> bool:
        return self.field in STRICT_FIELDS


def medecin_traitant_text(declared: bool | None, name: str, mssante: str) -> str:
    """The médecin traitant as staff read it."""
    if declared is None:
        return "non renseigné"
    if not declared:
        return "aucun"
    return " — ".join(part for part in (name or "nom non précisé", mssante) if part)


def _conflicts(current: str, proposed: str, *, guarded: bool) -> bool:
    """A proposed value disagrees: it differs from a known one, or it would fill a field an
    unverified path may not fill (``guarded``)."""
    return bool(proposed) and proposed != current and (bool(current) or guarded)


def _same_doctor(a: str, b: str) -> bool:
    return not a or not b or name_key(a) == name_key(b)


def differences(patient: Patient, proposal: Proposal) -> list[Difference]:
    """Where the proposal disagrees with the patient's record (empty fields do not disagree,
    except the INS traits of a verified identity, which an unverified path never fills)."""
    verified = patient.identity_status in VERIFIED
    found: list[Difference] = []

    def add(field: str, current: str, proposed: str) -> None:
        found.append(Difference(field, FIELD_LABELS[field], current, proposed))

    if _conflicts(patient.nir, proposal.nir, guarded=verified):
        add("nir", patient.nir or "non renseigné", proposal.nir)
    if proposal.sex != patient.sex.value:
        add("sex", SEX_LABELS[patient.sex.value], SEX_LABELS.get(proposal.sex, proposal.sex))
    if _conflicts(patient.birth_place_code, proposal.birth_place_code, guarded=verified):
        add(
            "birth_place_code",
            patient.birth_place_code or "non renseigné",
            proposal.birth_place_code,
        )
    for field in CONTACT_FIELDS:
        current, proposed = getattr(patient, field), getattr(proposal, field)
        if _conflicts(current, proposed, guarded=False):
            add(field, current, proposed)
    declared, new = patient.has_medecin_traitant, proposal.has_medecin_traitant
    if (
        declared is not None
        and new is not None
        and (
            declared != new
            or not _same_doctor(patient.medecin_traitant_name, proposal.medecin_traitant_name)
            or _conflicts(
                patient.medecin_traitant_mssante, proposal.medecin_traitant_mssante, guarded=False
            )
        )
    ):
        add(
            "medecin_traitant",
            medecin_traitant_text(
                declared, patient.medecin_traitant_name, patient.medecin_traitant_mssante
            ),
            medecin_traitant_text(
                new, proposal.medecin_traitant_name, proposal.medecin_traitant_mssante
            ),
        )
    return found


def fill_empty(patient: Patient, proposal: Proposal) -> None:
    """Fill the fields the record lacks (an agreeing proposal; never a verified INS trait)."""
    for field in CONTACT_FIELDS:
        if not getattr(patient, field) and getattr(proposal, field):
            setattr(patient, field, getattr(proposal, field))
    if patient.identity_status not in VERIFIED:
        patient.nir = patient.nir or proposal.nir
        patient.birth_place_code = patient.birth_place_code or proposal.birth_place_code
    if patient.has_medecin_traitant is None and proposal.has_medecin_traitant is not None:
        patient.has_medecin_traitant = proposal.has_medecin_traitant
    if patient.has_medecin_traitant and proposal.has_medecin_traitant:
        patient.medecin_traitant_name = (
            patient.medecin_traitant_name or proposal.medecin_traitant_name
        )
        patient.medecin_traitant_mssante = (
            patient.medecin_traitant_mssante or proposal.medecin_traitant_mssante
        )


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes an identity decision, for the audit trail."""

    kind: str  # user, anonymous, api_client, system
    id: int | None = None
    ip: str = ""


def trace(
    session: AsyncSession, actor: Actor, action: str, patient_id: int, detail: str = ""
) -> None:
    """Write an identity decision to the audit trail (no traits or numbers in it)."""
    record_event(
        session=session,
        action=action,
        actor_kind=actor.kind,
        actor_id=actor.id,
        target=f"patient:{patient_id}",
        ip=actor.ip,
        detail=detail,
    )


async def pending_for(
    *, session: AsyncSession, existing: Patient, proposal: Proposal, actor: Actor, new: Patient
) -> Patient:
    """The pending identity holding a disagreeing proposal: one already waiting with the same
    data (a repeated booking), else ``new``, linked to ``existing`` and traced."""
    waiting = await session.scalars(
        select(Patient)
        .where(Patient.pending_of_id == existing.id, Patient.merged_into_id.is_(None))
        .order_by(Patient.id)
    )
    for pending in waiting:
        if (
            pending.first_names == new.first_names
            and pending.birth_name_key == new.birth_name_key
            and not differences(pending, proposal)
        ):
            fill_empty(pending, proposal)
            return pending
    found = differences(existing, proposal)
    new.pending_of_id = existing.id
    new.pending_reason = ", ".join(d.label for d in found)[:300]
    session.add(new)
    await session.flush()
    trace(
        session,
        actor,
        "identity.pending",
        new.id,
        f"identité en attente, rapprochée de patient:{existing.id} ; diffère : "
        f"{new.pending_reason}",
    )
    return new


def set_status(
    session: AsyncSession, patient: Patient, status: IdentityStatus, *, actor: Actor, why: str
) -> None:
    """Change the identity status, traced."""
    if patient.identity_status is status:
        return
    before = patient.identity_status
    patient.identity_status = status
    trace(
        session,
        actor,
        "identity.downgraded" if status is IdentityStatus.PROVISIONAL else "identity.status",
        patient.id,
        f"{STATUS_LABELS[before]} → {STATUS_LABELS[status]} ({why})",
    )


def take_from(
    session: AsyncSession,
    *,
    patient: Patient,
    source: Patient,
    fields: frozenset[str],
    actor: Actor,
    why: str,
) -> None:
    """Copy the chosen fields of ``source`` into ``patient``, traced. An INS trait of a verified
    identity changes only through the identity check in the room: refused here."""
    unknown = fields - FIELD_LABELS.keys()
    if unknown:
        raise Invalid("Choix de données inconnu.")
    strict = fields & STRICT_FIELDS
    if strict and patient.identity_status in VERIFIED:
        raise Conflict(
            "L'identité de ce patient est vérifiée : son numéro de sécurité sociale, son sexe "
            "et son lieu de naissance ne changent qu'à la vérification de la pièce d'identité "
            "en salle."
        )
    for field in sorted(fields):
        if field == "medecin_traitant":
            patient.has_medecin_traitant = source.has_medecin_traitant
            patient.medecin_traitant_name = source.medecin_traitant_name
            patient.medecin_traitant_mssante = source.medecin_traitant_mssante
            patient.medecin_traitant_rpps = source.medecin_traitant_rpps
            patient.medecin_traitant_family_name = source.medecin_traitant_family_name
            patient.medecin_traitant_given_name = source.medecin_traitant_given_name
        else:
            setattr(patient, field, getattr(source, field))
    if fields:
        trace(
            session,
            actor,
            "identity.data_taken",
            patient.id,
            f"repris de patient:{source.id} ({why}) : "
            + ", ".join(FIELD_LABELS[f] for f in sorted(fields)),
        )


# --- probable duplicates ------------------------------------------------------------------------


def _within_one_edit(a: str, b: str) -> bool:
    """Whether two strings differ by at most one inserted, deleted or replaced character."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]


def _squeezed(name: str) -> str:
    return name_key(name).replace(" ", "")


def close_names(first: Patient, second: Patient) -> bool:
    """Same person, probably: birth names within one letter (accents, hyphens, spaces ignored)
    and the first first-names too, or one list of first names beginning the other."""
    if not _within_one_edit(_squeezed(first.birth_name), _squeezed(second.birth_name)):
        return False
    a, b = name_key(first.first_names).split(), name_key(second.first_names).split()
    if not a or not b:
        return False
    shorter, longer = sorted((a, b), key=len)
    return longer[: len(shorter)] == shorter or _within_one_edit(a[0], b[0])


async def probable_duplicates(
    *, session: AsyncSession, organisation_id: int, limit: int = 50
) -> list[tuple[Patient, Patient]]:
    """Pairs of patients born the same day with close names, the older record first (pending
    identities are listed apart; pairs staff said are different persons are left out)."""
    first, second = aliased(Patient), aliased(Patient)
    decided = exists().where(
        DistinctPatients.first_id == first.id, DistinctPatients.second_id == second.id
    )
    rows = await session.execute(
        select(first, second)
        .join(second, (second.birth_date == first.birth_date) & (second.id > first.id))
        .where(
            first.organisation_id == organisation_id,
            second.organisation_id == organisation_id,
            first.merged_into_id.is_(None),
            second.merged_into_id.is_(None),
            first.pending_of_id.is_(None),
            second.pending_of_id.is_(None),
            ~decided,
        )
        .order_by(first.id, second.id)
    )
    pairs = [(a, b) for a, b in rows if close_names(a, b)]
    return pairs[:limit]


def mark_distinct(session: AsyncSession, first: Patient, second: Patient, *, actor: Actor) -> None:
    """Record that two records are different persons (not listed as duplicates again), traced."""
    low, high = sorted((first.id, second.id))
    session.add(DistinctPatients(first_id=low, second_id=high))
    trace(session, actor, "identity.distinct", high, f"personne différente de patient:{low}")


async def reassign_pending(*, session: AsyncSession, from_id: int, to_id: int) -> int:
    """Point the pending identities waiting on one record at another (identity merge)."""
    rows = list(await session.scalars(select(Patient).where(Patient.pending_of_id == from_id)))
    for pending in rows:
        pending.pending_of_id = to_id
    return len(rows)


async def pending_identities(*, session: AsyncSession, organisation_id: int) -> list[Patient]:
    """The pending identities waiting for a decision, oldest first."""
    rows = await session.scalars(
        select(Patient)
        .where(
            Patient.organisation_id == organisation_id,
            Patient.pending_of_id.is_not(None),
            Patient.merged_into_id.is_(None),
        )
        .order_by(Patient.id)
    )
    return list(rows)
