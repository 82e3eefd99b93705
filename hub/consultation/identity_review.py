"""Resolving pending identities and merging duplicates: the patient records' data, then every
slice's records of the patient (bookings, consultations, shared documents) moved through that
slice's own service, in one commit, traced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.consultation import service as consultations
from hub.errors import Conflict, Invalid
from hub.records import documents as shared_record
from hub.records import vigilance
from hub.records.patient_service import get_patient
from hub.records.vigilance import (
    STATUS_LABELS,
    VERIFIED,
    Actor,
    Difference,
    Proposal,
    differences,
    fill_empty,
    mark_distinct,
    pending_identities,
    take_from,
    trace,
)
from hub.scheduling.changes import reassign_patient

if TYPE_CHECKING:
    from hub.records.patients import Patient


@dataclass(frozen=True, slots=True)
class PendingCase:
    """A pending identity beside the existing patient it collides with, for a decision."""

    pending: Patient
    existing: Patient
    differences: list[Difference]

    @property
    def locked(self) -> bool:
        """The existing identity is verified: its INS traits are not taken from a booking."""
        return self.existing.identity_status in VERIFIED

    @property
    def existing_status(self) -> str:
        return STATUS_LABELS[self.existing.identity_status]

    def takeable(self, difference: Difference) -> bool:
        return not (self.locked and difference.strict)


async def pending_case(
    *, session: AsyncSession, organisation_id: int, pending_id: int
) -> PendingCase:
    """One pending identity with what differs from the existing patient."""
    pending, existing = await pending_pair(
        session=session, organisation_id=organisation_id, pending_id=pending_id
    )
    return PendingCase(pending, existing, differences(existing, Proposal.of(pending)))


async def pending_cases(*, session: AsyncSession, organisation_id: int) -> list[PendingCase]:
    """Every pending identity of the CPTS waiting for a decision, oldest first."""
    return [
        await pending_case(session=session, organisation_id=organisation_id, pending_id=p.id)
        for p in await pending_identities(session=session, organisation_id=organisation_id)
    ]


async def _merge(session: AsyncSession, *, keep: Patient, drop: Patient, actor: Actor) -> None:
    """Move everything of ``drop`` to ``keep`` and mark ``drop`` merged (kept for the trace)."""
    bookings = await reassign_patient(session=session, from_id=drop.id, to_id=keep.id)
    visits = await consultations.reassign_patient(session=session, from_id=drop.id, to_id=keep.id)
    documents = await shared_record.reassign_patient(
        session=session, from_id=drop.id, to_id=keep.id
    )
    await vigilance.reassign_pending(session=session, from_id=drop.id, to_id=keep.id)
    fill_empty(keep, Proposal.of(drop))
    drop.merged_into_id = keep.id
    drop.pending_of_id = None
    await session.flush()
    trace(
        session,
        actor,
        "identity.merged",
        keep.id,
        f"patient:{drop.id} fusionné dans patient:{keep.id} ({bookings} rendez-vous, "
        f"{visits} consultations, {documents} documents)",
    )


async def pending_pair(
    *, session: AsyncSession, organisation_id: int, pending_id: int
) -> tuple[Patient, Patient]:
    """A pending identity and the existing patient it collides with."""
    pending = await get_patient(
        session=session, organisation_id=organisation_id, patient_id=pending_id
    )
    if pending.pending_of_id is None or pending.merged_into_id is not None:
        raise Conflict("Cette identité n'est plus en attente : elle a déjà été traitée.")
    existing = await get_patient(
        session=session, organisation_id=organisation_id, patient_id=pending.pending_of_id
    )
    return pending, existing


def same_person(decision: str) -> bool:
    """A form's decision: « meme » (the same person) or « autre » (a different one)."""
    if decision not in ("meme", "autre"):
        raise Invalid("Indiquez s'il s'agit de la même personne ou d'une personne différente.")
    return decision == "meme"


async def resolve_pending(
    *,
    session: AsyncSession,
    organisation_id: int,
    pending_id: int,
    same_person: bool,
    take: frozenset[str],
    actor: Actor,
) -> Patient:
    """Decide a pending identity and commit: the same person (merged into the existing record,
    taking the chosen data from the booking) or a different person (its own record); returns
    the patient the bookings now belong to."""
    pending, existing = await pending_pair(
        session=session, organisation_id=organisation_id, pending_id=pending_id
    )
    if not same_person:
        if take:
            raise Invalid("Pour une personne différente, aucune donnée n'est reprise.")
        pending.pending_of_id = None
        pending.pending_reason = ""
        trace(
            session,
            actor,
            "identity.resolved_different",
            pending.id,
            f"personne différente de patient:{existing.id}",
        )
        mark_distinct(session, existing, pending, actor=actor)
        await session.commit()
        return pending
    take_from(
        session, patient=existing, source=pending, fields=take, actor=actor, why="même personne"
    )
    await _merge(session, keep=existing, drop=pending, actor=actor)
    trace(
        session,
        actor,
        "identity.resolved_same",
        existing.id,
        f"identité en attente patient:{pending.id} : même personne",
    )
    await session.commit()
    return existing


async def merge_duplicates(
    *, session: AsyncSession, organisation_id: int, keep_id: int, drop_id: int, actor: Actor
) -> Patient:
    """Merge two records of the same person into ``keep`` and commit. The kept record's
    identity is unchanged; refused when the two cannot be the same person."""
    if keep_id == drop_id:
        raise Invalid("Choisissez deux fiches différentes.")
    keep = await get_patient(session=session, organisation_id=organisation_id, patient_id=keep_id)
    drop = await get_patient(session=session, organisation_id=organisation_id, patient_id=drop_id)
    for record in (keep, drop):
        if record.merged_into_id is not None:
            raise Conflict("Cette fiche a déjà été fusionnée.")
        if record.pending_of_id is not None:
            raise Conflict("Traitez d'abord l'identité en attente de cette fiche.")
    if keep.birth_date != drop.birth_date or keep.sex is not drop.sex:
        raise Conflict(
            "Les deux fiches n'ont pas la même date de naissance ou le même sexe : vérifiez "
            "la pièce d'identité du patient avant de fusionner."
        )
    if keep.nir and drop.nir and keep.nir != drop.nir:
        raise Conflict(
            "Les deux fiches ont des numéros de sécurité sociale différents : signalez-le au "
            "référent identitovigilance plutôt que de les fusionner."
        )
    if drop.identity_status in VERIFIED and keep.identity_status not in VERIFIED:
        raise Conflict(
            f"Gardez la fiche dont l'identité est {STATUS_LABELS[drop.identity_status]} : "
            "une identité vérifiée n'est jamais remplacée par une identité provisoire."
        )
    await _merge(session, keep=keep, drop=drop, actor=actor)
    await session.commit()
    return keep


async def not_duplicates(
    *, session: AsyncSession, organisation_id: int, first_id: int, second_id: int, actor: Actor
) -> None:
    """Staff checked that two close records are different persons: stop listing them, commit."""
    if first_id == second_id:
        raise Invalid("Choisissez deux fiches différentes.")
    first = await get_patient(session=session, organisation_id=organisation_id, patient_id=first_id)
    second = await get_patient(
        session=session, organisation_id=organisation_id, patient_id=second_id
    )
    mark_distinct(session, first, second, actor=actor)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(
            "Ces deux fiches sont déjà notées comme deux personnes différentes."
        ) from None
