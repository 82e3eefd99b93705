"""Login, logout, and where each role lands (``ROLE_HOME``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import deps
from hub.audit.service import record_event
from hub.deps import ContextDep, CurrentUser, OptionalUser, SessionDep
from hub.errors import TooManyAttempts, Unauthenticated
from hub.identity import service
from hub.identity.models import Role
from hub.lengths import Text
from hub.rendering import render

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])
USERNAME = Text("Identifiant", 80)
PASSWORD = Text("Mot de passe", 200)
MAX_NEXT = 300  # the page to go back to after signing in

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
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    suivant: Annotated[str, Form()] = "",
) -> Response:
    ip = request.client.host if request.client else ""
    if len(suivant) > MAX_NEXT:
        suivant = ""  # not a page of the hub: the role's home instead
    problem = USERNAME.problem(username) or PASSWORD.problem(password)
    if not username.strip() or not password:
        problem = "Saisissez votre identifiant et votre mot de passe."
    if problem:
        return render(
            request,
            "login.html",
            {"error": problem, "username": username, "next": _safe_next(suivant)},
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
            failures=ctx.failures,
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


def login_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/connexion?suivant={quote(path)}", status_code=303)


__all__ = ["ROLE_HOME", "CurrentUser", "login_redirect", "router"]
