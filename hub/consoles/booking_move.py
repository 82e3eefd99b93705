"""The secretariat moves a booking to another slot (the patient asks on the phone, or the slot
was withdrawn from the opening rules): in one transaction the new seat is taken, the first
booking cancelled and its reminders withdrawn, the new booking's confirmation and reminders
queued and the freed seat offered to the waiting list. A booking the SAS made keeps its SAS
record on the new booking, so the SAS platform is told of the first's cancellation and of the
new booking the way it was told of the first (``hub.interop.sas_reports``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import deps
from hub.audit.service import record_event
from hub.consoles.secretary import booking_page
from hub.consoles.staff import open_slot_for, own_booking
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import HubError, Invalid
from hub.identity.policy import Permission
from hub.interop import sas_reports
from hub.scheduling.book import move
from hub.scheduling.forms import parse_row_id

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


@router.post("/secretariat/rdv/{booking_id}/deplacer", response_class=HTMLResponse)
async def move_booking(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    booking_id: int,
    slot_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Move the booking to the chosen slot; the new booking's summary to read back."""
    booking = await own_booking(session, user, booking_id, Permission.MANAGE_BOOKING)
    now = ctx.clock()
    try:
        slot = await open_slot_for(
            session,
            user,
            parse_row_id(slot_id),
            permission=Permission.BOOK,
            refusal="Ce créneau est sur un site pour lequel vous n'agissez pas.",
            now=now,
        )
        if slot is None:
            raise Invalid("Choisissez le nouveau créneau.")
        new = await move(session=session, ctx=ctx, booking=booking, slot_id=slot.id, now=now)
        await sas_reports.carry_over(
            session=session, from_booking_id=booking_id, to_booking_id=new.id, site_id=new.site_id
        )
        record_event(
            session=session,
            action="booking.moved",
            actor_kind="user",
            actor_id=user.id,
            site_id=new.site_id,
            target=f"booking:{new.id}",
            detail=f"déplacé depuis booking:{booking_id}",
        )
        await session.commit()
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await booking_page(
            request, session, ctx, user, booking_id, move_error=exc.message, status_code=exc.status
        )
    return RedirectResponse(f"/secretariat/rdv/{new.id}?message=deplace", status_code=303)
