"""The secretary's desk: her home page, patients found or registered by phone, bookings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.audit.service import record_event, trace_read
from hub.cabins.overview import home_context
from hub.consoles.staff import (
    actor_of,
    open_slot_for,
    own_booking,
    parse_birth_date,
    user_site_ids,
)
from hub.consultation.service import for_bookings
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import HubError, Invalid
from hub.identity import policy
from hub.identity import service as identity
from hub.identity.policy import Permission
from hub.lengths import Text, too_long
from hub.records import contact, patient_service
from hub.records.vigilance import pending_identities
from hub.relay import service as relay
from hub.rendering import render
from hub.reports.tracking import count_relays_needing_attention
from hub.scheduling import eligibility, messages
from hub.scheduling.book import book, cancel
from hub.scheduling.booking_days import choose_day
from hub.scheduling.care import care_site_ids
from hub.scheduling.forms import ContactForm, PatientForm, PhoneBookingForm, by_field, refuse
from hub.scheduling.lookups import bookings_to_move, patient_history
from hub.scheduling.models import Channel
from hub.scheduling.policy import policy_for
from hub.scheduling.slots import free_slots

if TYPE_CHECKING:
    from hub.identity.models import User
    from hub.records.patients import Patient

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
            "to_move": await bookings_to_move(session=session, site_ids=site_ids),
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
    form: Annotated[PatientForm, Form()],
) -> Response:
    today = ctx.clock().date()
    try:
        refuse(form.problems(today=today))
        patient = await patient_service.register_patient(
            session=session,
            organisation_id=user.organisation_id,
            today=today,
            draft=form.draft(),
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
                "error": None if exc.fields else exc.message,
                "errors": by_field(exc.fields),
                "query": {},
                "new_values": form.values(),
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
    error: HubError | None = None,
    values: dict[str, object] | None = None,
    contact_error: HubError | None = None,
    contact_values: dict[str, object] | None = None,
    mt_error: HubError | None = None,
    mt_values: dict[str, str] | None = None,
    from_day: str = "",
) -> Response:
    """The patient's page; ``error``/``values`` are the booking form's, ``contact_…`` the
    contact form's, ``mt_…`` the médecin traitant's (each shows its problems by its fields);
    ``from_day`` (AAAA-MM-JJ), the day the patient asked for: the slots offered start there."""
    patient = await patient_service.get_patient(
        session=session, organisation_id=user.organisation_id, patient_id=patient_id
    )
    sites = await identity.sites_for(session=session, user=user)
    site_ids = [s.id for s in sites]
    now = ctx.clock()
    tz = ZoneInfo(sites[0].timezone if sites else "Europe/Paris")
    booking_policy = await policy_for(session=session, organisation_id=user.organisation_id)
    chosen = choose_day(
        from_day[:20], today=now.astimezone(tz).date(), horizon_days=booking_policy.horizon_days
    )
    slots_from = max(now, chosen.bounds(tz)[0])
    # Anyone of the CPTS can be booked; their file only by those who follow them.
    in_care = policy.allows(
        user,
        Permission.PATIENT_FILE,
        sites=await care_site_ids(session=session, patient_id=patient.id),
    )
    history = await patient_history(session=session, patient_id=patient.id) if in_care else []
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
            "now": now,
            "no_shows": sum(1 for b in history if b.status.value == "no_show"),
            "earliest": await free_slots(
                session=session, site_ids=site_ids, after=slots_from, limit=12
            ),
            "from_day": chosen.day.isoformat() if from_day and not chosen.problem else "",
            "from_day_problem": chosen.problem if from_day else "",
            "today": chosen.first.isoformat(),
            "last_day": chosen.last.isoformat(),
            "error": error.message if error and not error.fields else None,
            "errors": by_field(error.fields) if error else {},
            "values": values or {},
            "reminders": messages.reminder_channels(patient),
            "contact_saved": request.query_params.get("message") == "coordonnees",
            "contact_error": contact_error.message
            if contact_error and not contact_error.fields
            else None,
            "contact_errors": dict(contact_error.fields) if contact_error else {},
            "contact_values": contact_values or {"phone": patient.phone, "email": patient.email},
            "mt_error": mt_error.message if mt_error and not mt_error.fields else None,
            "mt_errors": by_field(mt_error.fields) if mt_error else {},
            "mt_values": mt_values if mt_values is not None else _mt_values(patient),
        },
        status_code=next(
            (e.status for e in (error, contact_error, mt_error) if e is not None), 200
        ),
    )


def _mt_values(patient: Patient) -> dict[str, str]:
    """The médecin traitant form as stored."""
    declared = patient.has_medecin_traitant
    return {
        "has_mt": "" if declared is None else ("oui" if declared else "non"),
        "mt_family": patient.medecin_traitant_family_name,
        "mt_given": patient.medecin_traitant_given_name,
        "mt_rpps": patient.medecin_traitant_rpps,
        "mt_mssante": patient.medecin_traitant_mssante,
        "mt_name": patient.medecin_traitant_name,
    }


@router.get("/secretariat/patients/{patient_id}", response_class=HTMLResponse)
async def patient_page(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    patient_id: int,
    a_partir_du: str = "",
) -> Response:
    """The patient's page; ``a_partir_du``: the day the patient asks for, slots from then."""
    return await _patient_page(request, session, ctx, user, patient_id, from_day=a_partir_du)


# How much each answer of the médecin traitant's form may hold (the patient record's columns).
MT_TEXT = {
    "mt_family": Text("Nom du médecin traitant", 100),
    "mt_given": Text("Prénom du médecin traitant", 100),
    "mt_rpps": Text("N° RPPS", 20),
    "mt_name": Text("Médecin traitant", 200),
    "mt_mssante": Text("Messagerie sécurisée (MSSanté)", 200),
}


@router.post("/secretariat/patients/{patient_id}/medecin-traitant", response_class=HTMLResponse)
async def set_medecin_traitant(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    patient_id: int,
    has_mt: Annotated[str, Form(max_length=3)] = "",
    mt_family: Annotated[str, Form()] = "",
    mt_given: Annotated[str, Form()] = "",
    mt_rpps: Annotated[str, Form()] = "",
    mt_name: Annotated[str, Form()] = "",
    mt_mssante: Annotated[str, Form()] = "",
) -> Response:
    """The secretary records the médecin traitant (RPPS, names) and the address reports are
    relayed to; refused, the form comes back as typed with every problem by its field."""
    typed = {
        "has_mt": has_mt,
        "mt_family": mt_family,
        "mt_given": mt_given,
        "mt_rpps": mt_rpps,
        "mt_mssante": mt_mssante,
        "mt_name": mt_name,
    }
    patient = await patient_service.get_patient(
        session=session, organisation_id=user.organisation_id, patient_id=patient_id
    )
    policy.check(
        user,
        Permission.PATIENT_FILE,
        sites=await care_site_ids(session=session, patient_id=patient.id),
    )
    try:
        lengths = too_long(typed, MT_TEXT)
        try:
            patient_service.set_medecin_traitant(
                patient,
                patient_service.MedecinTraitant(
                    declared={"oui": True, "non": False}.get(has_mt),
                    family_name=mt_family,
                    given_name=mt_given,
                    rpps=mt_rpps,
                    mssante=mt_mssante,
                    name=mt_name,
                ),
            )
        except Invalid as exc:
            if not exc.fields:
                raise
            refuse(by_field(exc.fields) | lengths)  # every problem at once
        refuse(lengths)
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _patient_page(
            request, session, ctx, user, patient_id, mt_error=exc, mt_values=typed
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


@router.post("/secretariat/patients/{patient_id}/coordonnees", response_class=HTMLResponse)
async def change_contact(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    patient_id: int,
    form: Annotated[ContactForm, Form()],
) -> Response:
    """The secretary changes the patient's mobile and e-mail; the reminders of their bookings
    to come then go to the new contact."""
    patient = await patient_service.get_patient(
        session=session, organisation_id=user.organisation_id, patient_id=patient_id
    )
    policy.check(
        user,
        Permission.PATIENT_FILE,
        sites=await care_site_ids(session=session, patient_id=patient.id),
    )
    try:
        refuse(form.problems(patient))
        changed = await contact.change_contact(
            session=session,
            patient=patient,
            phone=form.phone,
            email=form.email,
            actor=actor_of(request, user),
        )
        if changed:
            await messages.contact_changed(
                session=session, ctx=ctx, patient_id=patient.id, now=ctx.clock()
            )
        await session.commit()
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _patient_page(
            request,
            session,
            ctx,
            user,
            patient_id,
            contact_error=exc,
            contact_values=form.values(),
        )
    return RedirectResponse(
        f"/secretariat/patients/{patient_id}?message=coordonnees#contact", status_code=303
    )


@router.post("/secretariat/patients/{patient_id}/rdv", response_class=HTMLResponse)
async def book_by_phone(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    patient_id: int,
    form: Annotated[PhoneBookingForm, Form()],
) -> Response:
    now = ctx.clock()
    try:
        patient = await patient_service.get_patient(
            session=session, organisation_id=user.organisation_id, patient_id=patient_id
        )
        slot = await open_slot_for(
            session,
            user,
            form.slot(),
            permission=Permission.BOOK,
            refusal="Ce créneau est sur un site pour lequel vous n'agissez pas.",
            now=now,
        )
        await eligibility.check(
            session=session,
            organisation_id=user.organisation_id,
            appointment_day=slot.starts_at.date() if slot else now.date(),
            today=now.date(),
            birth_date=patient.birth_date,
            reason=form.reason,
            found=form.problems(),
        )
        assert slot is not None  # a missing slot is one of the problems found
        booking = await book(
            session=session,
            ctx=ctx,
            organisation_id=user.organisation_id,
            slot_id=slot.id,
            patient=patient.id,
            channel=Channel.PHONE,
            reason=form.reason,
            now=now,
            actor=actor_of(request, user),
            booked_by_user_id=user.id,
            booked_by_label=user.full_name,
            requester=form.requester(),
        )
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _patient_page(
            request, session, ctx, user, patient_id, error=exc, values=form.values()
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
    move_error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The secretary's view of a booking: the read-back, the free slots to move it to, and for
    a patient without médecin traitant seen in teleconsultation, the choice of a relay
    doctor."""
    booking = await own_booking(session, user, booking_id, Permission.MANAGE_BOOKING)
    movable = booking.status.value == "booked" and booking.starts_at > ctx.clock()
    sites = await identity.sites_for(session=session, user=user)
    consultation = (await for_bookings(session=session, booking_ids=[booking.id])).get(booking.id)
    return render(
        request,
        "secretary/booking.html",
        {
            "booking": booking,
            "new": request.query_params.get("nouveau") == "1",
            "now": ctx.clock(),
            "reminders": messages.reminder_channels(booking.patient),
            "reminder_moments": messages.reminder_moments(
                starts_at=booking.starts_at,
                policy=await policy_for(session=session, organisation_id=user.organisation_id),
                now=ctx.clock(),
            ),
            "message": request.query_params.get("message", ""),
            "error": error,
            "move_error": move_error,
            "move_slots": await free_slots(
                session=session, site_ids=[s.id for s in sites], after=ctx.clock(), limit=12
            )
            if movable
            else [],
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
    await cancel(
        session=session,
        ctx=ctx,
        booking=booking,
        reason=f"annulé par le secrétariat ({user.full_name})",
        now=now,
    )
    await session.commit()
    return RedirectResponse(f"/secretariat/rdv/{booking_id}?message=annule", status_code=303)
