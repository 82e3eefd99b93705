"""The room's console (nurse or facility staff): welcoming the patient, the identity checks
(the document, INSi, a pending identity), the mobile kit, consent, the preconsultation, the
state changes and the emergency button."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import deps
from hub.consoles.consultation_console import (
    NOTE,
    PRECONSULTATION_TEXT,
    ROOM,
    Call,
    IdentityAnswer,
    RoomCall,
)
from hub.consultation import cabins as consultation_cabins
from hub.consultation import checks, insi_query, service
from hub.consultation.models import DmpChoice
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import HubError
from hub.lengths import too_long
from hub.reports import deposit
from hub.scheduling.forms import refuse

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


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
    return await call.transition_posted(consultation_id, action, note)


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
