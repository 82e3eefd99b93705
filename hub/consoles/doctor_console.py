"""The doctor's console: joining the teleconsultation, the console itself and its state changes
(the invitations of third parties are ``guests``', the report ``report``'s)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from hub import deps
from hub.consoles.consultation_console import DoctorCall

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


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
    return await call.transition_posted(consultation_id, action, note)
