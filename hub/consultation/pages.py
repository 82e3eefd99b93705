"""The room's console (nurse or facility staff) and the doctor's console, and live events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.consultation import service
from hub.consultation.models import STATE_LABELS, Capture, Consultation, DmpChoice, State
from hub.context import HubContext
from hub.deps import ContextDep, SessionDep, require_role
from hub.errors import Conflict, HubError, Invalid, NotFound, Unauthenticated
from hub.identity.models import Role, User
from hub.identity.pages import home_context
from hub.records.audit import record_event, trace_read
from hub.records.observations import Observation, observations_of_booking
from hub.rendering import render

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])
RoomStaff = Annotated[User, Depends(require_role(Role.NURSE, Role.FACILITY_STAFF))]
Doctor = Annotated[User, Depends(require_role(Role.DOCTOR))]
Clinician = Annotated[User, Depends(require_role(Role.NURSE, Role.FACILITY_STAFF, Role.DOCTOR))]
EVENT_KEEPALIVE_SECONDS = 15.0


async def _console(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation_id: int,
    *,
    template: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    await trace_read(
        session=session,
        user_id=user.id,
        site_id=consultation.site_id,
        target=f"patient:{consultation.patient_id}",
        ip=request.client.host if request.client else "",
    )
    data = await home_context(ctx, session, user)
    data["sites"] = [s for s in data["sites"] if s.id == consultation.site_id]  # type: ignore[attr-defined]
    now = ctx.clock()
    data.update(
        {
            "c": consultation,
            "patient": consultation.booking.patient,
            "now": now,
            "state_label": STATE_LABELS[consultation.state],
            "documents": service.IDENTITY_DOCUMENTS,
            "error": error,
            "observations": await observations_of_booking(
                session=session, booking_id=consultation.booking_id
            ),
            "events": await service.history(session=session, consultation_id=consultation.id),
            "phq9_severity": service.phq9_severity(consultation.phq9)
            if consultation.phq9 is not None
            else "",
            "gad7_severity": service.gad7_severity(consultation.gad7)
            if consultation.gad7 is not None
            else "",
            "waiting": service.elapsed_minutes(consultation.ready_at, now),
            "captures": await service.captures_of(session=session, consultation_id=consultation.id),
        }
    )
    return render(request, template, data, status_code=status_code)


async def _act(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation_id: int,
    template: str,
    redirect: str,
    action: object,
) -> Response:
    try:
        await action  # type: ignore[misc]
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _console(
            request,
            session,
            ctx,
            user,
            consultation_id,
            template=template,
            error=exc.message,
            status_code=exc.status,
        )
    return RedirectResponse(redirect, status_code=303)


# --- the room -----------------------------------------------------------------------------------

ROOM = "consultation/room.html"


@router.post("/salle/rdv/{booking_id}/accueil")
async def check_in(
    session: SessionDep, ctx: ContextDep, user: RoomStaff, booking_id: int
) -> Response:
    consultation = await service.check_in(
        session=session, ctx=ctx, user=user, booking_id=booking_id
    )
    return RedirectResponse(f"/salle/consultations/{consultation.id}", status_code=303)


@router.get("/salle/consultations/{consultation_id}", response_class=HTMLResponse)
async def room_console(
    request: Request, session: SessionDep, ctx: ContextDep, user: RoomStaff, consultation_id: int
) -> Response:
    return await _console(request, session, ctx, user, consultation_id, template=ROOM)


@router.post("/salle/consultations/{consultation_id}/identite", response_class=HTMLResponse)
async def verify_identity(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: RoomStaff,
    consultation_id: int,
    document: Annotated[str, Form(max_length=40)] = "",
    traits_match: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    return await _act(
        request,
        session,
        ctx,
        user,
        consultation_id,
        ROOM,
        f"/salle/consultations/{consultation_id}",
        service.verify_identity(
            session=session,
            ctx=ctx,
            user=user,
            consultation_id=consultation_id,
            document=document,
            traits_match=traits_match == "oui",
        ),
    )


@router.post("/salle/consultations/{consultation_id}/consentement", response_class=HTMLResponse)
async def consent(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: RoomStaff,
    consultation_id: int,
    teleconsultation: Annotated[str, Form(max_length=3)] = "",
    dmp: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    choice = DmpChoice(dmp) if dmp in DmpChoice._value2member_map_ else DmpChoice.NOT_ASKED
    return await _act(
        request,
        session,
        ctx,
        user,
        consultation_id,
        ROOM,
        f"/salle/consultations/{consultation_id}",
        service.record_consent(
            session=session,
            ctx=ctx,
            user=user,
            consultation_id=consultation_id,
            teleconsultation=teleconsultation == "oui",
            dmp=choice,
        ),
    )


def _answers(form: dict[str, str], prefix: str, count: int) -> list[int | None]:
    answers: list[int | None] = []
    for i in range(1, count + 1):
        raw = form.get(f"{prefix}_{i}", "").strip()
        answers.append(int(raw) if raw.isdigit() else None)
    return answers


@router.post("/salle/consultations/{consultation_id}/preconsultation", response_class=HTMLResponse)
async def preconsultation(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: RoomStaff,
    consultation_id: int,
) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}

    async def save() -> None:
        phq9 = service.scale_score(_answers(form, "phq9", service.PHQ9_ITEMS), service.PHQ9_ITEMS)
        gad7 = service.scale_score(_answers(form, "gad7", service.GAD7_ITEMS), service.GAD7_ITEMS)
        await service.save_preconsultation(
            session=session,
            ctx=ctx,
            user=user,
            consultation_id=consultation_id,
            reason=form.get("reason", "")[:1000],
            history=form.get("history", "")[:4000],
            treatments=form.get("treatments", "")[:4000],
            allergies=form.get("allergies", "")[:1000],
            phq9=phq9,
            gad7=gad7,
        )

    return await _act(
        request,
        session,
        ctx,
        user,
        consultation_id,
        ROOM,
        f"/salle/consultations/{consultation_id}",
        save(),
    )


@router.post("/salle/consultations/{consultation_id}/etat", response_class=HTMLResponse)
async def room_transition(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: RoomStaff,
    consultation_id: int,
    action: Annotated[str, Form(max_length=40)],
    note: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    return await _act(
        request,
        session,
        ctx,
        user,
        consultation_id,
        ROOM,
        f"/salle/consultations/{consultation_id}",
        service.transition(
            session=session,
            ctx=ctx,
            user=user,
            consultation_id=consultation_id,
            action=action,
            note=note,
        ),
    )


@router.post("/salle/consultations/{consultation_id}/urgence", response_class=HTMLResponse)
async def emergency(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: RoomStaff,
    consultation_id: int,
    note: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    return await _act(
        request,
        session,
        ctx,
        user,
        consultation_id,
        ROOM,
        f"/salle/consultations/{consultation_id}?urgence=1",
        service.raise_emergency(
            session=session, ctx=ctx, user=user, consultation_id=consultation_id, note=note
        ),
    )


# --- the doctor ---------------------------------------------------------------------------------

DOCTOR = "consultation/doctor.html"


@router.get("/medecin", response_class=HTMLResponse)
async def doctor_home(
    request: Request, session: SessionDep, ctx: ContextDep, user: Doctor
) -> Response:
    data = await home_context(ctx, session, user)
    now = ctx.clock()
    data.update(
        {
            "waiting": [
                (
                    c,
                    service.elapsed_minutes(c.ready_at, now),
                    _latest_vitals(
                        await observations_of_booking(session=session, booking_id=c.booking_id)
                    ),
                )
                for c in await service.waiting_room(session=session, user=user)
            ],
            "state_labels": STATE_LABELS,
            "now": now,
        }
    )
    return render(request, "consultation/waiting_room.html", data)


@router.post("/medecin/consultations/{consultation_id}/rejoindre", response_class=HTMLResponse)
async def join(
    request: Request, session: SessionDep, ctx: ContextDep, user: Doctor, consultation_id: int
) -> Response:
    return await _act(
        request,
        session,
        ctx,
        user,
        consultation_id,
        DOCTOR,
        f"/medecin/consultations/{consultation_id}",
        service.transition(
            session=session, ctx=ctx, user=user, consultation_id=consultation_id, action="join"
        ),
    )


@router.get("/medecin/consultations/{consultation_id}", response_class=HTMLResponse)
async def doctor_console(
    request: Request, session: SessionDep, ctx: ContextDep, user: Doctor, consultation_id: int
) -> Response:
    return await _console(request, session, ctx, user, consultation_id, template=DOCTOR)


@router.post("/medecin/consultations/{consultation_id}/etat", response_class=HTMLResponse)
async def doctor_transition(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Doctor,
    consultation_id: int,
    action: Annotated[str, Form(max_length=40)],
    note: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    return await _act(
        request,
        session,
        ctx,
        user,
        consultation_id,
        DOCTOR,
        f"/medecin/consultations/{consultation_id}",
        service.transition(
            session=session,
            ctx=ctx,
            user=user,
            consultation_id=consultation_id,
            action=action,
            note=note,
        ),
    )


VITAL_SHORT = {
    "blood_pressure_systolic": "PAS",
    "blood_pressure_diastolic": "PAD",
    "spo2": "SpO2",
    "pulse_rate": "pouls",
    "body_temperature": "T°",
}


def _latest_vitals(observations: list[Observation]) -> str:
    """The last value of each vital sign already taken, in a short line for the waiting room."""
    latest: dict[str, Observation] = {}
    for o in observations:
        if o.kind in VITAL_SHORT:
            latest[o.kind] = o
    return " · ".join(
        f"{VITAL_SHORT[k]} {latest[k].value:g} {latest[k].unit}" for k in VITAL_SHORT if k in latest
    )


# --- live ---------------------------------------------------------------------------------------


class ObservationPublic(BaseModel):
    kind: str
    value: float
    unit: str
    measured_at: str
    device: str


@router.get("/api/v1/consultations/{consultation_id}/mesures")
async def measurements(
    consultation_id: int, user: Clinician, session: SessionDep
) -> list[ObservationPublic]:
    """The measurements taken during a consultation so far (for the live vitals)."""
    consultation: Consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    return [
        ObservationPublic(
            kind=o.kind,
            value=o.value,
            unit=o.unit,
            measured_at=o.measured_at.isoformat(),
            device=o.device_name,
        )
        for o in await observations_of_booking(session=session, booking_id=consultation.booking_id)
    ]


@router.get("/api/v1/evenements")
async def events(request: Request, ctx: ContextDep) -> Response:
    """Server-sent events of the user's sites (consultations changing state, emergencies)."""
    site_ids = await deps.sites_of_session_user(request)
    if site_ids is None:
        raise Unauthenticated("Veuillez vous connecter.")

    async def stream() -> AsyncIterator[str]:
        async with ctx.events.subscribe(site_ids) as queue:
            yield ": connecté\n\n"
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), EVENT_KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                yield f"event: {event.kind}\ndata: {event.to_json()}\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


MAX_CAPTURE_BYTES = 5 * 1024 * 1024
CAPTURE_SOURCES = ("otoscope", "room")


class CapturePublic(BaseModel):
    id: int
    source: str
    taken_at: str
    url: str


@router.post("/api/v1/consultations/{consultation_id}/captures", status_code=201)
async def save_capture(
    consultation_id: int,
    request: Request,
    user: Doctor,
    session: SessionDep,
    ctx: ContextDep,
    source: str = "otoscope",
) -> CapturePublic:
    """Keep a snapshot (PNG or JPEG body) of the otoscope or the room in the consultation."""
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    if consultation.state is not State.IN_CONSULTATION:
        raise Conflict("Une image ne peut être enregistrée que pendant la téléconsultation.")
    if source not in CAPTURE_SOURCES:
        raise Invalid("Source d'image inconnue.")
    mime = request.headers.get("content-type", "").split(";")[0].strip()
    if mime not in ("image/png", "image/jpeg"):
        raise Invalid("L'image doit être au format PNG ou JPEG.")
    data = await request.body()
    if not data or len(data) > MAX_CAPTURE_BYTES:
        raise Invalid("Image vide ou trop lourde (5 Mo au plus).")
    signature = (
        data[:8] == b"\x89PNG\r\n\x1a\n" if mime == "image/png" else data[:3] == b"\xff\xd8\xff"
    )
    if not signature:
        raise Invalid("Le contenu ne correspond pas à une image PNG ou JPEG.")
    capture = Capture(
        consultation_id=consultation.id,
        source=source,
        mime_type=mime,
        data=data,
        taken_by=user.id,
        taken_at=ctx.clock(),
    )
    session.add(capture)
    await session.flush()
    record_event(
        session=session,
        action="consultation.capture",
        actor_kind="user",
        actor_id=user.id,
        site_id=consultation.site_id,
        target=f"consultation:{consultation.id}",
        detail=source,
    )
    await session.commit()
    return CapturePublic(
        id=capture.id,
        source=source,
        taken_at=capture.taken_at.isoformat(),
        url=f"/api/v1/captures/{capture.id}",
    )


@router.get("/api/v1/captures/{capture_id}")
async def capture_image(
    capture_id: int, request: Request, user: Clinician, session: SessionDep
) -> Response:
    """A saved snapshot, for the clinicians of its site (each viewing traced)."""
    capture = await session.get(Capture, capture_id)
    if capture is None:
        raise NotFound("Image introuvable.")
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=capture.consultation_id
    )
    await trace_read(
        session=session,
        user_id=user.id,
        site_id=consultation.site_id,
        target=f"capture:{capture.id}",
        ip=request.client.host if request.client else "",
    )
    return Response(
        capture.data, media_type=capture.mime_type, headers={"Cache-Control": "private, no-store"}
    )
