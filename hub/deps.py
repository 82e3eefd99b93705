"""Request dependencies: database session, current user, CSRF protection, ids no row can have.

Who may call a route is the access policy's say: ``Permitted`` asks ``hub.identity.policy``."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Collection
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.dependencies.models import Dependant
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from hub.context import HubContext, context_of
from hub.errors import Forbidden, NotFound, Unauthenticated
from hub.identity import security
from hub.identity import service as identity
from hub.identity.models import User
from hub.identity.policy import (
    ROLE_REFUSED,
    UNLISTED_ROUTE,
    Permission,
    allows,
    roles_for,
    route_permission,
)

SESSION_COOKIE = "cpts_session"
ANON_COOKIE = "cpts_anon"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CSRF_REFUSED = (
    "Ce formulaire n'a pas pu être vérifié (il a peut-être expiré). "
    "Rechargez la page et recommencez."
)


# Row ids are SQL INTEGER primary keys, 32-bit signed on PostgreSQL (SQLite's are wider, but
# the rows are the same): a path id outside 1..MAX_ROW_ID names no row, and the database driver
# would fail on it rather than find none.
MAX_ROW_ID = 2**31 - 1
NO_SUCH_PAGE = "Cette page n'existe pas."
# A row id chosen in a form (a slot, a doctor, a site): one no row can have is an invalid field.
FormRowId = Annotated[int, Form(ge=1, le=MAX_ROW_ID)]
OptionalFormRowId = Annotated[int | None, Form(ge=1, le=MAX_ROW_ID)]


def _integer_path_params(dependant: Dependant) -> list[str]:
    """The names of the integer path parameters of a route and of its dependencies."""
    names = [p.name for p in dependant.path_params if p.field_info.annotation is int]
    for sub in dependant.dependencies:
        names.extend(_integer_path_params(sub))
    return names


async def ids_in_range(connection: HTTPConnection) -> None:
    """Answer 404 for an integer path id that no row can have (0, negative, too large)."""
    if connection.scope["type"] != "http":
        return
    dependant = getattr(connection.scope.get("route"), "dependant", None)
    if not isinstance(dependant, Dependant):
        return
    for name in _integer_path_params(dependant):
        raw = connection.path_params.get(name)
        try:
            value = int(raw) if isinstance(raw, str) else None
        except ValueError:
            continue  # not a number: path validation answers
        if value is not None and not 1 <= value <= MAX_ROW_ID:
            raise NotFound(NO_SUCH_PAGE)


def get_context(request: Request) -> HubContext:
    return context_of(request)


ContextDep = Annotated[HubContext, Depends(get_context)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with context_of(request).sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def _serializer(ctx: HubContext, purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(ctx.secret, salt=f"cpts-{purpose}")


def sign_cookie(ctx: HubContext, purpose: str, value: str) -> str:
    return str(_serializer(ctx, purpose).dumps(value))


def read_cookie(request: HTTPConnection, name: str, purpose: str) -> str | None:
    """A signed cookie's value (of a page request or a WebSocket), None if absent or forged."""
    raw = request.cookies.get(name)
    if not raw:
        return None
    try:
        value = _serializer(context_of(request), purpose).loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def session_key(request: HTTPConnection) -> str | None:
    return read_cookie(request, SESSION_COOKIE, "session")


def csrf_binding(request: Request) -> str:
    """What this browser's CSRF token is bound to: its session, else its anonymous nonce."""
    key = session_key(request)
    if key:
        return "session:" + key
    nonce = getattr(request.state, "anon_nonce", None) or read_cookie(request, ANON_COOKIE, "anon")
    if not nonce:
        nonce = security.new_session_key()
        request.state.anon_nonce_new = True
    request.state.anon_nonce = nonce
    return "anon:" + nonce


def csrf_token(request: Request) -> str:
    """The token to put in this page's forms."""
    return security.csrf_token_for(context_of(request).secret, csrf_binding(request))


async def csrf_protect(request: Request) -> None:
    """Refuse an unsafe request whose form or header does not carry this browser's token."""
    if request.method not in UNSAFE_METHODS:
        return
    candidate = request.headers.get(CSRF_HEADER, "")
    if not candidate and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        candidate = value if isinstance(value, str) else ""
    if not candidate or not security.csrf_matches(
        context_of(request).secret, csrf_binding(request), candidate
    ):
        raise Forbidden(CSRF_REFUSED)


async def optional_user(request: Request, session: SessionDep) -> User | None:
    key = session_key(request)
    if not key:
        return None
    ctx = context_of(request)
    user = await identity.resolve_session(
        session=session,
        key=key,
        now=ctx.clock(),
        idle=dt.timedelta(minutes=ctx.settings.session_idle_minutes),
    )
    request.state.user = user
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]


async def current_user(user: OptionalUser) -> User:
    if user is None:
        raise Unauthenticated("Veuillez vous connecter.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def permitted_user(request: Request, user: CurrentUser) -> User:
    """The signed-in user, if their role holds the permission of the route being called."""
    permission = route_permission(request)
    if permission is None:
        raise Forbidden(UNLISTED_ROUTE)
    if user.role not in roles_for(permission):
        raise Forbidden(ROLE_REFUSED)
    return user


Permitted = Annotated[User, Depends(permitted_user)]


async def rollback_keeping_user(session: AsyncSession, user: User) -> None:
    """Roll back a failed request's writes and reload the user (and their sites) for the page
    that explains the failure."""
    user_id = user.id  # read before the rollback expires it
    await session.rollback()
    await identity.get_user(session=session, user_id=user_id, refresh=True)


async def reach_of_session_user(
    request: Request, permissions: Collection[Permission]
) -> dict[str, frozenset[int]] | None:
    """For each permission, the ids of the logged-in user's sites where the access policy lets
    them use it, from a short-lived database session (for long responses such as event
    streams, which must not hold a connection); None if anonymous."""
    key = session_key(request)
    if not key:
        return None
    ctx = context_of(request)
    async with ctx.sessions() as session:
        user = await identity.resolve_session(
            session=session,
            key=key,
            now=ctx.clock(),
            idle=dt.timedelta(minutes=ctx.settings.session_idle_minutes),
        )
        if user is None:
            return None
        sites = [s.id for s in await identity.sites_for(session=session, user=user)]
        return {
            p: frozenset(site for site in sites if allows(user, p, sites=[site]))
            for p in permissions
        }
