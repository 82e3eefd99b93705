"""The facility staff's home page: the slots reserved for the facility, booking a resident,
and welcoming today's residents (the room console then runs the session)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.cabins.overview import home_context
from hub.consoles.staff import actor_of, open_slot_for, user_site_ids
from hub.consultation.models import STATE_LABELS
from hub.consultation.service import for_bookings
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import HubError
from hub.identity.policy import Permission
from hub.rendering import render
from hub.scheduling import eligibility
from hub.scheduling.book import book
from hub.scheduling.forms import ResidentForm, by_field
from hub.scheduling.lookups import bookings_between
from hub.scheduling.models import Channel, Reservation
from hub.scheduling.slots import free_slots

if TYPE_CHECKING:
    from hub.identity.models import User

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])

FACILITY = frozenset[Reservation | None]({Reservation.FACILITY})
ROOM_TIME = ZoneInfo("Europe/Paris")


async def _facility_page(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    *,
    form: ResidentForm | None = None,
    error: HubError | None = None,
) -> Response:
    data = await home_context(ctx, session, user)
    site_ids = await user_site_ids(session, user)
    now = ctx.clock()
    # Today's residents (from midnight, room time) and those to come: today's are welcomed
    # from here, the staff running the session with the mobile kit.
    today = dt.datetime.combine(now.astimezone(ROOM_TIME).date(), dt.time(0), ROOM_TIME)
    upcoming = await bookings_between(
        session=session, site_ids=site_ids, start=today, end=now + dt.timedelta(days=60)
    )
    data.update(
        {
            "reserved": await free_slots(
                session=session,
                site_ids=site_ids,
                after=now,
                reservations=frozenset({Reservation.FACILITY}),
                limit=30,
            ),
            "upcoming": upcoming,
            "tomorrow": today + dt.timedelta(days=1),
            "consultations": await for_bookings(
                session=session, booking_ids=[b.id for b in upcoming]
            ),
            "consultation_labels": STATE_LABELS,
            "error": error.message if error and not error.fields else None,
            "errors": by_field(error.fields) if error else {},
            "values": form.values() if form else {},
            "message": request.query_params.get("message", ""),
        }
    )
    return render(request, "facility/home.html", data, status_code=error.status if error else 200)


@router.get("/etablissement", response_class=HTMLResponse)
async def facility_home(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted
) -> Response:
    return await _facility_page(request, session, ctx, user)


@router.post("/etablissement/rdv", response_class=HTMLResponse)
async def book_resident(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    form: Annotated[ResidentForm, Form()],
) -> Response:
    now = ctx.clock()
    try:
        slot = await open_slot_for(
            session,
            user,
            form.slot(),
            permission=Permission.FACILITY_BOOKING,
            refusal="Ce créneau n'appartient pas à votre établissement.",
            now=now,
            may_use=FACILITY,
        )
        await eligibility.check(
            session=session,
            organisation_id=user.organisation_id,
            appointment_day=slot.starts_at.date() if slot else now.date(),
            today=now.date(),
            birth_date=form.born(),
            reason=form.reason,
            found=form.problems(today=now.date()),
        )
        assert slot is not None  # a missing slot is one of the problems found
        await book(
            session=session,
            ctx=ctx,
            organisation_id=user.organisation_id,
            slot_id=slot.id,
            patient=form.draft(),
            channel=Channel.FACILITY,
            reason=form.motive(),
            now=now,
            actor=actor_of(request, user),
            may_use=FACILITY,
            booked_by_user_id=user.id,
            booked_by_label=user.full_name,
        )
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _facility_page(request, session, ctx, user, form=form, error=exc)
    return RedirectResponse("/etablissement?message=reserve", status_code=303)
