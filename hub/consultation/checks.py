"""What the room checks before calling the doctor: the patient's identity (the five strict
INS traits against a high-trust document), their consent (teleconsultation, shared record),
and the nurse's pre-consultation notes with the PHQ-9/GAD-7 scales."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from sqlalchemy.ext.asyncio import AsyncSession

from hub.consultation import identity_review, service
from hub.consultation.models import Consultation, DmpChoice, State
from hub.context import HubContext
from hub.errors import Conflict, Forbidden, Invalid
from hub.lengths import Text
from hub.records.ins import birth_place_problem, nir_problem, nir_traits_problem, normalise_nir
from hub.records.patient_service import patient_by_id
from hub.records.patients import IdentityStatus
from hub.records.vigilance import FROM_INSI, Actor, set_status
from hub.scheduling.forms import TextForm

if TYPE_CHECKING:
    from hub.identity.models import User
    from hub.records.patients import Patient

# High-trust identity documents of the INS referential (a driving licence or a Vitale card
# does not validate an identity).
IDENTITY_DOCUMENTS = {
    "cni": "Carte nationale d'identité",
    "passeport": "Passeport",
    "titre_sejour": "Titre de séjour",
    "livret_famille": "Livret de famille (mineur, avec la pièce du représentant)",
    "acte_naissance": "Extrait d'acte de naissance (mineur, avec la pièce du représentant)",
}


class IdentityCheckForm(TextForm):
    """What the room's staff type when checking the patient's identity document."""

    birth_place_code: Annotated[str, Text("Lieu de naissance (code INSEE)", 10)] = ""
    nir: Annotated[str, Text("N° de sécurité sociale", 30)] = ""
    document: Annotated[str, Text("Pièce présentée", 40)] = ""
    traits_match: Annotated[str, Text("Traits conformes à la pièce", 3)] = ""


def identity_check_problems(
    patient: Patient, *, document: str, traits_match: bool, place: str, number: str
) -> dict[str, str]:
    """Every problem with the room's identity check, in French, by the form's field name (in
    the form's order)."""
    problems: dict[str, str] = {}
    if not place:
        problems["birth_place_code"] = (
            "Indiquez le lieu de naissance (code INSEE) lu sur la pièce : c'est l'un des cinq "
            "traits stricts de l'identité."
        )
    elif problem := birth_place_problem(place):
        problems["birth_place_code"] = problem
    if number and (
        problem := nir_problem(number)
        or nir_traits_problem(number, sex=patient.sex.value, birth_date=patient.birth_date)
    ):
        problems["nir"] = problem
    if document not in IDENTITY_DOCUMENTS:
        problems["document"] = (
            "Choisissez la pièce d'identité présentée (les pièces à haut niveau de "
            "confiance seulement : carte d'identité, passeport, titre de séjour)."
        )
    if not traits_match:
        problems["traits_match"] = (
            "Les traits d'identité ne correspondent pas à la pièce : corrigez la fiche "
            "du patient avant de valider son identité."
        )
    return problems


async def verify_identity(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation_id: int,
    document: str,
    traits_match: bool,
    birth_place_code: str = "",
    nir: str = "",
) -> Consultation:
    """The nurse checked the patient's identity document against the five strict INS traits
    (birth name, first names, birth date, sex, birth place), completing the birth place and the
    social-security number read from the document or the Vitale card."""
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    if user.role not in service.ROOM_STAFF:
        raise Forbidden("L'identité est vérifiée par le personnel de la salle.")
    patient = await patient_by_id(session=session, patient_id=consultation.patient_id)
    assert patient is not None
    if patient.pending_of_id is not None:
        raise Conflict(
            "L'identité de ce patient est en attente : dites d'abord s'il s'agit de la même "
            "personne que la fiche existante, puis vérifiez sa pièce d'identité."
        )
    actor = Actor(kind="user", id=user.id)
    place = birth_place_code.strip().upper() or patient.birth_place_code
    number = normalise_nir(nir) if nir.strip() else ""
    problems = identity_check_problems(
        patient, document=document, traits_match=traits_match, place=place, number=number
    )
    if problems:
        raise Invalid(" ".join(problems.values()), fields=problems)
    from_insi = patient.identity_status in FROM_INSI
    if from_insi and number and number != patient.nir:
        message = (
            "Ce numéro diffère de l'INS obtenue du téléservice INSi : elle n'est jamais "
            "remplacée par un numéro saisi. Signalez-le au référent identitovigilance."
        )
        raise Conflict(message, fields={"nir": message})
    if from_insi and patient.birth_place_code and place != patient.birth_place_code:
        message = (
            "Ce lieu de naissance diffère de celui de l'INS obtenue du téléservice INSi : "
            "signalez-le au référent identitovigilance plutôt que de le modifier ici."
        )
        raise Conflict(message, fields={"birth_place_code": message})
    if patient.birth_place_code and place != patient.birth_place_code:
        # A strict trait changes: the identity is provisional again until checked below.
        set_status(
            session,
            patient,
            IdentityStatus.PROVISIONAL,
            actor=actor,
            why="lieu de naissance modifié à la vérification",
        )
    patient.birth_place_code = place
    if number and not from_insi:
        # Typed from a card: kept, but only an INS returned by INSi is carried into documents.
        patient.nir = number
    consultation.identity_document = document
    consultation.identity_checked_at = ctx.clock()
    # Checked against a high-trust document: "validée". "Qualifiée" needs the INS returned by
    # the national INSi service too (hub.consultation.insi_query): only an identity
    # "récupérée" from INSi, carrying INSi's authority OID, becomes qualified once checked.
    if patient.identity_status is IdentityStatus.RETRIEVED and patient.ins_oid:
        set_status(
            session, patient, IdentityStatus.QUALIFIED, actor=actor, why="pièce d'identité vérifiée"
        )
    elif patient.identity_status is IdentityStatus.PROVISIONAL:
        set_status(
            session, patient, IdentityStatus.VALIDATED, actor=actor, why="pièce d'identité vérifiée"
        )
    service.trace(
        session,
        ctx,
        consultation,
        user,
        "verify_identity",
        consultation.state,
        IDENTITY_DOCUMENTS[document],
    )
    await session.commit()
    return await service.reload(session, consultation.id)


async def resolve_pending_identity(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation_id: int,
    decision: str,
    take: frozenset[str],
) -> Consultation:
    """The nurse, with the patient in front of her, says whether the pending identity of the
    booking is the patient already known (merged, taking the data she chose) or someone else."""
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    if user.role not in service.ROOM_STAFF:
        raise Forbidden("L'identité est vérifiée par le personnel de la salle.")
    if consultation.state not in (State.ARRIVED, State.PRECONSULTATION, State.READY):
        raise Conflict("L'identité ne peut plus être modifiée à ce stade de la consultation.")
    same = identity_review.same_person(decision)
    service.trace(
        session,
        ctx,
        consultation,
        user,
        "identity_pending",
        consultation.state,
        "même personne que la fiche connue" if same else "personne différente",
    )
    await identity_review.resolve_pending(
        session=session,
        organisation_id=user.organisation_id,
        pending_id=consultation.patient_id,
        same_person=same,
        take=take if same else frozenset(),
        actor=Actor(kind="user", id=user.id),
    )
    return await service.reload(session, consultation.id)


async def record_consent(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation_id: int,
    teleconsultation: bool,
    dmp: DmpChoice,
) -> Consultation:
    """The patient's consent to teleconsultation and their choice about the shared record."""
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    if user.role not in service.ROOM_STAFF:
        raise Forbidden("Le consentement est recueilli par le personnel de la salle.")
    if not teleconsultation:
        raise Invalid(
            "Sans le consentement du patient, la téléconsultation ne peut pas avoir "
            "lieu : réorientez-le."
        )
    if dmp is DmpChoice.NOT_ASKED:
        raise Invalid(
            "Indiquez si le patient accepte ou refuse le dépôt du compte rendu dans "
            "son dossier médical partagé."
        )
    consultation.consent_at = ctx.clock()
    consultation.dmp_choice = dmp
    service.trace(session, ctx, consultation, user, "consent", consultation.state, dmp.value)
    await session.commit()
    return await service.reload(session, consultation.id)


PHQ9_ITEMS = 9
GAD7_ITEMS = 7


def scale_score(answers: list[int | None], items: int) -> int | None:
    """The total of a PHQ-9/GAD-7 questionnaire (0–3 per item), None when not filled in."""
    if all(a is None for a in answers):
        return None
    if len(answers) != items or any(a is None or not 0 <= a <= 3 for a in answers):
        raise Invalid(f"Répondez aux {items} questions du questionnaire (0 à 3 chacune).")
    return sum(a for a in answers if a is not None)


def phq9_severity(score: int) -> str:
    for limit, label in (
        (4, "minimale"),
        (9, "légère"),
        (14, "modérée"),
        (19, "modérément sévère"),
    ):
        if score <= limit:
            return label
    return "sévère"


def gad7_severity(score: int) -> str:
    for limit, label in ((4, "minimale"), (9, "légère"), (14, "modérée")):
        if score <= limit:
            return label
    return "sévère"


async def save_preconsultation(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation_id: int,
    reason: str,
    history: str,
    treatments: str,
    allergies: str,
    phq9: int | None,
    gad7: int | None,
) -> Consultation:
    """The nurse's notes before the doctor joins."""
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    if user.role not in service.ROOM_STAFF:
        raise Forbidden("La préconsultation est remplie par le personnel de la salle.")
    if consultation.state not in (State.ARRIVED, State.PRECONSULTATION, State.READY):
        raise Conflict("La préconsultation ne peut plus être modifiée.")
    if not reason.strip():
        raise Invalid("Indiquez le motif de consultation.")
    consultation.reason, consultation.history = reason.strip(), history.strip()
    consultation.treatments, consultation.allergies = treatments.strip(), allergies.strip()
    consultation.phq9, consultation.gad7 = phq9, gad7
    service.trace(session, ctx, consultation, user, "preconsultation", consultation.state)
    await session.commit()
    return await service.reload(session, consultation.id)
