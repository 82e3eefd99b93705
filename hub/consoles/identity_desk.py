"""The secretariat's identity desk: pending identities to resolve (the same person as an
existing patient, or a different one) and probable duplicates to merge, or to keep apart when
they are two different persons."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.consultation import identity_review
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import HubError, Invalid
from hub.records.vigilance import STATUS_LABELS, Actor, probable_duplicates
from hub.rendering import render
from hub.reports import deposit

if TYPE_CHECKING:
    from hub.identity.models import User

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
