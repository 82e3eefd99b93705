"""The hub application factory."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import web
from hub import cluster, collector, commands, db, deps, transport
from hub.api_docs import mount_api_docs
from hub.cabins import admin as cabin_admin
from hub.cabins import api as cabin_api
from hub.cabins import gateway, hellos, liveness, presence, routing, vanished
from hub.cluster.bus import RedisEventBus
from hub.cluster.peers import Peers
from hub.config import Environment, Settings
from hub.consoles import (
    booking_move,
    console_api,
    coordinator,
    doctor,
    doctor_console,
    facility,
    identity_desk,
    login,
    nurse,
    referrals,
    room_console,
    secretary,
)
from hub.consoles import guests as guest_pages
from hub.consoles import report as report_pages
from hub.consultation import guests
from hub.consultation import media as consultation_media
from hub.context import HubContext
from hub.errors import HubError, Unauthenticated
from hub.identity import security
from hub.interop import sas as sas_api
from hub.interop import sas_appointments, sas_slot_link
from hub.jobs import JobRunner
from hub.limits import failure_log_for
from hub.logs import configure_logging
from hub.relay import pages as relay_pages
from hub.rendering import make_templates, render
from hub.reporting import pages as reporting_pages
from hub.reports import record_pages as records_pages
from hub.reports import transmissions as relay_transmissions
from hub.scheduling import admin_pages as schedule_admin
from hub.scheduling import public_pages
from hub.wire import AGENT_WS_PATH

logger = logging.getLogger(__name__)

# Live streams (server-sent events) never end by themselves: a stopping server waits this long
# for them, then closes them.
GRACEFUL_SHUTDOWN_SECONDS = 3
# At shutdown, how long the agents' links get to write their goodbyes before the database
# closes.
AGENT_GOODBYE_SECONDS = 5.0

OTHER_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"geolocation=()"),
]
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    *OTHER_SECURITY_HEADERS,
]


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers of every response: the pages may also reach Janus's HTTP API, when there
    is one (the consultations with guests talk to it from the browser)."""
    origin = urlsplit(settings.janus_url)
    if not origin.netloc:
        return SECURITY_HEADERS
    janus = f" {origin.scheme}://{origin.netloc}".encode()
    csp = SECURITY_HEADERS[0][1].replace(b"connect-src 'self'", b"connect-src 'self'" + janus)
    return [(b"content-security-policy", csp), *OTHER_SECURITY_HEADERS]


class SecurityHeaders:
    """Adds the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _wants_json(request: Request) -> bool:
    return (
        request.url.path.startswith("/api/")
        or "application/json" in request.headers.get("accept", "").split(",")[0]
    )


async def _end_agent_links(ctx: HubContext) -> None:
    """Close every agent link this process holds (a stopping hub: no goodbye per cabin) and let
    the goodbyes already under way finish while the database is still open."""
    for conn in list(ctx.agents.values()):
        conn.closed.set()
    if ctx.goodbyes:
        await asyncio.wait(set(ctx.goodbyes), timeout=AGENT_GOODBYE_SECONDS)


def create_app(settings: Settings, *, clock: Callable[[], dt.datetime] = db.utcnow) -> FastAPI:
    """A hub serving pages, the API and the agents' WebSocket, on the configured database."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.make_engine(settings.database_url)
        app.state.hub = HubContext(
            settings=settings,
            engine=engine,
            sessions=db.make_session_factory(engine),
            templates=make_templates(),
            clock=clock,
            failures=failure_log_for(settings.redis_url),
        )
        app.state.hub.on_cabin_hello.append(guests.publish_again_to)
        shared = AsyncExitStack()
        if settings.redis_url:
            await shared.enter_async_context(_shared_with_workers(app.state.hub))
        else:
            async with app.state.hub.sessions() as session:
                await presence.forget_connections(session=session)
        jobs = JobRunner(app.state.hub)
        if settings.jobs_enabled:
            jobs.start()
        if engine.dialect.name == "sqlite":  # one writer: agents' writes queue in turn
            app.state.hub.presence_writes = asyncio.Semaphore(1)
        app.state.batches = hellos.Batches(app.state.hub)
        # made off the event loop once listening, not at import (a restart listens sooner)
        warm = asyncio.create_task(asyncio.to_thread(security.verify_password, None, "x"))
        rows = asyncio.create_task(liveness.keep_rows(app.state.hub), name="cabin-rows")
        shared.enter_context(liveness.noting_shutdown(app.state.hub))
        logger.info("hub started (%s database)", engine.dialect.name)
        if settings.environment is not Environment.DEVELOPMENT and not settings.secure_transport:
            logger.warning(
                "the %s hub serves plain HTTP: cookies are not Secure and there is no HSTS",
                settings.environment.value,
            )
        try:
            yield
        finally:
            app.state.hub.stopping = True
            await jobs.stop()
            rows.cancel()
            warm.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rows
            await _end_agent_links(app.state.hub)
            if not settings.redis_url:  # a lone hub: none of its links is open any more
                async with app.state.hub.sessions() as session:
                    await presence.forget_connections(session=session)
            await shared.aclose()
            await engine.dispose()
            if app.state.hub.failures is not None:
                await app.state.hub.failures.close()

    app = FastAPI(
        title="Hub des cabines de téléconsultation",
        lifespan=lifespan,
        docs_url=None,  # served by hub.api_docs, without a CDN
        openapi_url="/api/openapi.json",
        redoc_url=None,
        # An id no row can have is a page that does not exist, before any query.
        dependencies=[Depends(deps.ids_in_range)],
    )
    # The agents' socket first, as a plain Starlette route: a reconnecting territory's every
    # connection is routed at once, with no dependency to solve (measured by
    # bench/hub_capacity.py: matching it behind the pages' routes cost more than its hello).
    app.router.add_websocket_route(AGENT_WS_PATH, gateway.agent_socket, name="agent_socket")
    app.add_middleware(SecurityHeaders, headers=security_headers(settings))
    app.add_middleware(transport.TransportHeaders, hsts=settings.secure_transport)
    app.add_middleware(transport.ForwardedClient, trusted=settings.trusted_proxy_networks())
    app.mount("/static", StaticFiles(directory=str(web.STATIC_DIR)), name="static")
    mount_api_docs(app)
    app.include_router(login.router)
    app.include_router(coordinator.router)
    app.include_router(cabin_admin.router)
    app.include_router(cabin_api.router)
    app.include_router(public_pages.router)
    app.include_router(sas_slot_link.router)
    app.include_router(secretary.router)
    app.include_router(booking_move.router)
    app.include_router(nurse.router)
    app.include_router(facility.router)
    app.include_router(identity_desk.router)
    app.include_router(schedule_admin.router)
    app.include_router(sas_api.router)
    app.include_router(sas_appointments.router)
    app.include_router(room_console.router)
    app.include_router(doctor_console.router)
    app.include_router(console_api.router)
    app.include_router(guest_pages.router)
    app.include_router(doctor.router)
    app.include_router(report_pages.router)
    app.include_router(consultation_media.router)
    app.include_router(relay_pages.router)
    app.include_router(referrals.router)
    app.include_router(relay_transmissions.router)
    app.include_router(records_pages.router)
    app.include_router(reporting_pages.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> Response:
        try:
            await db.ping(request.app.state.hub.engine)
        except Exception:
            logger.exception("health check: database unreachable")
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError) -> Response:
        if isinstance(exc, Unauthenticated) and not _wants_json(request):
            return login.login_redirect(request.url.path)
        if _wants_json(request):
            return JSONResponse({"detail": exc.message}, status_code=exc.status)
        return render(
            request,
            "error.html",
            {"message": exc.message, "status": exc.status},
            status_code=exc.status,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = [_describe(e) for e in exc.errors()]
        if _wants_json(request):
            return JSONResponse(
                {"detail": "Requête invalide.", "problems": problems}, status_code=422
            )
        # A page's forms say their own problems next to each field; what reaches here was not
        # typed in one of them (a forged request, an outdated page): said without field names.
        said = [_describe_for_people(e) for e in exc.errors()]
        return render(
            request,
            "error.html",
            {
                "message": "Le formulaire envoyé n'a pas pu être enregistré : "
                + " ; ".join(dict.fromkeys(said))
                + ". Revenez à la page précédente, rechargez-la et recommencez.",
                "status": 422,
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path == "/fhir" or request.url.path.startswith("/fhir/"):
            return sas_api.http_error_outcome(exc.status_code)  # the SAS reads OperationOutcomes
        message = {
            404: "Cette page n'existe pas.",
            405: "Cette action n'est pas possible ici.",
        }.get(exc.status_code, "La demande n'a pas pu aboutir.")
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=exc.status_code)
        return render(
            request,
            "error.html",
            {"message": message, "status": exc.status_code},
            status_code=exc.status_code,
        )

    return app


@asynccontextmanager
async def _shared_with_workers(ctx: HubContext) -> AsyncIterator[None]:
    """This worker shares its events, its cabins and their presence with the others, through
    the Redis of HUB_REDIS_URL."""
    client = cluster.connect(ctx.settings.redis_url)
    bus, peers = RedisEventBus(client), Peers(client)
    peers.serve(partial(routing.handle, ctx))
    await bus.start()
    await peers.start()
    ctx.events, ctx.peers = bus, peers
    watcher = asyncio.create_task(vanished.watch(ctx), name="vanished-cabins")
    logger.info("hub worker %s shares its events and cabins through Redis", peers.worker_id)
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await peers.stop()
        await bus.stop()
        await client.aclose()


def from_environment() -> FastAPI:
    """The hub of the ``HUB_…`` settings: what each worker of ``serve --workers`` runs."""
    settings = commands.settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    app = create_app(settings)
    collector.tune_for_serving()
    return app


def _describe(error: object) -> str:
    if not isinstance(error, dict):
        return str(error)
    field = ".".join(str(p) for p in error.get("loc", ())[1:]) or "formulaire"
    kind = str(error.get("type", ""))
    if kind == "missing":
        return f"le champ « {field} » est obligatoire"
    if "int" in kind:
        return f"le champ « {field} » doit être un nombre entier"
    if "too_long" in kind:
        return f"le champ « {field} » est trop long"
    return f"le champ « {field} » est invalide"


__all__ = ["create_app"]


def _describe_for_people(error: object) -> str:
    """One problem of a refused request, for a person: what was wrong, not the field's name."""
    if not isinstance(error, dict):
        return "une réponse n'est pas acceptée"
    kind = str(error.get("type", ""))
    limits = error.get("ctx") if isinstance(error.get("ctx"), dict) else {}
    assert isinstance(limits, dict)
    given = error.get("input")
    typed = f"« {given[:40]}{'…' if len(given) > 40 else ''} »" if isinstance(given, str) else ""
    if kind == "missing":
        return "une réponse obligatoire manque"
    if kind == "string_too_long" and isinstance(given, str):
        return (
            f"un texte est trop long : {limits.get('max_length')} caractères au plus "
            f"(vous en avez saisi {len(given)})"
        )
    if "int" in kind:
        return f"{typed or 'la réponse'} n'est pas accepté : la réponse doit être un nombre entier"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = "au moins" if kind == "greater_than_equal" else "au plus"
        value = limits.get("ge", limits.get("le"))
        return f"{typed or 'la réponse'} n'est pas accepté : le nombre doit être {bound} {value}"
    return f"{typed or 'une réponse'} n'est pas une réponse possible"
