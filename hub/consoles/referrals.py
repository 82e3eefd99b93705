"""Referring a patient to a relay doctor, from the room's console or the secretary's desk."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.audit.service import record_event
from hub.consoles import secretary
from hub.consoles.consultation_console import RoomCall
from hub.consoles.staff import own_booking
from hub.consultation import service as consultation
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import Conflict, HubError, Invalid
from hub.identity import service as identity
from hub.identity.policy import Permission
from hub.lengths import Text
from hub.relay import service
from hub.reports import publication

if TYPE_CHECKING:
    from hub.consultation.models import Consultation
    from hub.identity.models import User

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])
REFERRAL_NOTE = Text("Note pour le médecin relais", 1000)


async def _refer(
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    c: Consultation,
    doctor_id: int | None,
    note: str,
) -> None:
    """Refer the consultation's patient to a relay doctor, who is told at once (and gets the
    signed report when there is one already)."""
    if doctor_id is None:
        raise Invalid("Choisissez un médecin relais.")
    org = await identity.get_organisation(session=session, organisation_id=user.organisation_id)
    site = await identity.get_site(session=session, site_id=c.site_id)
    referral = await service.refer(
        session=session,
        organisation_id=user.organisation_id,
        consultation_id=c.id,
        doctor_id=doctor_id,
        user_id=user.id,
        note=note,
        site_name=site.name if site else "",
        cpts_phone=org.phone if org else "",
        now=ctx.clock(),
    )
    record_event(
        session=session,
        action="consultation.referral",
        actor_kind="user",
        actor_id=user.id,
        site_id=c.site_id,
        target=f"referral:{referral.id}",
    )
    await publication.send_signed_report(
        session=session,
        ctx=ctx,
        consultation_id=c.id,
        doctor=await service.get_doctor(
            session=session, organisation_id=user.organisation_id, doctor_id=doctor_id
        ),
    )
    await session.commit()


@router.post("/salle/consultations/{consultation_id}/medecin-relais", response_class=HTMLResponse)
async def refer(
    call: RoomCall,
    ctx: ContextDep,
    consultation_id: int,
    doctor_id: deps.OptionalFormRowId = None,
    note: Annotated[str, Form()] = "",
) -> Response:
    if problem := REFERRAL_NOTE.problem(note):
        return await call.console(consultation_id, error=problem, status=422)

    async def act() -> None:
        c = await consultation.get_consultation(
            session=call.session, user=call.user, consultation_id=consultation_id
        )
        await _refer(call.session, ctx, call.user, c, doctor_id, note)

    return await call.act(consultation_id, act(), suffix="?message=oriente")


@router.post("/secretariat/rdv/{booking_id}/medecin-relais", response_class=HTMLResponse)
async def secretary_refer(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    booking_id: int,
    doctor_id: deps.OptionalFormRowId = None,
    note: Annotated[str, Form()] = "",
) -> Response:
    """The secretary refers a patient without médecin traitant to a relay doctor, after their
    teleconsultation; the doctor gets the signed report if there is one."""
    try:
        if problem := REFERRAL_NOTE.problem(note):
            raise Invalid(problem)
        booking = await own_booking(session, user, booking_id, Permission.MANAGE_BOOKING)
        c = (await consultation.for_bookings(session=session, booking_ids=[booking.id])).get(
            booking.id
        )
        if c is None:
            raise Conflict("Ce patient n'a pas encore été vu en téléconsultation.")
        await _refer(session, ctx, user, c, doctor_id, note)
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await secretary.booking_page(
            request, session, ctx, user, booking_id, error=exc.message, status_code=exc.status
        )
    return RedirectResponse(f"/secretariat/rdv/{booking_id}?message=oriente", status_code=303)
