"""The nurse's home page: the day's bookings of her sites, their consultations, no-shows."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import deps
from hub.cabins.overview import home_context
from hub.consoles.staff import own_booking
from hub.consultation.models import STATE_LABELS
from hub.consultation.service import for_bookings
from hub.deps import ContextDep, Permitted, SessionDep
from hub.identity.policy import Permission
from hub.rendering import render
from hub.scheduling import changes
from hub.scheduling.lookups import bookings_between

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


def _day_bounds(day: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(day, dt.time(0), zone)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


@router.get("/infirmier", response_class=HTMLResponse)
async def nurse_home(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted
) -> Response:
    data = await home_context(ctx, session, user)
    now = ctx.clock()
    agendas = []
    for site in data["sites"]:  # type: ignore[attr-defined]
        start, end = _day_bounds(now.astimezone(ZoneInfo(site.timezone)).date(), site.timezone)
        agendas.append(
            (
                site,
                await bookings_between(session=session, site_ids=[site.id], start=start, end=end),
            )
        )
    consultations = await for_bookings(
        session=session, booking_ids=[b.id for _, bookings in agendas for b in bookings]
    )
    data.update(
        {
            "agendas": agendas,
            "now": now,
            "consultations": consultations,
            "consultation_labels": STATE_LABELS,
            "message": request.query_params.get("message", ""),
        }
    )
    return render(request, "nurse/home.html", data)


@router.post("/infirmier/rdv/{booking_id}/non-honore")
async def mark_no_show(
    session: SessionDep, ctx: ContextDep, user: Permitted, booking_id: int
) -> Response:
    booking = await own_booking(session, user, booking_id, Permission.AGENDA)
    await changes.mark_no_show(session=session, booking=booking, now=ctx.clock())
    await session.commit()
    return RedirectResponse("/infirmier?message=non-honore", status_code=303)
