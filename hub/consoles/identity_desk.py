"""The secretariat's identity desk: pending identities to resolve (the same person as an
existing patient, or a different one), probable duplicates to merge, or to keep apart when
they are two different persons, and a patient's identity checked with the national INSi
teleservice (a recherche with the record's traits, or the vérification of an INS already
obtained), INSi's answer shown beside the record's traits. The desk goes through the room's
INSi calls (``hub.consultation.insi_query``): an identity becomes ``récupérée`` only from
INSi's answer, never ``qualifiée`` (the nurse's check of a high-trust document does that)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.consultation import identity_review, insi_query
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import Conflict, HubError, Invalid
from hub.insi.adapter import OID_INS_NIA, InsIdentity, Traits
from hub.records import insi_identity, patient_service
from hub.records.vigilance import STATUS_LABELS, Actor, probable_duplicates
from hub.rendering import render
from hub.reports import deposit

if TYPE_CHECKING:
    from hub.identity.models import User
    from hub.records.patients import Patient

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])
PAGE = "/secretariat/identites"
MESSAGES = {
    "meme": "Le rendez-vous est rattaché à la fiche existante.",
    "autre": "La personne a désormais sa propre fiche.",
    "fusion": "Les deux fiches sont fusionnées.",
    "distincts": "Les deux fiches restent séparées : elles ne seront plus proposées.",
}


def actor_of(request: Request, user: User) -> Actor:
    """The staff member deciding, for the audit trail."""
    return Actor(kind="user", id=user.id, ip=request.client.host if request.client else "")


async def _page(
    request: Request,
    session: AsyncSession,
    user: User,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "secretary/identities.html",
        {
            "cases": await identity_review.pending_cases(
                session=session, organisation_id=user.organisation_id
            ),
            "duplicates": await probable_duplicates(
                session=session, organisation_id=user.organisation_id
            ),
            "status_labels": STATUS_LABELS,
            "message": MESSAGES.get(request.query_params.get("message", ""), ""),
            "error": error,
        },
        status_code=status_code,
    )


async def _deposit_waiting(
    session: AsyncSession, ctx: HubContext, user: User, patient_id: int
) -> None:
    """The kept record may now be a qualified identity holding reports whose deposit in the
    shared record waited for it: deposit them."""
    if await deposit.deposit_waiting(session=session, ctx=ctx, patient_id=patient_id, actor=user):
        await session.commit()


@router.get(PAGE, response_class=HTMLResponse)
async def identities_page(request: Request, session: SessionDep, user: Permitted) -> Response:
    return await _page(request, session, user)


@router.post(PAGE + "/{pending_id}", response_class=HTMLResponse)
async def resolve(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    pending_id: int,
    choice: Annotated[str, Form(alias="decision", max_length=10)] = "",
    take: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        same = identity_review.same_person(choice)
        kept = await identity_review.resolve_pending(
            session=session,
            organisation_id=user.organisation_id,
            pending_id=pending_id,
            same_person=same,
            take=frozenset(take or ()) if same else frozenset(),
            actor=actor_of(request, user),
        )
        await _deposit_waiting(session, ctx, user, kept.id)
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _page(request, session, user, error=exc.message, status_code=exc.status)
    return RedirectResponse(f"{PAGE}?message={choice}", status_code=303)


@router.post("/secretariat/doublons", response_class=HTMLResponse)
async def merge(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    first: deps.FormRowId,
    second: deps.FormRowId,
    keep: deps.OptionalFormRowId = None,
    action: Annotated[str, Form(max_length=10)] = "fusion",
) -> Response:
    try:
        if action == "distincts":
            await identity_review.not_duplicates(
                session=session,
                organisation_id=user.organisation_id,
                first_id=first,
                second_id=second,
                actor=actor_of(request, user),
            )
            return RedirectResponse(f"{PAGE}?message=distincts", status_code=303)
        if keep not in (first, second):
            raise Invalid("Choisissez la fiche à garder.")
        kept = await identity_review.merge_duplicates(
            session=session,
            organisation_id=user.organisation_id,
            keep_id=keep,
            drop_id=second if keep == first else first,
            actor=actor_of(request, user),
        )
        await _deposit_waiting(session, ctx, user, kept.id)
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _page(request, session, user, error=exc.message, status_code=exc.status)
    return RedirectResponse(f"{PAGE}?message=fusion", status_code=303)


INSI_UNAVAILABLE = (
    "Le téléservice INSi n'est pas raccordé à ce hub : l'identité ne peut pas être récupérée "
    "depuis le secrétariat. Elle sera vérifiée sur la pièce d'identité, à l'accueil de la salle."
)
SEX_LABELS = {"F": "féminin", "M": "masculin", "I": "indéterminé"}


@dataclass(frozen=True, slots=True)
class TraitRow:
    """One line of the comparison: the record's value before the call, and INSi's."""

    label: str
    record: str
    insi: str

    @property
    def differs(self) -> bool:
        return bool(self.insi) and self.insi != self.record


def _ins(number: str, oid: str) -> str:
    if not number:
        return ""
    return f"{number} ({'INS-NIA' if oid == OID_INS_NIA else 'INS-NIR'})"


def _cells(traits: Traits | None, ins: str = "") -> list[str]:
    if traits is None:
        return ["", "", "", "", "", ""]
    date = traits.birth_date.strftime("%d/%m/%Y") if isinstance(traits.birth_date, dt.date) else ""
    return [
        traits.birth_name,
        traits.first_names,
        date,
        SEX_LABELS.get(traits.sex, traits.sex),
        traits.birth_place_code,
        ins,
    ]


def compare(before: Traits, before_ins: str, returned: InsIdentity | None) -> list[TraitRow]:
    """The record's traits beside those INSi returned (its INS included)."""
    labels = (
        "Nom de naissance",
        "Prénoms",
        "Date de naissance",
        "Sexe",
        "Lieu de naissance (code INSEE)",
        "INS",
    )
    theirs = _cells(
        returned.traits if returned else None,
        _ins(returned.ins, returned.oid) if returned else "",
    )
    return [
        TraitRow(label, mine, insi)
        for label, mine, insi in zip(labels, _cells(before, before_ins), theirs, strict=True)
    ]


async def _insi_page(
    request: Request,
    ctx: HubContext,
    patient: Patient,
    *,
    rows: list[TraitRow] | None = None,
    outcome: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    if rows is None:
        rows = compare(insi_identity.traits_of(patient), _ins(patient.nir, patient.ins_oid), None)
    return render(
        request,
        "secretary/identity_insi.html",
        {
            "patient": patient,
            "status_label": STATUS_LABELS[patient.identity_status],
            "carries_ins": insi_identity.carries_ins(patient),
            "insi_unavailable": "" if ctx.settings.insi_url else INSI_UNAVAILABLE,
            "rows": rows,
            "outcome": outcome,
            "error": error,
        },
        status_code=status_code,
    )


@router.get(PAGE + "/patients/{patient_id}", response_class=HTMLResponse)
async def identity_page(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted, patient_id: int
) -> Response:
    patient = await patient_service.get_patient(
        session=session, organisation_id=user.organisation_id, patient_id=patient_id
    )
    return await _insi_page(request, ctx, patient)


@router.post(PAGE + "/patients/{patient_id}/insi", response_class=HTMLResponse)
async def ask_insi(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted, patient_id: int
) -> Response:
    """Ask INSi about the patient: a vérification when the record carries an INS obtained from
    INSi, else a recherche with its traits; the answer beside the record's traits."""
    patient = await patient_service.get_patient(
        session=session, organisation_id=user.organisation_id, patient_id=patient_id
    )
    before = insi_identity.traits_of(patient)
    before_ins = _ins(patient.nir, patient.ins_oid)
    from hub.insi.soap import client_for  # zeep: loaded when first needed

    insi = client_for(ctx.settings)
    actor = actor_of(request, user)
    try:
        if insi is None:
            raise Conflict(INSI_UNAVAILABLE)
        if patient.merged_into_id is not None:
            raise Conflict(
                "Cette fiche a été fusionnée dans une autre : interrogez INSi depuis la fiche "
                "gardée."
            )
        if insi_identity.carries_ins(patient):
            sent = insi_identity.carried(patient)
            valid = await insi_query.verify_for_patient(
                session=session, insi=insi, patient=patient, actor=actor
            )
            await session.commit()
            rows = compare(before, before_ins, sent if valid else None)
            return await _insi_page(
                request, ctx, patient, rows=rows, outcome="verifiee" if valid else "refusee"
            )
        found = await insi_query.search_for_patient(
            session=session, insi=insi, patient=patient, actor=actor
        )
        await session.commit()
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        patient = await patient_service.get_patient(
            session=session, organisation_id=user.organisation_id, patient_id=patient_id
        )
        return await _insi_page(request, ctx, patient, error=exc.message, status_code=exc.status)
    return await _insi_page(
        request, ctx, patient, rows=compare(before, before_ins, found), outcome="recuperee"
    )
