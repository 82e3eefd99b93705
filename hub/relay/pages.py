"""The coordinator's relay-doctor directory, and the referral of a patient without médecin
traitant by the room or by the secretariat."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.audit.service import record_event
from hub.consultation import service as consultation
from hub.consultation.models import Consultation
from hub.consultation.pages import RoomCall
from hub.context import HubContext
from hub.deps import ContextDep, SessionDep
from hub.errors import Conflict, HubError, Invalid
from hub.identity.models import Organisation, Site, User
from hub.identity.policy import Permission, Permitted
from hub.records import publication
from hub.relay import service
from hub.rendering import render
from hub.scheduling import staff_pages

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


@router.get("/coordination/medecins-relais", response_class=HTMLResponse)
async def directory_page(
    request: Request, session: SessionDep, user: Permitted, error: str | None = None
) -> Response:
    doctors = await service.directory(session=session, organisation_id=user.organisation_id)
    return render(
        request,
        "coordination/relay_doctors.html",
        {"doctors": doctors, "error": error, "message": request.query_params.get("message", "")},
    )


@router.post("/coordination/medecins-relais", response_class=HTMLResponse)
async def add_doctor(
    request: Request,
    session: SessionDep,
    user: Permitted,
    name: Annotated[str, Form(max_length=200)] = "",
    speciality: Annotated[str, Form(max_length=120)] = "",
    city: Annotated[str, Form(max_length=120)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    email: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        await service.add_doctor(
            session=session,
            organisation_id=user.organisation_id,
            name=name,
            speciality=speciality,
            city=city,
            phone=phone,
            email=email,
        )
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        doctors = await service.directory(session=session, organisation_id=user.organisation_id)
        return render(
            request,
            "coordination/relay_doctors.html",
            {"doctors": doctors, "error": exc.message, "message": ""},
            status_code=exc.status,
        )
    await session.commit()
    return RedirectResponse("/coordination/medecins-relais?message=ajoute", status_code=303)


@router.post("/coordination/medecins-relais/{doctor_id}/disponibilite")
async def toggle(session: SessionDep, user: Permitted, doctor_id: int) -> Response:
    doctor = await service.get_doctor(
        session=session, organisation_id=user.organisation_id, doctor_id=doctor_id
    )
    doctor.accepts_new_patients = not doctor.accepts_new_patients
    await session.commit()
    return RedirectResponse("/coordination/medecins-relais?message=modifie", status_code=303)


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
    org = await session.get(Organisation, user.organisation_id)
    site = await session.get(Site, c.site_id)
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
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
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
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The secretary refers a patient without médecin traitant to a relay doctor, after their
    teleconsultation; the doctor gets the signed report if there is one."""
    try:
        booking = await staff_pages.own_booking(
            session, user, booking_id, Permission.MANAGE_BOOKING
        )
        c = (await consultation.for_bookings(session=session, booking_ids=[booking.id])).get(
            booking.id
        )
        if c is None:
            raise Conflict("Ce patient n'a pas encore été vu en téléconsultation.")
        await _refer(session, ctx, user, c, doctor_id, note)
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await staff_pages.booking_page(
            request, session, ctx, user, booking_id, error=exc.message, status_code=exc.status
        )
    return RedirectResponse(f"/secretariat/rdv/{booking_id}?message=oriente", status_code=303)
