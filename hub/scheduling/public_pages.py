"""Online booking for patients (no account): earliest slots, screening, booking, follow-up links."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.context import HubContext
from hub.deps import ContextDep, SessionDep
from hub.errors import HubError, Invalid, NotFound
from hub.identity import service as identity
from hub.identity.models import Organisation, Site
from hub.records.patient_service import PatientDraft
from hub.records.patients import Sex
from hub.records.vigilance import Actor
from hub.rendering import render
from hub.scheduling import booking as bk
from hub.scheduling import links, messages
from hub.scheduling.book import book
from hub.scheduling.eligibility import RED_FLAG_LABELS, RedFlag, age_on, screen
from hub.scheduling.models import Booking, BookingStatus, Channel, Slot, WaitStatus
from hub.scheduling.policy import policy_for
from hub.scheduling.slots import FreeSlot, free_slots

router = APIRouter(prefix="/rdv", dependencies=[Depends(deps.csrf_protect)])

SLOTS_PER_SITE = 6
ADULT_AGE = 18


async def _organisation(session: AsyncSession, slug: str) -> Organisation:
    org = await identity.organisation_by_slug(session=session, slug=slug)
    if org is None:
        raise NotFound("Cette CPTS n'existe pas.")
    return org


async def _rooms(session: AsyncSession, organisation_id: int) -> list[Site]:
    return await identity.teleconsultation_rooms(session=session, organisation_id=organisation_id)


@router.get("", response_class=HTMLResponse)
async def choose_cpts(request: Request, session: SessionDep) -> Response:
    orgs = await identity.organisations(session=session)
    if len(orgs) == 1:
        return RedirectResponse(f"/rdv/{orgs[0].slug}", status_code=303)
    return render(request, "booking/choose_cpts.html", {"organisations": orgs})


@router.get("/{slug}", response_class=HTMLResponse)
async def earliest_slots(
    request: Request, session: SessionDep, ctx: ContextDep, slug: str
) -> Response:
    org = await _organisation(session, slug)
    now = ctx.clock()
    by_site: list[tuple[Site, list[FreeSlot]]] = []
    for site in await _rooms(session, org.id):
        by_site.append(
            (
                site,
                await free_slots(
                    session=session, site_ids=[site.id], after=now, limit=SLOTS_PER_SITE
                ),
            )
        )
    everything = sorted((f for _, fs in by_site for f in fs), key=lambda f: f.slot.starts_at)
    return render(
        request,
        "booking/slots.html",
        {
            "org": org,
            "by_site": by_site,
            "earliest": everything[0] if everything else None,
        },
    )


def _form_context(org: Organisation, slot: Slot, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "org": org,
        "slot": slot,
        "red_flags": RED_FLAG_LABELS,
        "values": {},
        "error": None,
    }
    data.update(extra)
    return data


async def _public_slot(session: AsyncSession, org: Organisation, slot_id: int) -> Slot:
    slot = await session.get(Slot, slot_id)
    if slot is None:
        raise NotFound("Ce créneau n'existe pas.")
    site = await identity.get_site(session=session, site_id=slot.site_id)
    if site is None or site.organisation_id != org.id:
        raise NotFound("Ce créneau n'existe pas.")
    slot.site = site
    return slot


@router.get("/{slug}/creneau/{slot_id}", response_class=HTMLResponse)
async def booking_form(request: Request, session: SessionDep, slug: str, slot_id: int) -> Response:
    org = await _organisation(session, slug)
    slot = await _public_slot(session, org, slot_id)
    return render(request, "booking/form.html", _form_context(org, slot))


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("Indiquez la date de naissance au format jj/mm/aaaa.") from None


@router.post("/{slug}/creneau/{slot_id}", response_class=HTMLResponse)
async def book_online(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    slug: str,
    slot_id: int,
    birth_name: Annotated[str, Form(max_length=100)] = "",
    first_names: Annotated[str, Form(max_length=200)] = "",
    birth_date: Annotated[str, Form(max_length=20)] = "",
    sex: Annotated[str, Form(max_length=1)] = "",
    phone: Annotated[str, Form(max_length=30)] = "",
    email: Annotated[str, Form(max_length=200)] = "",
    nir: Annotated[str, Form(max_length=30)] = "",
    guardian_name: Annotated[str, Form(max_length=200)] = "",
    has_mt: Annotated[str, Form(max_length=3)] = "",
    mt_name: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    waiting_list: Annotated[str, Form(max_length=3)] = "",
    consent: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    org = await _organisation(session, slug)
    slot = await _public_slot(session, org, slot_id)
    form = await request.form()
    flags = frozenset(
        RedFlag(v)
        for v in form.getlist("red_flag")
        if isinstance(v, str) and v in RedFlag._value2member_map_
    )
    values = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
    if flags:
        return render(
            request,
            "booking/emergency.html",
            {"org": org, "flags": [RED_FLAG_LABELS[f] for f in flags]},
        )
    now = ctx.clock()
    try:
        born = _parse_date(birth_date)
        policy = await policy_for(session=session, organisation_id=org.id)
        verdict = screen(
            red_flags=flags,
            birth_date=born,
            appointment_day=slot.starts_at.date(),
            reason=reason,
            min_age_years=policy.min_age_years,
            excluded_reasons=policy.excluded_reasons.splitlines(),
        )
        if not verdict.allowed:
            raise Invalid(verdict.message)
        if sex not in {s.value for s in Sex}:
            raise Invalid("Indiquez le sexe indiqué sur la pièce d'identité.")
        if age_on(born, now.date()) < ADULT_AGE and not guardian_name.strip():
            raise Invalid(
                "Pour un mineur, indiquez le nom du représentant légal qui l'accompagnera."
            )
        if not phone.strip() and not email.strip():
            raise Invalid(
                "Indiquez un numéro de portable ou une adresse e-mail "
                "pour recevoir la confirmation."
            )
        if has_mt not in ("oui", "non"):
            raise Invalid("Indiquez si vous avez un médecin traitant.")
        if consent != "oui":
            raise Invalid("Votre accord est nécessaire pour enregistrer le rendez-vous.")
        booking = await book(
            session=session,
            ctx=ctx,
            organisation_id=org.id,
            slot_id=slot.id,
            patient=PatientDraft(
                birth_name=birth_name,
                first_names=first_names,
                birth_date=born,
                sex=Sex(sex),
                phone=phone,
                email=email,
                nir=nir,
                guardian_name=guardian_name,
                has_medecin_traitant=has_mt == "oui",
                medecin_traitant_name=mt_name,
            ),
            channel=Channel.ONLINE,
            reason=reason,
            now=now,
            actor=Actor(kind="anonymous", ip=request.client.host if request.client else ""),
            waiting_list=waiting_list == "oui",
        )
    except HubError as exc:
        await session.rollback()
        org = await _organisation(session, slug)
        slot = await _public_slot(session, org, slot_id)
        return render(
            request,
            "booking/form.html",
            _form_context(org, slot, values=values, error=exc.message),
            status_code=exc.status,
        )
    token = links.booking_token(ctx.secret, booking)
    return RedirectResponse(f"/rdv/suivi/{token}?nouveau=1", status_code=303)


# --- following a booking through its signed link ------------------------------------------------


async def _followed(session: AsyncSession, ctx: HubContext, token: str) -> Booking:
    return await links.booking_from_token(session=session, secret=ctx.secret, token=token)


@router.get("/suivi/{token}", response_class=HTMLResponse)
async def follow(request: Request, session: SessionDep, ctx: ContextDep, token: str) -> Response:
    booking = await _followed(session, ctx, token)
    now = ctx.clock()
    others: list[FreeSlot] = []
    if booking.status is BookingStatus.BOOKED and booking.starts_at > now:
        org_sites = [s.id for s in await _rooms(session, booking.site.organisation_id)]
        others = [
            f
            for f in await free_slots(session=session, site_ids=org_sites, after=now, limit=8)
            if f.slot.id != booking.slot_id
        ]
    return render(
        request,
        "booking/follow.html",
        {
            "booking": booking,
            "token": token,
            "others": others,
            "now": now,
            "new": request.query_params.get("nouveau") == "1",
            "message": request.query_params.get("message", ""),
            "waiting": await messages.is_waiting(session=session, booking=booking),
        },
    )


@router.post("/suivi/{token}/confirmer")
async def confirm(session: SessionDep, ctx: ContextDep, token: str) -> Response:
    booking = await _followed(session, ctx, token)
    await bk.confirm_booking(session=session, booking=booking, now=ctx.clock())
    await session.commit()
    return RedirectResponse(f"/rdv/suivi/{token}?message=confirme", status_code=303)


@router.post("/suivi/{token}/annuler")
async def cancel(session: SessionDep, ctx: ContextDep, token: str) -> Response:
    booking = await _followed(session, ctx, token)
    now = ctx.clock()
    slot = await bk.cancel_booking(
        session=session, booking=booking, reason="annulé par le patient", now=now
    )
    await messages.booking_cancelled(session=session, ctx=ctx, booking=booking, now=now)
    await messages.offer_slot(session=session, ctx=ctx, slot=slot, now=now)
    await session.commit()
    return RedirectResponse(f"/rdv/suivi/{token}?message=annule", status_code=303)


@router.post("/suivi/{token}/attente")
async def join_waiting_list(session: SessionDep, ctx: ContextDep, token: str) -> Response:
    booking = await _followed(session, ctx, token)
    await bk.join_waiting_list(session=session, booking=booking, any_site=True, now=ctx.clock())
    await session.commit()
    return RedirectResponse(f"/rdv/suivi/{token}?message=attente", status_code=303)


@router.post("/suivi/{token}/deplacer")
async def move(
    session: SessionDep, ctx: ContextDep, token: str, slot_id: deps.FormRowId
) -> Response:
    booking = await _followed(session, ctx, token)
    now = ctx.clock()
    new = await bk.move_booking(session=session, booking=booking, slot_id=slot_id, now=now)
    await messages.booking_made(session=session, ctx=ctx, booking=new, now=now)
    await messages.offer_slot(session=session, ctx=ctx, slot=booking.slot, now=now)
    await session.commit()
    return RedirectResponse(
        f"/rdv/suivi/{links.booking_token(ctx.secret, new)}?message=deplace", status_code=303
    )


@router.get("/proposition/{token}", response_class=HTMLResponse)
async def offer_page(
    request: Request, session: SessionDep, ctx: ContextDep, token: str
) -> Response:
    entry = await links.offer_from_token(session=session, secret=ctx.secret, token=token)
    booking = await bk.get_booking(session=session, booking_id=entry.booking_id)
    slot = await session.get(Slot, entry.offered_slot_id) if entry.offered_slot_id else None
    valid = (
        entry.status is WaitStatus.OFFERED
        and slot is not None
        and (entry.offer_expires_at is None or entry.offer_expires_at > ctx.clock())
    )
    if slot is not None:
        slot.site = await identity.get_site(session=session, site_id=slot.site_id)  # type: ignore[assignment]
    return render(
        request,
        "booking/offer.html",
        {
            "entry": entry,
            "booking": booking,
            "slot": slot,
            "valid": valid,
            "token": token,
        },
    )


@router.post("/proposition/{token}/accepter")
async def accept(session: SessionDep, ctx: ContextDep, token: str) -> Response:
    entry = await links.offer_from_token(session=session, secret=ctx.secret, token=token)
    now = ctx.clock()
    new, left = await bk.accept_offer(session=session, entry=entry, now=now)
    await messages.booking_made(session=session, ctx=ctx, booking=new, now=now)
    await messages.offer_slot(session=session, ctx=ctx, slot=left, now=now)
    await session.commit()
    return RedirectResponse(
        f"/rdv/suivi/{links.booking_token(ctx.secret, new)}?message=avance", status_code=303
    )


@router.post("/proposition/{token}/refuser")
async def decline(session: SessionDep, ctx: ContextDep, token: str) -> Response:
    entry = await links.offer_from_token(session=session, secret=ctx.secret, token=token)
    booking = await bk.get_booking(session=session, booking_id=entry.booking_id)
    slot = await bk.decline_offer(session=session, entry=entry)
    if slot is not None:
        await messages.offer_slot(session=session, ctx=ctx, slot=slot, now=ctx.clock())
    await session.commit()
    return RedirectResponse(
        f"/rdv/suivi/{links.booking_token(ctx.secret, booking)}?message=conserve", status_code=303
    )
