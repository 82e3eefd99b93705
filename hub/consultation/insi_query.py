"""Asking the national INSi teleservice, for the room ("Interroger INSi": the patient's traits,
as checked on the identity document) and for the secretariat's identity desk, through the same
calls: ``search_for_patient`` (a recherche with the traits) and ``verify_for_patient`` (a
vérification of an INS already obtained). One identity found: its INS and traits are stored and
the identity is ``récupérée`` (then the nurse's document check qualifies it). No identity,
several, or an error: nothing changes and the person asking is told what to do, in French.
Every answer is in the audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.consultation import service
from hub.consultation.models import Consultation
from hub.context import HubContext
from hub.errors import Conflict, Forbidden, Invalid
from hub.insi.adapter import Answer, InsIdentity, InsiError, InsiService
from hub.records import insi_identity
from hub.records.patient_service import patient_by_id
from hub.records.vigilance import Actor, trace

if TYPE_CHECKING:
    from hub.identity.models import User
    from hub.records.patients import Patient

UNAVAILABLE = (
    "Le téléservice INSi n'est pas raccordé à ce hub : l'identité ne peut être ni récupérée "
    "ni qualifiée, et les comptes rendus ne sont pas déposés dans le DMP. Vérifiez la pièce "
    "d'identité comme d'habitude ; l'identité sera « validée »."
)
NONE_FOUND = (
    "INSi ne trouve aucune identité avec ces traits. Vérifiez sur la pièce d'identité le nom "
    "de naissance, les prénoms, la date de naissance et le sexe de la fiche, corrigez-les si "
    "besoin, puis interrogez INSi de nouveau."
)
SEVERAL_FOUND = (
    "INSi trouve plusieurs identités avec ces traits. Complétez la fiche avec tous les "
    "prénoms de la pièce d'identité et le lieu de naissance, puis interrogez INSi de nouveau."
)
UNREACHABLE = (
    "Le téléservice INSi ne répond pas pour le moment : réessayez dans quelques minutes. "
    "L'identité du patient reste inchangée."
)


def _refused(code: str) -> str:
    return (
        f"Le téléservice INSi a refusé la demande (code {code}) : l'identité du patient reste "
        "inchangée. Si cela se reproduit, signalez-le au référent identitovigilance."
    )


async def query_insi(
    *, session: AsyncSession, ctx: HubContext, user: User, consultation_id: int
) -> Consultation:
    """Ask INSi for the INS of the consultation's patient (the room's staff)."""
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    if user.role not in service.ROOM_STAFF:
        raise Forbidden("L'identité est vérifiée par le personnel de la salle.")
    from hub.insi.soap import client_for  # zeep: loaded when first needed

    insi = client_for(ctx.settings)
    if insi is None:
        raise Conflict(UNAVAILABLE)
    patient = await patient_by_id(session=session, patient_id=consultation.patient_id)
    assert patient is not None
    await search_for_patient(
        session=session, insi=insi, patient=patient, actor=Actor(kind="user", id=user.id)
    )
    service.trace(
        session, ctx, consultation, user, "insi", consultation.state, "INS récupérée par INSi"
    )
    await session.commit()
    return await service.reload(session, consultation.id)


def _askable(patient: Patient) -> None:
    if patient.pending_of_id is not None:
        raise Conflict(
            "L'identité de ce patient est en attente : dites d'abord s'il s'agit de la même "
            "personne que la fiche existante, puis interrogez INSi."
        )
    if patient.sex.value not in ("F", "M"):
        raise Invalid(
            "INSi ne connaît que les sexes féminin et masculin : indiquez sur la fiche le sexe "
            "porté par la pièce d'identité avant d'interroger INSi."
        )


async def _failed(
    session: AsyncSession, actor: Actor, patient: Patient, exc: InsiError
) -> Conflict:
    """The INSi error traced and committed, as the refusal to raise."""
    trace(session, actor, "identity.insi_error", patient.id, f"INSi : {exc.code or 'injoignable'}")
    await session.commit()
    # No answer, or a failure on INSi's side (a SOAP "Server" fault): try again later.
    failed = not exc.code or exc.code.endswith("Server")
    return Conflict(UNREACHABLE if failed else _refused(exc.code))


async def search_for_patient(
    *, session: AsyncSession, insi: InsiService, patient: Patient, actor: Actor
) -> InsIdentity:
    """Search INSi with the patient's traits (a recherche) and store the one identity found:
    the identity becomes ``récupérée`` (never ``qualifiée``: that is the nurse's document
    check); the caller commits. No identity, several, another INS than the one already
    obtained, or an error: traced and committed, nothing else changes, and ``Conflict`` says
    what to do, in French. Used by the room and by the secretariat's identity desk."""
    _askable(patient)
    try:
        result = await insi.search(insi_identity.traits_of(patient))
    except InsiError as exc:
        raise await _failed(session, actor, patient, exc) from exc
    if result.identity is None:
        several = result.answer is Answer.SEVERAL
        trace(
            session,
            actor,
            "identity.insi_none",
            patient.id,
            "INSi : plusieurs identités" if several else "INSi : aucune identité",
        )
        await session.commit()
        raise Conflict(SEVERAL_FOUND if several else NONE_FOUND)
    try:
        insi_identity.retrieve(session, patient, result.identity, actor=actor)
    except Conflict:  # raised before anything changed
        trace(session, actor, "identity.insi_conflict", patient.id, "INSi : INS différente")
        await session.commit()
        raise
    return result.identity


async def verify_for_patient(
    *, session: AsyncSession, insi: InsiService, patient: Patient, actor: Actor
) -> bool:
    """Ask INSi whether the INS the patient carries (obtained from INSi) and the record's
    traits are still those of the national referential (a vérification), traced; the record
    never changes. An error is traced, committed and raised as ``Conflict``."""
    _askable(patient)
    identity = insi_identity.carried(patient)
    try:
        valid = await insi.verify(identity)
    except InsiError as exc:
        raise await _failed(session, actor, patient, exc) from exc
    trace(
        session,
        actor,
        "identity.insi_verified" if valid else "identity.insi_mismatch",
        patient.id,
        "INSi : INS et traits confirmés" if valid else "INSi : INS ou traits non reconnus",
    )
    return valid
