"""Third parties in a consultation: the doctor's « Inviter un tiers » and « Retirer », and the
guest's own page, reached by the one-time link only (no account; ``hub.consultation.guests``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from hub import deps
from hub.consoles.consultation_console import Call, DoctorCall, RoomCall
from hub.consultation import guest_link, guests, service
from hub.deps import ContextDep, SessionDep
from hub.errors import HubError
from hub.rendering import render

if TYPE_CHECKING:
    from hub.consultation.models import Guest

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])
COOKIE_PREFIX = "cpts_invitation_"
PAGE = "consultation/guest.html"


@router.post("/medecin/consultations/{consultation_id}/tiers", response_class=HTMLResponse)
async def invite(
    call: DoctorCall,
    consultation_id: int,
    role: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    contact: Annotated[str, Form()] = "",
) -> Response:
    """Invite a third party; refused, the form comes back as typed with each problem by field
    (lengths included: ``guests.check_invitation`` says them, in French)."""
    try:
        consultation = await service.get_consultation(
            session=call.session, user=call.user, consultation_id=consultation_id
        )
        await guests.invite(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
            consultation=consultation,
            role=role,
            name=name,
            contact=contact,
        )
    except HubError as exc:
        await deps.rollback_keeping_user(call.session, call.user)
        form: dict[str, object] = {
            "guest_values": {"role": role, "name": name, "contact": contact},
            "guest_errors": exc.fields,
        }
        return await call.console(
            consultation_id,
            error=None if exc.fields else exc.message,
            status=exc.status,
            extra=form,
        )
    return RedirectResponse(f"{call.base}/{consultation_id}?invite=1#tiers", status_code=303)


@router.post(
    "/medecin/consultations/{consultation_id}/tiers/{guest_id}/retirer",
    response_class=HTMLResponse,
)
async def remove(call: DoctorCall, consultation_id: int, guest_id: int) -> Response:
    async def act() -> None:
        consultation = await service.get_consultation(
            session=call.session, user=call.user, consultation_id=consultation_id
        )
        await guests.remove(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
            consultation=consultation,
            guest_id=guest_id,
        )

    return await call.act(consultation_id, act(), suffix="#tiers")


@router.get("/api/v1/consultations/{consultation_id}/visio-tiers")
async def doctor_grant(call: DoctorCall, consultation_id: int) -> JSONResponse:
    """The doctor's Janus grant to the consultation's room (their page then sees the guests
    and sends them the doctor's camera), and where the guests' feed ids start."""
    return await _grant(call, consultation_id, "doctor")


@router.get("/api/v1/consultations/{consultation_id}/visio-tiers/salle")
async def room_grant(call: RoomCall, consultation_id: int) -> JSONResponse:
    """The room's screen's Janus grant: the patient sees and hears the guests."""
    return await _grant(call, consultation_id, "room")


async def _grant(
    call: Call, consultation_id: int, party: Literal["doctor", "room"]
) -> JSONResponse:
    consultation = await service.get_consultation(
        session=call.session, user=call.user, consultation_id=consultation_id
    )
    grant = await guests.staff_grant(
        session=call.session, ctx=call.ctx, user=call.user, consultation=consultation, party=party
    )
    return JSONResponse(
        {"grant": dataclasses.asdict(grant), "guest_feed_base": guests.GUEST_FEED_BASE},
        headers={"Cache-Control": "no-store"},
    )


# --- the guest ----------------------------------------------------------------------------------


class JoinForm(BaseModel):
    name: str = Field(default="", max_length=300)


async def _guest(request: Request, session: SessionDep, ctx: ContextDep, token: str) -> Guest:
    """The invitation of this link, opened in this browser (the page's calls after the first)."""
    guest, _fresh = await guest_link.guest_of_link(
        session=session,
        token=token,
        browser_of=lambda guest_id: request.cookies.get(f"{COOKIE_PREFIX}{guest_id}"),
        now=ctx.clock(),
    )
    return guest


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""


@router.get("/invitation/{token}", response_class=HTMLResponse)
async def guest_page(
    request: Request, session: SessionDep, ctx: ContextDep, token: str
) -> Response:
    """The guest's page: their name, a camera and microphone check, then the room."""
    guest, fresh = await guest_link.guest_of_link(
        session=session,
        token=token,
        browser_of=lambda guest_id: request.cookies.get(f"{COOKIE_PREFIX}{guest_id}"),
        now=ctx.clock(),
    )
    response = render(
        request,
        PAGE,
        {"guest": guest, "token": token, "name": guest.shown_name or guest.invited_name},
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    if fresh is not None:
        response.set_cookie(
            f"{COOKIE_PREFIX}{guest.id}",
            fresh,
            path="/invitation",
            httponly=True,
            samesite="lax",
            secure=ctx.settings.secure_cookies,
            max_age=int(guests.LINK_VALID_FOR.total_seconds()),
        )
    return response


@router.post("/invitation/{token}/rejoindre")
async def guest_join(
    request: Request, session: SessionDep, ctx: ContextDep, token: str, form: JoinForm
) -> JSONResponse:
    """The guest's Janus grant (their page joins the room with it); traced."""
    guest = await _guest(request, session, ctx, token)
    grant = await guest_link.join(
        session=session, ctx=ctx, guest=guest, name=form.name, ip=_ip(request)
    )
    return JSONResponse(
        {
            "grant": dataclasses.asdict(grant),
            "feed": guests.feed_of(guest.id),
            "name": guest.shown_name,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/invitation/{token}/quitter")
async def guest_leave(
    request: Request, session: SessionDep, ctx: ContextDep, token: str
) -> Response:
    guest = await _guest(request, session, ctx, token)
    await guest_link.leave(session=session, ctx=ctx, guest=guest, ip=_ip(request))
    return Response(status_code=204)


@router.get("/invitation/{token}/etat")
async def guest_status(
    request: Request, session: SessionDep, ctx: ContextDep, token: str
) -> JSONResponse:
    """Whether the guest is still in the consultation (410 with the reason once it is over);
    the page asks every few seconds, which tells the hub the guest is still there."""
    guest = await _guest(request, session, ctx, token)
    await guest_link.seen(session=session, ctx=ctx, guest=guest)
    return JSONResponse({"status": guest.status.value}, headers={"Cache-Control": "no-store"})
