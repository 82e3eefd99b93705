"""The SAS platform's FHIR interface, under ``/fhir``: free-slot search and regulators' bookings.

Every call is authenticated by an API client's bearer token (mTLS is terminated before the hub,
see the package docstring) and recorded in the audit trail with actor_kind ``api_client``.
Errors are OperationOutcome resources whose diagnostics are in French.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import record_event
from hub.deps import ContextDep, SessionDep
from hub.errors import Conflict, Forbidden, HubError, Invalid, NotFound, Unauthenticated
from hub.identity import service as identity
from hub.identity.models import SiteKind
from hub.interop import clients, fhir
from hub.interop import fhir_actors as actors
from hub.interop.models import ApiClient, ApiClientKind
from hub.interop.sas_slot_link import slot_link
from hub.scheduling.models import Reservation, SlotState
from hub.scheduling.slots import free_slots, seats_held, slot_with_site

if TYPE_CHECKING:
    from hub.identity.models import Site, User
    from hub.scheduling.models import Slot

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
ACTOR_KIND = "api_client"
SAS_MAY_USE: frozenset[Reservation | None] = frozenset({None, Reservation.SAS})
MAX_SLOTS = 5000
MAX_BODY_BYTES = 64_000

# Messages of the refusals (French, for the person configuring the SAS connection).
NO_TOKEN = (
    "Authentification requise : présentez le jeton de la plateforme SAS dans "  # noqa: S105
    "l'en-tête « Authorization: Bearer … »."
)
BAD_TOKEN = "Jeton d'accès inconnu : vérifiez le jeton configuré pour la plateforme SAS."  # noqa: S105
REVOKED_TOKEN = (
    "Ce jeton d'accès a été révoqué : demandez un nouveau jeton à la "  # noqa: S105
    "coordination de la CPTS."
)
WRONG_KIND = "Ce jeton d'accès n'ouvre pas l'interface SAS."

ISSUE_CODES: dict[type[HubError], str] = {
    Unauthenticated: "login",
    Forbidden: "forbidden",
    NotFound: "not-found",
    Conflict: "conflict",
    Invalid: "business-rule",
    fhir.FhirInvalid: "invalid",
}


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def outcome_response(exc: HubError) -> FhirResponse:
    """The OperationOutcome answering a refused request, with the error's HTTP status."""
    code = next((c for cls, c in ISSUE_CODES.items() if type(exc) is cls), "processing")
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    # The guide answers 422 when a rule of the application refuses the action (a slot just
    # taken, a booking already cancelled), where the rest of the hub says 409.
    status = HTTPStatus.UNPROCESSABLE_ENTITY if isinstance(exc, Conflict) else exc.status
    return FhirResponse(
        fhir.operation_outcome(code=code, diagnostics=exc.message),
        status_code=int(status),
        headers=headers,
    )


UNKNOWN_PATH = "Cette ressource ou cette opération FHIR n'existe pas sur ce serveur."
UNSUPPORTED = "Cette interaction FHIR n'est pas prise en charge pour cette ressource."


def http_error_outcome(status_code: int) -> FhirResponse:
    """An unknown path (404) or method (405) under ``/fhir``, as an OperationOutcome."""
    if status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        body = fhir.operation_outcome(code="not-supported", diagnostics=UNSUPPORTED)
    elif status_code == HTTPStatus.NOT_FOUND:
        body = fhir.operation_outcome(code="not-found", diagnostics=UNKNOWN_PATH)
    else:
        body = fhir.operation_outcome(
            code="processing", diagnostics="La demande n'a pas pu aboutir."
        )
    return FhirResponse(body, status_code=status_code)


class FhirRoute(APIRoute):
    """A route whose errors (dependencies included) come back as OperationOutcome."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def fhir_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except HubError as exc:
                return outcome_response(exc)
            except RequestValidationError:
                return outcome_response(fhir.FhirInvalid("Requête FHIR mal formée."))

        return fhir_handler


router = APIRouter(prefix="/fhir", route_class=FhirRoute, tags=["FHIR (SAS)"])


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def sas_client(request: Request, session: SessionDep) -> ApiClient:
    """The SAS API client behind the request's bearer token; refusals are audited."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    client = None
    if scheme.lower() == "bearer" and token.strip():
        client = await clients.find_by_token(session=session, token=token.strip())
        message = (
            BAD_TOKEN
            if client is None
            else REVOKED_TOKEN
            if client.revoked_at
            else (WRONG_KIND if client.kind is not ApiClientKind.SAS else "")
        )
    else:
        message = NO_TOKEN
    if message:
        record_event(
            session=session,
            action="sas.refused",
            actor_kind=ACTOR_KIND,
            actor_id=client.id if client else None,
            outcome="refused",
            target=f"{request.method} {request.url.path}"[:200],
            ip=client_ip(request),
            detail=message,
        )
        await session.commit()
        raise Unauthenticated(message)
    assert client is not None
    return client


SasClient = Annotated[ApiClient, Depends(sas_client)]


async def audit_refusal(
    session: AsyncSession, request: Request, action: str, client_id: int, exc: HubError
) -> None:
    record_event(
        session=session,
        action=action,
        actor_kind=ACTOR_KIND,
        actor_id=client_id,
        outcome="refused",
        target=request.url.path[:200],
        ip=client_ip(request),
        detail=exc.message,
    )
    await session.commit()


def _base(ctx: ContextDep) -> str:
    return f"{ctx.settings.base_url}/fhir"


Base = Annotated[str, Depends(_base)]


@router.get("/metadata", summary="Déclaration des capacités du serveur (CapabilityStatement)")
async def metadata(ctx: ContextDep, base: Base) -> Response:
    """What this server offers the SAS; public, as FHIR servers' capabilities are."""
    return FhirResponse(
        fhir.capability_statement(base=base, now=ctx.clock(), software="cpts-telecabine")
    )


@router.get("/Slot/{slot_id}", summary="Lecture d'un créneau (SAS)")
async def read_slot(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    client: SasClient,
    slot_id: int,
) -> Response:
    """A room slot of the client's CPTS that the SAS may book: free, or busy once taken,
    closed or past. Slots reserved for a facility's residents are not the SAS's to see."""
    try:
        slot: Slot | None = await sas_slot(session, client.organisation_id, slot_id)
    except NotFound:
        slot = None
    if slot is None or slot.reserved_for not in SAS_MAY_USE:
        raise NotFound(f"Le créneau Slot/{slot_id} n'existe pas dans cette CPTS.")
    taken = await seats_held(session=session, slot_id=slot.id)
    free = slot.state is SlotState.OPEN and slot.starts_at > ctx.clock() and taken < slot.seats
    org = await identity.get_organisation(session=session, organisation_id=client.organisation_id)
    assert org is not None
    public_url = slot_link(ctx.settings.base_url, ctx.secret, org.slug, slot.id)
    record_event(
        session=session,
        action="sas.slot_read",
        actor_kind=ACTOR_KIND,
        actor_id=client.id,
        site_id=slot.site_id,
        target=f"Slot/{slot.id}",
        ip=client_ip(request),
    )
    await session.commit()
    return FhirResponse(
        fhir.slot_resource(
            slot, booking_url=None if slot.reserved_for or not free else public_url, free=free
        )
    )


@router.get("/Slot", summary="Recherche des créneaux disponibles (SAS, flux INT_R04)")
async def search_slots(
    request: Request, session: SessionDep, ctx: ContextDep, client: SasClient, base: Base
) -> Response:
    """A BundleAgregateurCPTS of the CPTS's free public and SAS-reserved room slots; with
    ``schedule.actor:Practitioner.identifier``, those of the rooms a named doctor serves."""
    try:
        search = fhir.parse_slot_search(request.query_params.multi_items())
        named = (
            None
            if search.practitioners is None
            else actors.parse_practitioner_tokens(search.practitioners)
        )
    except fhir.FhirInvalid as exc:
        await audit_refusal(session, request, "sas.slot_search", client.id, exc)
        raise
    now = ctx.clock()
    org = await identity.get_organisation(session=session, organisation_id=client.organisation_id)
    assert org is not None
    rooms = await identity.teleconsultation_rooms(session=session, organisation_id=org.id)
    doctors = await identity.doctors_serving(session=session, site_ids=[r.id for r in rooms])
    if named is not None:  # the rooms one of the named doctors serves
        rooms = [
            r for r in rooms if any(actors.idnps(d.rpps) in named for d in doctors.get(r.id, []))
        ]
    found = await free_slots(
        session=session,
        site_ids=[s.id for s in rooms],
        after=max(search.start_from, now),
        before=search.start_until,
        reservations=SAS_MAY_USE,
        limit=MAX_SLOTS,
    )
    matches = [
        fhir.slot_resource(
            f.slot,
            booking_url=None
            if f.slot.reserved_for
            else slot_link(ctx.settings.base_url, ctx.secret, org.slug, f.slot.id),
        )
        for f in found
    ]
    used_sites = [site for _, site in sorted({f.slot.site_id: f.slot.site for f in found}.items())]
    finess = await clients.finess_of(session=session, organisation_id=org.id)
    included: list[fhir.Json] = []
    if fhir.INCLUDE_SCHEDULE in search.includes:
        included += [
            fhir.schedule_resource(
                site, actors=actors.schedule_actors(site, doctors.get(site.id, []))
            )
            for site in used_sites
        ]
        if fhir.INCLUDE_SCHEDULE_ACTOR in search.includes:
            included += _schedule_actors(used_sites, doctors, finess=finess, phone=org.phone)
    if fhir.INCLUDE_SERVICE in search.includes and used_sites:
        included += [fhir.healthcare_service_resource(site) for site in used_sites]
        # The guide's example Bundle returns the CPTS whenever HealthcareService is included
        # (its self link has no HealthcareService:organization): the SAS needs it to link them.
        included.append(fhir.organization_resource(org, finess=finess))
    query = request.url.query
    bundle = fhir.searchset_bundle(
        bundle_id=str(uuid.uuid4()),
        self_url=f"{base}/Slot" + (f"?{query}" if query else ""),
        base=base,
        matches=matches,
        included=included,
        now=now,
    )
    record_event(
        session=session,
        action="sas.slot_search",
        actor_kind=ACTOR_KIND,
        actor_id=client.id,
        target="Slot",
        ip=client_ip(request),
        detail=f"{search.start_from.isoformat()} → {search.start_until.isoformat()}: "
        f"{len(matches)} créneau(x)",
    )
    await session.commit()
    return FhirResponse(bundle)


def _schedule_actors(
    sites: list[Site], doctors: dict[int, list[User]], *, finess: str | None, phone: str
) -> list[fhir.Json]:
    """What the rooms' Schedules name: each doctor once (Practitioner), their role in each room
    (PractitionerRole, the room contained); a room no doctor with an RPPS serves, its Location."""
    practitioners: dict[int, fhir.Json] = {}
    roles: list[fhir.Json] = []
    locations: list[fhir.Json] = []
    for site in sites:
        if not doctors.get(site.id):
            locations.append(fhir.location_resource(site))
        for doctor in doctors.get(site.id, []):
            practitioners.setdefault(doctor.id, actors.practitioner_resource(doctor))
            roles.append(
                actors.practitioner_role_resource(site, doctor, finess=finess, phone=phone)
            )
    return [*practitioners.values(), *roles, *locations]


async def sas_slot(session: AsyncSession, organisation_id: int, slot_id: int) -> Slot:
    """The slot, if it belongs to a teleconsultation room of the client's CPTS."""
    slot = await slot_with_site(session=session, slot_id=slot_id)
    if (
        slot is None
        or slot.site.organisation_id != organisation_id
        or slot.site.kind is not SiteKind.TELECONSULTATION_ROOM
    ):
        raise NotFound(f"Le créneau Slot/{slot_id} n'existe pas dans cette CPTS.")
    return slot
