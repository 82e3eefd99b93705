"""The SAS platform's appointments under ``/fhir``: a regulator books a slot
(``POST /fhir/Appointment``), reads a booking made through the SAS
(``GET /fhir/Appointment/{id}``) and cancels it by conditional update
(``PUT /fhir/Appointment?identifier=…``). Same authentication, audit and OperationOutcome
errors as ``hub.interop.sas``, whose router these routes join."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import record_event
from hub.deps import ContextDep, SessionDep
from hub.errors import Conflict, HubError, NotFound
from hub.identity import service as identity
from hub.interop import fhir
from hub.interop import fhir_appointment as fa
from hub.interop.fhir_actors import idnps
from hub.interop.models import SasAppointment
from hub.interop.sas import (
    ACTOR_KIND,
    MAX_BODY_BYTES,
    SAS_MAY_USE,
    Base,
    FhirResponse,
    FhirRoute,
    SasClient,
    audit_refusal,
    client_ip,
    sas_slot,
)
from hub.interop.sas_reports import identifier_system
from hub.records.patient_service import PatientDraft
from hub.records.vigilance import Actor
from hub.scheduling.book import book, cancel
from hub.scheduling.lookups import booking_id_on_channel, get_booking
from hub.scheduling.models import BookingStatus, Channel

if TYPE_CHECKING:
    from hub.scheduling.models import Booking

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/fhir", route_class=FhirRoute, tags=["FHIR (SAS)"])


def _identifier_system(ctx: ContextDep) -> str:
    return identifier_system(ctx.settings)


async def _read_json(request: Request) -> object:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise fhir.FhirInvalid("Requête trop volumineuse.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise fhir.FhirInvalid("Le corps de la requête n'est pas du JSON valide.") from None


@router.post(
    "/Appointment", status_code=201, summary="Prise de rendez-vous par un régulateur du SAS"
)
async def create_appointment(
    request: Request, session: SessionDep, ctx: ContextDep, client: SasClient, base: Base
) -> Response:
    """Book the Appointment's slot for its contained Patient on the SAS channel (201)."""
    try:
        wanted = fa.parse_appointment(await _read_json(request))
    except fhir.FhirInvalid as exc:
        await audit_refusal(session, request, "sas.appointment", client.id, exc)
        raise
    now = ctx.clock()
    client_id, organisation_id = client.id, client.organisation_id  # a rollback expires `client`
    ip = client_ip(request)

    def audit(booking: Booking) -> None:
        session.add(wanted.record(booking.id))
        record_event(
            session=session,
            action="sas.appointment",
            actor_kind=ACTOR_KIND,
            actor_id=client_id,
            site_id=booking.site_id,
            target=booking.reference,
            ip=ip,
            detail=f"régulateur : {booking.booked_by_label}"
            + (f" ({wanted.regulator_identifier})" if wanted.regulator_identifier else ""),
        )

    try:
        booking = await _book(
            session,
            ctx,
            organisation_id,
            wanted,
            now,
            actor=Actor(kind=ACTOR_KIND, id=client_id, ip=ip),
            before_commit=audit,
        )
    except HubError as exc:
        await session.rollback()
        record_event(
            session=session,
            action="sas.appointment",
            actor_kind=ACTOR_KIND,
            actor_id=client_id,
            outcome="refused",
            target=f"Slot/{wanted.slot_id}",
            ip=ip,
            detail=exc.message,
        )
        await session.commit()
        raise
    logger.info("SAS client %s booked slot %s (%s)", client_id, booking.slot_id, booking.reference)
    booking = await get_booking(session=session, booking_id=booking.id)  # with its patient, site
    resource = await _appointment(session, ctx, booking, base)
    return FhirResponse(
        resource,
        status_code=HTTPStatus.CREATED,
        headers={"Location": f"{base}/Appointment/{booking.reference}"},
    )


async def _book(
    session: AsyncSession,
    ctx: ContextDep,
    organisation_id: int,
    wanted: fa.AppointmentRequest,
    now: dt.datetime,
    *,
    actor: Actor,
    before_commit: Callable[[Booking], None],
) -> Booking:
    """Register the caller, book the slot on the SAS channel and queue the confirmation, in
    one commit with the audit event."""
    slot = await sas_slot(session, organisation_id, wanted.slot_id)
    if wanted.practitioner:
        serving = await identity.doctors_serving(session=session, site_ids=[slot.site_id])
        if not any(idnps(d.rpps) == wanted.practitioner for d in serving.get(slot.site_id, [])):
            raise Conflict(
                f"Le médecin {wanted.practitioner} n'assure pas les téléconsultations de "
                f"« {slot.site.name} » : choisissez un créneau proposé pour ce médecin."
            )
    today = now.astimezone(ZoneInfo(slot.site.timezone)).date()
    created = min(wanted.created, now) if wanted.created else now
    return await book(
        session=session,
        ctx=ctx,
        organisation_id=organisation_id,
        slot_id=slot.id,
        patient=PatientDraft(
            birth_name=wanted.birth_name,
            first_names=wanted.first_names,
            used_name=wanted.used_name,
            birth_date=wanted.birth_date,
            sex=wanted.sex,
            phone=wanted.phone,
            email=wanted.email,
        ),
        channel=Channel.SAS,
        reason=wanted.reason,
        now=now,
        actor=actor,
        today=today,
        care_requested_at=created,
        booked_by_label=wanted.regulator_label,
        may_use=SAS_MAY_USE,
        before_commit=before_commit,
    )


@router.get("/Appointment/{appointment_id}", summary="Lecture d'un rendez-vous pris par le SAS")
async def read_appointment(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    client: SasClient,
    base: Base,
    appointment_id: str,
) -> Response:
    """A booking made through the SAS, as an Appointment (booked, cancelled or noshow)."""
    booking_id = await _sas_booking_id(session, client.organisation_id, appointment_id.strip())
    record_event(
        session=session,
        action="sas.appointment_read",
        actor_kind=ACTOR_KIND,
        actor_id=client.id,
        outcome="success" if booking_id else "refused",
        target=appointment_id[:200],
        ip=client_ip(request),
    )
    await session.commit()
    if booking_id is None:
        raise NotFound(f"Aucun rendez-vous Appointment/{appointment_id} pris par le SAS.")
    booking = await get_booking(session=session, booking_id=booking_id)
    return FhirResponse(await _appointment(session, ctx, booking, base))


@router.put(
    "/Appointment", summary="Mise à jour conditionnelle d'un rendez-vous (annulation par le SAS)"
)
async def update_appointment(
    request: Request, session: SessionDep, ctx: ContextDep, client: SasClient, base: Base
) -> Response:
    """``PUT [base]/Appointment?identifier=[system|]ID``: the regulator cancels a booking made
    through the SAS (status ``cancelled``); the same status again changes nothing. Any other
    change is refused (422): a slot is moved by booking another one."""
    system, wanted = _identifier_param(request)
    body = await _read_json(request)
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise fhir.FhirInvalid("Le corps de la requête doit être une ressource Appointment.")
    if status not in ("cancelled", "booked"):
        raise fhir.FhirInvalid(
            "Statut de rendez-vous attendu : « cancelled » (annulation) ou « booked »."
        )
    booking_id = await _sas_booking_id(session, client.organisation_id, wanted, system=system)
    if booking_id is None:
        record_event(
            session=session,
            action="sas.appointment_update",
            actor_kind=ACTOR_KIND,
            actor_id=client.id,
            outcome="refused",
            target=wanted[:200],
            ip=client_ip(request),
        )
        await session.commit()
        raise NotFound(f"Aucun rendez-vous « {wanted[:40]} » pris par le SAS dans cette CPTS.")
    booking = await get_booking(session=session, booking_id=booking_id)
    current = fa.APPOINTMENT_STATUS[booking.status]
    if status == current and _moves(body, booking):
        raise Conflict(
            f"Le rendez-vous {booking.reference} ne peut pas être déplacé par cette interface : "
            "annulez-le puis réservez un autre créneau."
        )
    if status != current:
        if status != "cancelled" or booking.status is not BookingStatus.BOOKED:
            raise Conflict(
                f"Le rendez-vous {booking.reference} est « {current} » : seule l'annulation "
                "d'un rendez-vous à venir est possible par cette interface."
            )
        reason = _cancel_reason(body)
        await cancel(
            session=session,
            ctx=ctx,
            booking=booking,
            reason=f"annulé par la régulation du SAS{reason}",
            now=ctx.clock(),
        )
        record_event(
            session=session,
            action="sas.appointment_cancel",
            actor_kind=ACTOR_KIND,
            actor_id=client.id,
            site_id=booking.site_id,
            target=booking.reference,
            ip=client_ip(request),
        )
        await session.commit()
    booking = await get_booking(session=session, booking_id=booking.id)
    return FhirResponse(
        await _appointment(session, ctx, booking, base),
        headers={"Location": f"{base}/Appointment/{booking.reference}"},
    )


async def _appointment(
    session: AsyncSession, ctx: ContextDep, booking: Booking, base: str
) -> fhir.Json:
    sas = await session.get(SasAppointment, booking.id)
    return fa.appointment_resource(
        booking, base=base, identifier_system=_identifier_system(ctx), sas=sas
    )


def _identifier_param(request: Request) -> tuple[str, str]:
    """The ``(system, value)`` of ``identifier=[system|]value`` (the guide writes Identifier):
    the booking's reference, or the calling platform's own identifier of the appointment."""
    values = [v for k, v in request.query_params.multi_items() if k.lower() == "identifier"]
    if len(values) != 1 or not values[0].strip():
        raise fhir.FhirInvalid(
            "Mise à jour conditionnelle : indiquez le rendez-vous par un seul paramètre "
            "« identifier »."
        )
    system, _, value = values[0].rpartition("|")
    return system.strip(), value.strip()


async def _sas_booking_id(
    session: AsyncSession, organisation_id: int, reference: str, *, system: str | None = None
) -> int | None:
    """The id of the booking made through the SAS in this CPTS under this reference (or, when
    ``system`` is given, under the calling platform's identifier ``system|reference``)."""
    by_caller: list[int] = []
    if system is not None:
        by_caller = list(
            await session.scalars(
                select(SasAppointment.booking_id).where(
                    SasAppointment.caller_value == reference,
                    *([SasAppointment.caller_system == system] if system else []),
                )
            )
        )
    return await booking_id_on_channel(
        session=session,
        organisation_id=organisation_id,
        channel=Channel.SAS,
        reference=reference,
        or_ids=by_caller,
    )


def _cancel_reason(body: dict[str, Any]) -> str:
    reason = body.get("cancelationReason")
    text = reason.get("text") if isinstance(reason, dict) else None
    return f" : {str(text).strip()[:150]}" if isinstance(text, str) and text.strip() else ""


def _moves(body: dict[str, Any], booking: Booking) -> bool:
    """Whether the Appointment names another slot or another start than the booking's."""
    slots = body.get("slot")
    if isinstance(slots, list) and slots:
        refs = {
            str(r.get("reference", "")).rpartition("/")[2] for r in slots if isinstance(r, dict)
        }
        if refs != {str(booking.slot_id)}:
            return True
    start = body.get("start")
    if isinstance(start, str) and start.strip():
        try:
            return fa.parse_datetime(start) != booking.starts_at
        except fhir.FhirInvalid:
            return True
    return False
