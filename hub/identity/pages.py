"""Login, logout, and the home page of each role."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.audit.service import recent_events, record_event
from hub.cabins.presence import DEVICE_STATE_LABELS, CabinStatus, devices_of, status_of
from hub.cabins.refusals import refusal_summaries
from hub.context import HubContext
from hub.deps import ContextDep, CurrentUser, OptionalUser, SessionDep
from hub.errors import TooManyAttempts, Unauthenticated
from hub.identity import service
from hub.identity.models import Role, User
from hub.identity.policy import Permitted
from hub.notify.outbox import recent_messages
from hub.rendering import render
from hub.scheduling.policy import policy_for

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])

ROLE_HOME = {
    Role.COORDINATOR: "/coordination",
    Role.SECRETARY: "/secretariat",
    Role.NURSE: "/infirmier",
    Role.DOCTOR: "/medecin",
    Role.FACILITY_STAFF: "/etablissement",
}


def _safe_next(target: str) -> str:
    """Only local paths are followed after login (no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


@router.get("/", include_in_schema=False)
async def root(user: OptionalUser) -> Response:
    if user is None:
        return RedirectResponse("/connexion", status_code=303)
    return RedirectResponse(ROLE_HOME[user.role], status_code=303)


@router.get("/connexion", response_class=HTMLResponse)
async def login_page(request: Request, user: OptionalUser, suivant: str = "") -> Response:
    if user is not None:
        return RedirectResponse(ROLE_HOME[user.role], status_code=303)
    return render(request, "login.html", {"next": _safe_next(suivant), "username": ""})


@router.post("/connexion", response_class=HTMLResponse)
async def login_submit(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    username: Annotated[str, Form(max_length=80)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    suivant: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    ip = request.client.host if request.client else ""
    if not username.strip() or not password:
        return render(
            request,
            "login.html",
            {
                "error": "Saisissez votre identifiant et votre mot de passe.",
                "username": username,
                "next": _safe_next(suivant),
            },
            status_code=422,
        )
    try:
        user = await service.authenticate(
            session=session,
            username=username,
            password=password,
            ip=ip,
            now=ctx.clock(),
            max_failures=ctx.settings.login_max_failures,
            max_address_failures=ctx.settings.login_address_max_failures,
            window=dt.timedelta(minutes=ctx.settings.login_window_minutes),
        )
    except (Unauthenticated, TooManyAttempts) as exc:
        return render(
            request,
            "login.html",
            {
                "error": exc.message,
                "username": username,
                "next": _safe_next(suivant),
            },
            status_code=exc.status,
        )
    old_key = deps.session_key(request)
    if old_key:
        await service.close_session(session=session, key=old_key)
    key = await service.open_session(session=session, user=user, now=ctx.clock())
    await session.commit()
    response = RedirectResponse(_safe_next(suivant) or ROLE_HOME[user.role], status_code=303)
    response.set_cookie(
        deps.SESSION_COOKIE,
        deps.sign_cookie(ctx, "session", key),
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
        max_age=ctx.settings.session_idle_minutes * 60,
    )
    response.delete_cookie(deps.ANON_COOKIE)
    return response


@router.post("/deconnexion")
async def logout(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    key = deps.session_key(request)
    if key:
        await service.close_session(session=session, key=key)
    if user is not None:
        record_event(
            session=session,
            action="logout",
            actor_kind="user",
            actor_id=user.id,
            ip=request.client.host if request.client else "",
        )
    await session.commit()
    response = RedirectResponse("/connexion?deconnecte=1", status_code=303)
    response.delete_cookie(deps.SESSION_COOKIE)
    return response


async def home_context(ctx: HubContext, session: AsyncSession, user: User) -> dict[str, object]:
    """The sites a user acts for and the live status of their cabins."""
    sites = await service.sites_for(session=session, user=user)
    now = ctx.clock()
    offline_after = dt.timedelta(seconds=ctx.settings.agent_offline_after_seconds)
    statuses: dict[int, list[CabinStatus]] = {
        site.id: [status_of(c, now=now, offline_after=offline_after) for c in site.cabins]
        for site in sites
    }
    devices = await devices_of(session=session, cabin_ids=[c.id for s in sites for c in s.cabins])
    can_command = user.role in (Role.NURSE, Role.DOCTOR, Role.FACILITY_STAFF)
    return {
        "sites": sites,
        "statuses": statuses,
        "devices": devices,
        "state_labels": DEVICE_STATE_LABELS,
        "can_command": can_command,
    }


@router.get("/coordination", response_class=HTMLResponse)
async def coordinator_home(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
) -> Response:
    data = await home_context(ctx, session, user)
    users = await service.users_of(session=session, organisation_id=user.organisation_id)
    cabins = {c.id: c.name for site in data["sites"] for c in site.cabins}  # type: ignore[attr-defined]
    names = {u.id: u.full_name for u in users}
    data["users"] = users
    data["events"] = await recent_events(session=session, limit=30)
    data["actor_names"] = {"user": names, "cabin": cabins}
    data["refusals"] = await refusal_summaries(session=session, cabin_ids=list(cabins))
    data["policy"] = await policy_for(session=session, organisation_id=user.organisation_id)
    data["outbox"] = await recent_messages(session=session, limit=30)
    data["policy"] = await policy_for(session=session, organisation_id=user.organisation_id)
    data["outbox"] = await recent_messages(session=session, limit=30)
    return render(request, "coordination.html", data)


def login_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/connexion?suivant={quote(path)}", status_code=303)


__all__ = ["ROLE_HOME", "CurrentUser", "login_redirect", "router"]
