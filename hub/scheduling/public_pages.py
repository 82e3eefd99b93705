"""Online booking for patients (no account): earliest slots, screening, booking, follow-up links."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.context import HubContext
from hub.deps import ContextDep, SessionDep
from hub.errors import HubError, NotFound
from hub.identity import service as identity
from hub.records.vigilance import Actor
from hub.rendering import render
from hub.scheduling import book as booking_service
from hub.scheduling import booking as bk
from hub.scheduling import eligibility, links, messages, waiting_list
from hub.scheduling.book import PUBLIC, book
from hub.scheduling.booking_days import ChosenDay, choose_day, day_fr
from hub.scheduling.changes import confirm_booking
from hub.scheduling.eligibility import RED_FLAG_LABELS
from hub.scheduling.forms import YES, BookingForm, by_field
from hub.scheduling.lookups import get_booking
from hub.scheduling.models import Booking, BookingStatus, Channel, Slot, WaitStatus
from hub.scheduling.policy import policy_for
from hub.scheduling.slots import DayOfSlots, FreeSlot, day_of_slots, free_slots

if TYPE_CHECKING:
    from hub.identity.models import Organisation, Site

router = APIRouter(prefix="/rdv", dependencies=[Depends(deps.csrf_protect)])

SLOTS_PER_SITE = 40  # a room's whole day


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


async def _day(
    session: AsyncSession, site_ids: list[int], now: dt.datetime, chosen: ChosenDay, tz: ZoneInfo
) -> DayOfSlots:
    start, end = chosen.bounds(tz)
    return await day_of_slots(
        session=session,
        site_ids=site_ids,
        after=now,
        day_start=start,
        day_end=end,
        per_site=SLOTS_PER_SITE,
    )


@router.get("/{slug}", response_class=HTMLResponse)
async def earliest_slots(
    request: Request, session: SessionDep, ctx: ContextDep, slug: str, jour: str = ""
) -> Response:
    """Each room's next free slot, and the free slots of the chosen day (by default today, or
    the day of the earliest free slot when none is left today)."""
    org = await _organisation(session, slug)
    now = ctx.clock()
    rooms = await _rooms(session, org.id)
    tz = ZoneInfo(rooms[0].timezone if rooms else "Europe/Paris")
    policy = await policy_for(session=session, organisation_id=org.id)
    chosen = choose_day(
        jour[:20], today=now.astimezone(tz).date(), horizon_days=policy.horizon_days
    )
    site_ids = [r.id for r in rooms]
    found = await _day(session, site_ids, now, chosen, tz)
    if not jour and not found.day_by_site and found.next_by_site:
        # Nothing left today: show the day of the earliest free slot instead.
        earliest = min(f.starts_at for f in found.next_by_site.values())
        day = min(chosen.last, max(chosen.first, earliest.astimezone(tz).date()))
        chosen = replace(chosen, day=day)
        found = await _day(session, site_ids, now, chosen, tz)
    nexts = sorted(found.next_by_site.values(), key=lambda f: (f.starts_at, f.site_id))
    next_days = {i: f.starts_at.astimezone(tz).date() for i, f in found.next_by_site.items()}
    return render(
        request,
        "booking/slots.html",
        {
            "org": org,
            "rooms": rooms,
            "room_by_id": {r.id: r for r in rooms},
            "found": found,
            "earliest": nexts[0] if nexts else None,
            "chosen": chosen,
            "day_label": day_fr(chosen.day),
            "day_links": chosen.links(),
            "next_days": {i: d.isoformat() for i, d in next_days.items()},
            "next_day_labels": {i: day_fr(d) for i, d in next_days.items()},
        },
    )


async def _public_slot(session: AsyncSession, org: Organisation, slot_id: int) -> Slot:
    slot = await session.get(Slot, slot_id)
    if slot is None:
        raise NotFound("Ce créneau n'existe pas.")
    site = await identity.get_site(session=session, site_id=slot.site_id)
    if site is None or site.organisation_id != org.id:
        raise NotFound("Ce créneau n'existe pas.")
    slot.site = site
    return slot


async def _open_seat(
    session: AsyncSession, ctx: HubContext, org: Organisation, slot_id: int, *, booking: bool
) -> bk.Seat:
    """A free seat of a slot of the CPTS the public may book now; a reserved (facility, SAS),
    past or taken slot is refused before the form is filled. ``booking``: read to book it now
    (the new booking's id reserved with it, where the database can)."""
    await _public_slot(session, org, slot_id)
    return await bk.free_seat(
        session=session, slot_id=slot_id, now=ctx.clock(), may_use=PUBLIC, reserve_id=booking
    )


def _form_page(
    request: Request,
    org: Organisation,
    slot: Slot,
    form: BookingForm | None = None,
    error: HubError | None = None,
    *,
    action: str = "",
) -> Response:
    return render(
        request,
        "booking/form.html",
        {
            "org": org,
            "slot": slot,
            "action": action or f"/rdv/{org.slug}/creneau/{slot.id}",
            "red_flags": RED_FLAG_LABELS,
            "values": form.values() if form else {},
            "errors": by_field(error.fields) if error else {},
            "error": error.message if error and not error.fields else None,
        },
        status_code=error.status if error else 200,
    )


async def booking_form_page(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    slug: str,
    slot_id: int,
    *,
    action: str = "",
) -> Response:
    """The form to book one open slot of the CPTS, posted to ``action`` (the public URL by
    default)."""
    org = await _organisation(session, slug)
    seat = await _open_seat(session, ctx, org, slot_id, booking=False)
    return _form_page(request, org, seat.slot, action=action)


async def submit_booking(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    slug: str,
    slot_id: int,
    form: BookingForm,
    *,
    channel: Channel = Channel.ONLINE,
    booked_by_label: str = "",
    action: str = "",
    before_commit: Callable[[Booking], None] | None = None,
) -> Response:
    """Book the slot from the public form (red flags first, then eligibility) and send the
    person to their booking's page; the form again, with every problem, when refused.
    ``channel``, ``booked_by_label`` and ``before_commit`` say where the booking came from (a
    SAS regulator following the slot's link, for instance)."""
    org = await _organisation(session, slug)
    if flags := form.red_flags():  # the first question, and it stops everything
        labels = [RED_FLAG_LABELS[f] for f in flags]
        return render(request, "booking/emergency.html", {"org": org, "flags": labels})
    seat = await _open_seat(session, ctx, org, slot_id, booking=True)
    slot = seat.slot
    now = ctx.clock()
    try:
        await eligibility.check(
            session=session,
            organisation_id=org.id,
            appointment_day=slot.starts_at.date(),
            today=now.date(),
            birth_date=form.born(),
            reason=form.reason,
            guardian_name=form.guardian_name,
            found=form.problems(today=now.date()),
        )
        booking = await book(
            session=session,
            ctx=ctx,
            organisation_id=org.id,
            slot_id=slot.id,
            seat=seat,
            patient=form.draft(),
            channel=channel,
            reason=form.reason,
            now=now,
            actor=Actor(kind="anonymous", ip=request.client.host if request.client else ""),
            booked_by_label=booked_by_label,
            waiting_list=form.waiting_list == YES,
            before_commit=before_commit,
        )
    except HubError as exc:
        await session.rollback()
        org = await _organisation(session, slug)
        slot = await _public_slot(session, org, slot_id)
        return _form_page(request, org, slot, form, exc, action=action)
    token = links.booking_token(ctx.secret, booking)
    return RedirectResponse(f"/rdv/suivi/{token}?nouveau=1", status_code=303)


@router.get("/{slug}/creneau/{slot_id}", response_class=HTMLResponse)
async def booking_form(
    request: Request, session: SessionDep, ctx: ContextDep, slug: str, slot_id: int
) -> Response:
    return await booking_form_page(request, session, ctx, slug, slot_id)


@router.post("/{slug}/creneau/{slot_id}", response_class=HTMLResponse)
async def book_online(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    slug: str,
    slot_id: int,
    form: Annotated[BookingForm, Form()],
) -> Response:
    return await submit_booking(request, session, ctx, slug, slot_id, form)


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
    await confirm_booking(session=session, booking=booking, now=ctx.clock())
    await session.commit()
    return RedirectResponse(f"/rdv/suivi/{token}?message=confirme", status_code=303)


@router.post("/suivi/{token}/annuler")
async def cancel(session: SessionDep, ctx: ContextDep, token: str) -> Response:
    booking = await _followed(session, ctx, token)
    now = ctx.clock()
    await booking_service.cancel(
        session=session, ctx=ctx, booking=booking, reason="annulé par le patient", now=now
    )
    await session.commit()
    return RedirectResponse(f"/rdv/suivi/{token}?message=annule", status_code=303)


@router.post("/suivi/{token}/attente")
async def join_waiting_list(session: SessionDep, ctx: ContextDep, token: str) -> Response:
    booking = await _followed(session, ctx, token)
    await waiting_list.join_waiting_list(
        session=session, booking=booking, any_site=True, now=ctx.clock()
    )
    await session.commit()
    return RedirectResponse(f"/rdv/suivi/{token}?message=attente", status_code=303)


@router.post("/suivi/{token}/deplacer")
async def move(
    session: SessionDep, ctx: ContextDep, token: str, slot_id: deps.FormRowId
) -> Response:
    booking = await _followed(session, ctx, token)
    # The old time's reminders withdrawn, the new time's queued, the freed seat offered.
    new = await booking_service.move(
        session=session, ctx=ctx, booking=booking, slot_id=slot_id, now=ctx.clock()
    )
    await session.commit()
    return RedirectResponse(
        f"/rdv/suivi/{links.booking_token(ctx.secret, new)}?message=deplace", status_code=303
    )


@router.get("/proposition/{token}", response_class=HTMLResponse)
async def offer_page(
    request: Request, session: SessionDep, ctx: ContextDep, token: str
) -> Response:
    entry = await links.offer_from_token(session=session, secret=ctx.secret, token=token)
    booking = await get_booking(session=session, booking_id=entry.booking_id)
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
    new, left = await waiting_list.accept_offer(session=session, entry=entry, now=now)
    await messages.booking_made(session=session, ctx=ctx, booking=new, now=now)
    await messages.offer_slot(session=session, ctx=ctx, slot=left, now=now)
    await session.commit()
    return RedirectResponse(
        f"/rdv/suivi/{links.booking_token(ctx.secret, new)}?message=avance", status_code=303
    )


@router.post("/proposition/{token}/refuser")
async def decline(session: SessionDep, ctx: ContextDep, token: str) -> Response:
    entry = await links.offer_from_token(session=session, secret=ctx.secret, token=token)
    booking = await get_booking(session=session, booking_id=entry.booking_id)
    slot = await waiting_list.decline_offer(session=session, entry=entry)
    if slot is not None:
        await messages.offer_slot(session=session, ctx=ctx, slot=slot, now=ctx.clock())
    await session.commit()
    return RedirectResponse(
        f"/rdv/suivi/{links.booking_token(ctx.secret, booking)}?message=conserve", status_code=303
    )
