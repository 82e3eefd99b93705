"""The room's console (nurse or facility staff) and the doctor's console, and live events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.audit.service import record_event, trace_read
from hub.cabins.live import ObservationPublic
from hub.cabins.overview import home_context
from hub.consoles.kit import kit_view
from hub.consoles.vitals import measuring_devices, vitals_view
from hub.consultation import cabins as consultation_cabins
from hub.consultation import checks, guests, identity_review, insi_query, service
from hub.consultation.models import STATE_LABELS, DmpChoice, State
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import Conflict, HubError, Invalid, NotFound, Unauthenticated
from hub.identity.policy import Permission
from hub.lengths import Text, too_long
from hub.records.observations import observations_of_booking
from hub.records.vigilance import STATUS_LABELS
from hub.relay import service as relay
from hub.rendering import render
from hub.reports import deposit
from hub.reports import view as report_view
from hub.scheduling.forms import refuse

if TYPE_CHECKING:
    from hub.consultation.models import Consultation
    from hub.identity.models import User

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])
EVENT_KEEPALIVE_SECONDS = 15.0
# The permissions the bus's events ask for (hub.events): every member of staff of a site,
# and those who may see a consultation's measurements there.
EVENT_PERMISSIONS = (Permission.SIGNED_IN, Permission.CONSULTATION_DATA)


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
    identity: IdentityAnswer | None = None,
    extra: dict[str, object] | None = None,
) -> Response:
    """The console; ``identity`` is a refused identity check, shown in its form; ``extra``
    more of the template's data (a refused invitation's form)."""
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
    data.update(await kit_view(ctx, session, user, consultation, data))
    trolley = [  # the devices of the consultation's cabins: the room's, the kit lent to it
        d
        for site in data["sites"]  # type: ignore[attr-defined]
        for st in data["statuses"].get(site.id, [])  # type: ignore[attr-defined]
        for d in data["devices"].get(st.cabin_id, [])  # type: ignore[attr-defined]
    ]
    now = ctx.clock()
    observations = await observations_of_booking(
        session=session, booking_id=consultation.booking_id
    )
    data.update(
        {
            "c": consultation,
            "patient": consultation.booking.patient,
            "now": now,
            "state_label": STATE_LABELS[consultation.state],
            "documents": checks.IDENTITY_DOCUMENTS,
            "document_options": [("", "—"), *checks.IDENTITY_DOCUMENTS.items()],
            "error": error,
            **_identity_form(consultation, identity),
            **await guests.console_view(session=session, ctx=ctx, consultation=consultation),
            "identity_status": STATUS_LABELS[consultation.booking.patient.identity_status],
            # "Interroger INSi" when the teleservice is configured; else why it is not there.
            "insi_unavailable": "" if ctx.settings.insi_url else insi_query.UNAVAILABLE,
            "observations": observations,
            "pre_limits": {name: t.max_length for name, t in PRECONSULTATION_TEXT.items()},
            "vitals": vitals_view(
                (ObservationPublic.of_row(o) for o in observations),
                consultation.booking.site.timezone,
            ),
            # "Mesurer" in the vitals' tiles, for those who may command the room's cabin.
            "measuring": measuring_devices(trolley) if data["can_command"] else {},
            "events": await service.history(session=session, consultation_id=consultation.id),
            "phq9_severity": checks.phq9_severity(consultation.phq9)
            if consultation.phq9 is not None
            else "",
            "gad7_severity": checks.gad7_severity(consultation.gad7)
            if consultation.gad7 is not None
            else "",
            "waiting": service.elapsed_minutes(consultation.ready_at, now),
            "captures": await service.captures_of(session=session, consultation_id=consultation.id),
            "relay_doctors": await relay.directory(
                session=session, organisation_id=user.organisation_id, accepting_only=True
            ),
            "referrals": await relay.referrals_of(session=session, consultation_id=consultation.id),
            "pending_case": await identity_review.pending_case(
                session=session,
                organisation_id=user.organisation_id,
                pending_id=consultation.patient_id,
            )
            if consultation.booking.patient.pending_of_id is not None
            else None,
        }
    )
    data.update(
        await report_view.console_view(
            session=session,
            consultation=consultation,
            observations=observations,
        )
    )
    data.update(extra or {})
    return render(request, template, data, status_code=status_code)


@dataclass(frozen=True)
class IdentityAnswer:
    """A refused identity check: what was typed and why it was refused."""

    values: dict[str, object]
    error: HubError


def _identity_form(consultation: Consultation, answer: IdentityAnswer | None) -> dict[str, object]:
    """The identity form's values and its problems by field (any other refusal is said at the
    top of the console, as every action's is)."""
    patient = consultation.booking.patient
    if answer is None:
        values: dict[str, object] = {
            "birth_place_code": patient.birth_place_code,
            "nir": patient.nir,
            "document": consultation.identity_document or "",
        }
        return {"identity_values": values, "identity_errors": {}}
    return {"identity_values": answer.values, "identity_errors": answer.error.fields}


@dataclass(frozen=True)
class Call:
    """One request to a consultation console: who, where, and how to answer it."""

    request: Request
    session: AsyncSession
    ctx: HubContext
    user: User
    template: str
    base: str  # the console's URL prefix

    async def console(
        self,
        cid: int,
        *,
        error: str | None = None,
        status: int = 200,
        identity: IdentityAnswer | None = None,
        extra: dict[str, object] | None = None,
    ) -> Response:
        return await _console(
            self.request,
            self.session,
            self.ctx,
            self.user,
            cid,
            template=self.template,
            error=error,
            status_code=status,
            identity=identity,
            extra=extra,
        )

    async def act(self, cid: int, action: Awaitable[object], *, suffix: str = "") -> Response:
        """Run a change; redirect to the console, or show it again with the reason."""
        try:
            await action
        except HubError as exc:
            await deps.rollback_keeping_user(self.session, self.user)
            return await self.console(cid, error=exc.message, status=exc.status)
        return RedirectResponse(f"{self.base}/{cid}{suffix}", status_code=303)

    def transition(self, cid: int, action: str, note: str = "") -> Awaitable[object]:
        return service.transition(
            session=self.session,
            ctx=self.ctx,
            user=self.user,
            consultation_id=cid,
            action=action,
            note=note,
        )


ROOM = "consultation/room.html"
DOCTOR = "consultation/doctor.html"


async def room_call(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted
) -> Call:
    return Call(request, session, ctx, user, ROOM, "/salle/consultations")


async def doctor_call(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted
) -> Call:
    return Call(request, session, ctx, user, DOCTOR, "/medecin/consultations")


RoomCall = Annotated[Call, Depends(room_call)]
DoctorCall = Annotated[Call, Depends(doctor_call)]


# --- the room -----------------------------------------------------------------------------------


@router.post("/salle/rdv/{booking_id}/accueil")
async def check_in(call: RoomCall, booking_id: int) -> Response:
    consultation = await service.check_in(
        session=call.session, ctx=call.ctx, user=call.user, booking_id=booking_id
    )
    return RedirectResponse(f"{call.base}/{consultation.id}", status_code=303)


@router.get("/salle/consultations/{consultation_id}", response_class=HTMLResponse)
async def room_console(call: RoomCall, consultation_id: int) -> Response:
    return await call.console(consultation_id)


@router.post("/salle/consultations/{consultation_id}/identite", response_class=HTMLResponse)
async def verify_identity(
    call: RoomCall, consultation_id: int, form: Annotated[checks.IdentityCheckForm, Form()]
) -> Response:
    """Check the identity; refused, the form comes back as typed, each problem by its field."""
    try:
        refuse(form.too_long())
        consultation = await checks.verify_identity(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
            consultation_id=consultation_id,
            document=form.document,
            traits_match=form.traits_match == "oui",
            birth_place_code=form.birth_place_code,
            nir=form.nir,
        )
    except HubError as exc:
        await deps.rollback_keeping_user(call.session, call.user)
        return await call.console(
            consultation_id,
            error=None if exc.fields else exc.message,
            status=exc.status,
            identity=IdentityAnswer(form.values(), exc),
        )
    # A qualified identity now: the reports whose deposit waited for it go in.
    if await deposit.deposit_waiting(
        session=call.session, ctx=call.ctx, patient_id=consultation.patient_id, actor=call.user
    ):
        await call.session.commit()
    return RedirectResponse(f"{call.base}/{consultation_id}", status_code=303)


@router.post("/salle/consultations/{consultation_id}/insi", response_class=HTMLResponse)
async def query_insi(call: RoomCall, consultation_id: int) -> Response:
    """Ask the national INSi teleservice for the patient's INS (refusals said in French)."""
    return await call.act(
        consultation_id,
        insi_query.query_insi(
            session=call.session, ctx=call.ctx, user=call.user, consultation_id=consultation_id
        ),
    )


@router.post(
    "/salle/consultations/{consultation_id}/identite-en-attente", response_class=HTMLResponse
)
async def resolve_pending_identity(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    consultation_id: int,
    choice: Annotated[str, Form(alias="decision", max_length=10)] = "",
    take: Annotated[list[str] | None, Form()] = None,
) -> Response:
    call = Call(request, session, ctx, user, ROOM, "/salle/consultations")
    return await call.act(
        consultation_id,
        checks.resolve_pending_identity(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
            consultation_id=consultation_id,
            decision=choice,
            take=frozenset(take or ()),
        ),
    )


@router.post("/salle/consultations/{consultation_id}/kit", response_class=HTMLResponse)
async def take_kit(
    call: RoomCall,
    consultation_id: int,
    cabin_id: deps.FormRowId,
) -> Response:
    """The room's staff take a mobile kit of the CPTS for this session."""
    return await call.act(
        consultation_id,
        consultation_cabins.choose_kit(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
            consultation_id=consultation_id,
            cabin_id=cabin_id,
        ),
    )


@router.post("/salle/consultations/{consultation_id}/consentement", response_class=HTMLResponse)
async def consent(
    call: RoomCall,
    consultation_id: int,
    teleconsultation: Annotated[str, Form(max_length=3)] = "",
    dmp: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    choice = DmpChoice(dmp) if dmp in DmpChoice._value2member_map_ else DmpChoice.NOT_ASKED
    return await call.act(
        consultation_id,
        checks.record_consent(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
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


# The note of a state change (why the patient is redirected, an emergency's cause).
NOTE = Text("Motif", 300)
# How much the nurse's preconsultation notes may hold.
PRECONSULTATION_TEXT = {
    "reason": Text("Motif", 1000),
    "history": Text("Antécédents", 4000),
    "treatments": Text("Traitements", 4000),
    "allergies": Text("Allergies", 1000),
}


@router.post("/salle/consultations/{consultation_id}/preconsultation", response_class=HTMLResponse)
async def preconsultation(call: RoomCall, consultation_id: int) -> Response:
    """Save the preconsultation; refused (a note too long is never cut), the notes come back
    as typed, each problem by its field."""
    form = {k: v for k, v in (await call.request.form()).items() if isinstance(v, str)}

    async def save() -> None:
        refuse(too_long(form, PRECONSULTATION_TEXT))
        phq9 = checks.scale_score(_answers(form, "phq9", checks.PHQ9_ITEMS), checks.PHQ9_ITEMS)
        gad7 = checks.scale_score(_answers(form, "gad7", checks.GAD7_ITEMS), checks.GAD7_ITEMS)
        await checks.save_preconsultation(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
            consultation_id=consultation_id,
            reason=form.get("reason", ""),
            history=form.get("history", ""),
            treatments=form.get("treatments", ""),
            allergies=form.get("allergies", ""),
            phq9=phq9,
            gad7=gad7,
        )

    try:
        await save()
    except HubError as exc:
        await deps.rollback_keeping_user(call.session, call.user)
        typed = {name: form.get(name, "") for name in PRECONSULTATION_TEXT}
        return await call.console(
            consultation_id,
            error=None if exc.fields else exc.message,
            status=exc.status,
            extra={"pre_values": typed, "pre_errors": exc.fields},
        )
    return RedirectResponse(f"{call.base}/{consultation_id}", status_code=303)


@router.post("/salle/consultations/{consultation_id}/etat", response_class=HTMLResponse)
async def room_transition(
    call: RoomCall,
    consultation_id: int,
    action: Annotated[str, Form(max_length=40)],
    note: Annotated[str, Form()] = "",
) -> Response:
    if problem := NOTE.problem(note):
        return await call.console(consultation_id, error=problem, status=422)
    return await call.act(consultation_id, call.transition(consultation_id, action, note))


@router.post("/salle/consultations/{consultation_id}/urgence", response_class=HTMLResponse)
async def emergency(
    call: RoomCall, consultation_id: int, note: Annotated[str, Form()] = ""
) -> Response:
    note = note[: NOTE.max_length]  # an emergency is never refused (its field holds 300)
    return await call.act(
        consultation_id,
        service.raise_emergency(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
            consultation_id=consultation_id,
            note=note,
        ),
        suffix="?urgence=1",
    )


# --- the doctor ---------------------------------------------------------------------------------


@router.post("/medecin/consultations/{consultation_id}/rejoindre", response_class=HTMLResponse)
async def join(call: DoctorCall, consultation_id: int) -> Response:
    return await call.act(consultation_id, call.transition(consultation_id, "join"))


@router.get("/medecin/consultations/{consultation_id}", response_class=HTMLResponse)
async def doctor_console(call: DoctorCall, consultation_id: int) -> Response:
    return await call.console(consultation_id)


@router.post("/medecin/consultations/{consultation_id}/etat", response_class=HTMLResponse)
async def doctor_transition(
    call: DoctorCall,
    consultation_id: int,
    action: Annotated[str, Form(max_length=40)],
    note: Annotated[str, Form()] = "",
) -> Response:
    if problem := NOTE.problem(note):
        return await call.console(consultation_id, error=problem, status=422)
    return await call.act(consultation_id, call.transition(consultation_id, action, note))


# --- live ---------------------------------------------------------------------------------------


@router.get("/api/v1/consultations/{consultation_id}/mesures")
async def measurements(
    consultation_id: int, user: Permitted, session: SessionDep
) -> list[ObservationPublic]:
    """The measurements taken during a consultation so far (for the live vitals)."""
    consultation: Consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    return [
        ObservationPublic.of_row(o)
        for o in await observations_of_booking(session=session, booking_id=consultation.booking_id)
    ]


@router.get("/api/v1/evenements")
async def events(request: Request, ctx: ContextDep) -> Response:
    """Server-sent events of the user's sites (consultations changing state, emergencies,
    cabins' statuses), and measurements stored where the user may see a consultation's data."""
    reach = await deps.reach_of_session_user(request, EVENT_PERMISSIONS)
    if reach is None:
        raise Unauthenticated("Veuillez vous connecter.")

    async def stream() -> AsyncIterator[str]:
        async with ctx.events.subscribe(reach) as queue:
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
    user: Permitted,
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
    capture = await service.add_capture(
        session=session,
        consultation=consultation,
        source=source,
        mime_type=mime,
        data=data,
        taken_by=user.id,
        taken_at=ctx.clock(),
    )
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
    capture_id: int, request: Request, user: Permitted, session: SessionDep
) -> Response:
    """A saved snapshot, for the clinicians of its site (each viewing traced)."""
    capture = await service.get_capture(session=session, capture_id=capture_id)
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
