"""The coordinator's management of cabins: create one, issue a new agent token, revoke it.

A new token or a revocation closes the agent's live link at once (close code 4401)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.audit.service import record_event
from hub.cabins import routing
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import Invalid, NotFound
from hub.identity import service as identity
from hub.lengths import Text
from hub.rendering import render
from hub.wire import AGENT_WS_PATH

if TYPE_CHECKING:
    from hub.identity.models import Cabin, Site, User

router = APIRouter(prefix="/coordination/cabines", dependencies=[Depends(deps.csrf_protect)])
CABIN_NAME = Text("Nom de la cabine", 200)


async def _own_site(session: AsyncSession, user: User, site_id: int) -> Site:
    for site in await identity.sites_for(session=session, user=user):
        if site.id == site_id:
            return site
    raise NotFound("Ce site n'existe pas dans votre CPTS.")


async def _own_cabin(session: AsyncSession, user: User, cabin_id: int) -> Cabin:
    cabin = await identity.get_cabin(session=session, cabin_id=cabin_id)
    if cabin.site.organisation_id != user.organisation_id:
        raise NotFound("Cabine introuvable.")
    return cabin


def _token_page(request: Request, ctx: ContextDep, cabin: Cabin, token: str) -> Response:
    ws_url = ctx.settings.base_url.replace("http", "ws", 1) + AGENT_WS_PATH
    return render(
        request,
        "cabin_token.html",
        {
            "cabin": cabin,
            "token": token,
            "hub_url": ctx.settings.base_url,
            "ws_url": ws_url,
        },
    )


@router.post("", response_class=HTMLResponse)
async def create_cabin(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    site_id: deps.FormRowId,
    name: Annotated[str, Form()] = "",
) -> Response:
    name = name.strip()
    if not name:
        raise Invalid("Donnez un nom à la cabine (par exemple « Chariot 1 »).")
    if problem := CABIN_NAME.problem(name):
        raise Invalid(problem)
    site = await _own_site(session, user, site_id)
    cabin, token = await identity.create_cabin(session=session, site=site, name=name)
    record_event(
        session=session,
        action="cabin.created",
        actor_kind="user",
        actor_id=user.id,
        site_id=site.id,
        target=f"cabin:{cabin.id}",
    )
    await session.commit()
    cabin = await identity.get_cabin(session=session, cabin_id=cabin.id)
    return _token_page(request, ctx, cabin, token)


@router.post("/{cabin_id}/jeton", response_class=HTMLResponse)
async def new_token(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted, cabin_id: int
) -> Response:
    cabin = await _own_cabin(session, user, cabin_id)
    token = await identity.issue_cabin_token(session=session, cabin=cabin)
    record_event(
        session=session,
        action="cabin.token_issued",
        actor_kind="user",
        actor_id=user.id,
        site_id=cabin.site_id,
        target=f"cabin:{cabin.id}",
    )
    await session.commit()
    await routing.disconnect(ctx, cabin_id=cabin.id)
    return _token_page(request, ctx, cabin, token)


@router.post("/{cabin_id}/revoquer")
async def revoke(session: SessionDep, ctx: ContextDep, user: Permitted, cabin_id: int) -> Response:
    cabin = await _own_cabin(session, user, cabin_id)
    await identity.revoke_cabin_token(session=session, cabin=cabin)
    record_event(
        session=session,
        action="cabin.token_revoked",
        actor_kind="user",
        actor_id=user.id,
        site_id=cabin.site_id,
        target=f"cabin:{cabin.id}",
    )
    await session.commit()
    await routing.disconnect(ctx, cabin_id=cabin.id)
    return RedirectResponse("/coordination?message=jeton-revoque", status_code=303)
