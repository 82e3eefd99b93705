"""The secretary's desk: her home page, patients found or registered by phone, bookings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.audit.service import record_event, trace_read
from hub.cabins.overview import home_context
from hub.consoles.staff import actor_of, own_booking, parse_birth_date, site_of_slot, user_site_ids
from hub.consultation.service import for_bookings
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import Forbidden, HubError, Invalid
from hub.identity import policy
from hub.identity.models import User
from hub.identity.policy import Permission
from hub.records import patient_service
from hub.records.patients import Sex
from hub.records.vigilance import pending_identities
from hub.relay import service as relay
from hub.rendering import render
from hub.reports.tracking import count_relays_needing_attention
from hub.scheduling import booking as bk
from hub.scheduling import messages
from hub.scheduling.book import book
from hub.scheduling.care import care_site_ids
from hub.scheduling.models import Channel
from hub.scheduling.slots import free_slots

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


@router.get("/secretariat", response_class=HTMLResponse)
async def secretary_home(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    nom: str = "",
    naissance: str = "",
    tel: str = "",
) -> Response:
    data = await home_context(ctx, session, user)
    site_ids = await user_site_ids(session, user)
    error = None
    found = []
    searched = bool(nom.strip() or naissance.strip() or tel.strip())
    try:
        if searched:
            found = await patient_service.find_patients(
                session=session,
                organisation_id=user.organisation_id,
                name=nom,
                birth_date=parse_birth_date(naissance),
                phone=tel,
            )
    except HubError as exc:
        error = exc.message
    data.update(
        {
            "earliest": await free_slots(
                session=session, site_ids=site_ids, after=ctx.clock(), limit=8
            ),
            "to_move": await bk.bookings_to_move(session=session, site_ids=site_ids),
            "pending_identities": len(
                await pending_identities(session=session, organisation_id=user.organisation_id)
            ),
            "relay_failures": await count_relays_needing_attention(
                session=session,
                organisation_id=user.organisation_id,
                site_ids=policy.sites_in_reach(user, Permission.RELAYS),
            ),
            "found": found,
            "searched": searched,
            "error": error,
            "query": {"nom": nom, "naissance": naissance, "tel": tel},
        }
    )
    return render(request, "secretary/home.html", data)


@router.post("/secretariat/patients", response_class=HTMLResponse)
async def create_patient(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    birth_name: Annotated[str, Form(max_length=100)] = "",
    first_names: Annotated[str, Form(max_length=200)] = "",
    birth_date: Annotated[str, Form(max_length=20)] = "",
    sex: Annotated[str, Form(max_length=1)] = "",
    phone: Annotated[str, Form(max_length=30)] = "",
    email: Annotated[str, Form(max_length=200)] = "",
    has_mt: Annotated[str, Form(max_length=3)] = "",
    mt_name: Annotated[str, Form(max_length=200)] = "",
    mt_mssante: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        born = parse_birth_date(birth_date)
        if born is None:
            raise Invalid("Indiquez la date de naissance.")
        if sex not in {s.value for s in Sex}:
            raise Invalid("Indiquez le sexe.")
        patient = await patient_service.register_patient(
            session=session,
            organisation_id=user.organisation_id,
            today=ctx.clock().date(),
            draft=patient_service.PatientDraft(
                birth_name=birth_name,
                first_names=first_names,
                birth_date=born,
                sex=Sex(sex),
                phone=phone,
                email=email,
                has_medecin_traitant={"oui": True, "non": False}.get(has_mt),
                medecin_traitant_name=mt_name,
                medecin_traitant_mssante=mt_mssante,
            ),
            actor=actor_of(request, user),
        )
        await session.commit()
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        data = await home_context(ctx, session, user)
        data.update(
            {
                "earliest": [],
                "to_move": [],
                "found": [],
                "searched": False,
                "error": exc.message,
                "query": {},
                "new_values": dict(await request.form()),
            }
        )
        return render(request, "secretary/home.html", data, status_code=exc.status)
    return RedirectResponse(f"/secretariat/patients/{patient.id}", status_code=303)


async def _patient_page(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    patient_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
    reason: str = "",
) -> Response:
    patient = await patient_service.get_patient(
        session=session, organisation_id=user.organisation_id, patient_id=patient_id
    )
    site_ids = await user_site_ids(session, user)
    # Anyone of the CPTS can be booked; their file only by those who follow them.
    in_care = policy.allows(
        user,
        Permission.PATIENT_FILE,
        sites=await care_site_ids(session=session, patient_id=patient.id),
    )
    history = await bk.patient_history(session=session, patient_id=patient.id) if in_care else []
    await trace_read(
        session=session,
        user_id=user.id,
        target=f"patient:{patient.id}",
        ip=request.client.host if request.client else "",
    )
    return render(
        request,
        "secretary/patient.html",
        {
            "patient": patient,
            "history": history,
            "in_care": in_care,
            "own_site_ids": site_ids,  # a booking elsewhere is not hers to open
            "not_in_care": policy.CARE_REFUSED,
            "now": ctx.clock(),
            "no_shows": sum(1 for b in history if b.status.value == "no_show"),
            "earliest": await free_slots(
                session=session, site_ids=site_ids, after=ctx.clock(), limit=12
            ),
            "error": error,
            "reason": reason,
        },
        status_code=status_code,
    )


@router.get("/secretariat/patients/{patient_id}", response_class=HTMLResponse)
async def patient_page(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted, patient_id: int
) -> Response:
    return await _patient_page(request, session, ctx, user, patient_id)


@router.post("/secretariat/patients/{patient_id}/medecin-traitant", response_class=HTMLResponse)
async def set_medecin_traitant(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    patient_id: int,
    has_mt: Annotated[str, Form(max_length=3)] = "",
    mt_name: Annotated[str, Form(max_length=200)] = "",
    mt_mssante: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The secretary records the médecin traitant and the address reports are relayed to."""
    patient = await patient_service.get_patient(
        session=session, organisation_id=user.organisation_id, patient_id=patient_id
    )
    policy.check(
        user,
        Permission.PATIENT_FILE,
        sites=await care_site_ids(session=session, patient_id=patient.id),
    )
    try:
        patient_service.set_medecin_traitant(
            patient,
            declared={"oui": True, "non": False}.get(has_mt),
            name=mt_name,
            mssante=mt_mssante,
        )
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _patient_page(
            request, session, ctx, user, patient_id, error=exc.message, status_code=exc.status
        )
    record_event(
        session=session,
        action="patient.medecin_traitant",
        actor_kind="user",
        actor_id=user.id,
        target=f"patient:{patient.id}",
    )
    await session.commit()
    return RedirectResponse(f"/secretariat/patients/{patient_id}", status_code=303)


@router.post("/secretariat/patients/{patient_id}/rdv", response_class=HTMLResponse)
async def book_by_phone(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    patient_id: int,
    slot_id: deps.OptionalFormRowId = None,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    now = ctx.clock()
    try:
        patient = await patient_service.get_patient(
            session=session, organisation_id=user.organisation_id, patient_id=patient_id
        )
        if slot_id is None:
            raise Invalid("Choisissez un créneau.")
        slot_site = await site_of_slot(session, slot_id)
        if not policy.allows(user, Permission.BOOK, sites=[slot_site.id]):
            raise Forbidden("Ce créneau est sur un site pour lequel vous n'agissez pas.")
        booking = await book(
            session=session,
            ctx=ctx,
            organisation_id=user.organisation_id,
            slot_id=slot_id,
            patient=patient.id,
            channel=Channel.PHONE,
            reason=reason,
            now=now,
            actor=actor_of(request, user),
            booked_by_user_id=user.id,
            booked_by_label=user.full_name,
        )
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _patient_page(
            request,
            session,
            ctx,
            user,
            patient_id,
            error=exc.message,
            status_code=exc.status,
            reason=reason,
        )
    return RedirectResponse(f"/secretariat/rdv/{booking.id}?nouveau=1", status_code=303)


@router.get("/secretariat/rdv/{booking_id}", response_class=HTMLResponse)
async def booking_summary(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted, booking_id: int
) -> Response:
    return await booking_page(request, session, ctx, user, booking_id)


async def booking_page(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    booking_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The secretary's view of a booking: the read-back, and for a patient without médecin
    traitant seen in teleconsultation, the choice of a relay doctor."""
    booking = await own_booking(session, user, booking_id, Permission.MANAGE_BOOKING)
    consultation = (await for_bookings(session=session, booking_ids=[booking.id])).get(booking.id)
    return render(
        request,
        "secretary/booking.html",
        {
            "booking": booking,
            "new": request.query_params.get("nouveau") == "1",
            "now": ctx.clock(),
            "reminders": messages.reminder_channels(booking.patient),
            "message": request.query_params.get("message", ""),
            "error": error,
            "consultation": consultation,
            "relay_doctors": await relay.directory(
                session=session, organisation_id=user.organisation_id, accepting_only=True
            ),
            "referrals": await relay.referrals_of(session=session, consultation_id=consultation.id)
            if consultation
            else [],
        },
        status_code=status_code,
    )


@router.post("/secretariat/rdv/{booking_id}/annuler")
async def cancel_for_patient(
    session: SessionDep, ctx: ContextDep, user: Permitted, booking_id: int
) -> Response:
    booking = await own_booking(session, user, booking_id, Permission.MANAGE_BOOKING)
    now = ctx.clock()
    slot = await bk.cancel_booking(
        session=session,
        booking=booking,
        reason=f"annulé par le secrétariat ({user.full_name})",
        now=now,
    )
    await messages.booking_cancelled(session=session, ctx=ctx, booking=booking, now=now)
    await messages.offer_slot(session=session, ctx=ctx, slot=slot, now=now)
    await session.commit()
    return RedirectResponse(f"/secretariat/rdv/{booking_id}?message=annule", status_code=303)
