"""The facility staff's home page: the slots reserved for the facility, booking a resident."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.cabins.overview import home_context
from hub.consoles.staff import actor_of, parse_birth_date, site_of_slot, user_site_ids
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import Forbidden, HubError, Invalid
from hub.identity import policy
from hub.identity.models import User
from hub.identity.policy import Permission
from hub.records import patient_service
from hub.records.patients import Sex
from hub.rendering import render
from hub.scheduling import booking as bk
from hub.scheduling.book import book
from hub.scheduling.models import Channel, Reservation
from hub.scheduling.slots import free_slots

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


async def _facility_page(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    *,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    data = await home_context(ctx, session, user)
    site_ids = await user_site_ids(session, user)
    now = ctx.clock()
    data.update(
        {
            "reserved": await free_slots(
                session=session,
                site_ids=site_ids,
                after=now,
                reservations=frozenset({Reservation.FACILITY}),
                limit=30,
            ),
            "upcoming": await bk.bookings_between(
                session=session, site_ids=site_ids, start=now, end=now + dt.timedelta(days=60)
            ),
            "error": error,
            "values": values or {},
            "message": request.query_params.get("message", ""),
        }
    )
    return render(request, "facility/home.html", data, status_code=status_code)


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
    slot_id: deps.OptionalFormRowId = None,
    birth_name: Annotated[str, Form(max_length=100)] = "",
    first_names: Annotated[str, Form(max_length=200)] = "",
    birth_date: Annotated[str, Form(max_length=20)] = "",
    sex: Annotated[str, Form(max_length=1)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    in_room: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    now = ctx.clock()
    values = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        if slot_id is None:
            raise Invalid("Choisissez un créneau réservé à l'établissement.")
        slot_site_id = (await site_of_slot(session, slot_id)).id
        if not policy.allows(user, Permission.FACILITY_BOOKING, sites=[slot_site_id]):
            raise Forbidden("Ce créneau n'appartient pas à votre établissement.")
        born = parse_birth_date(birth_date)
        if born is None:
            raise Invalid("Indiquez la date de naissance du résident.")
        if sex not in {s.value for s in Sex}:
            raise Invalid("Indiquez le sexe du résident.")
        motive = reason.strip()
        if in_room == "oui" and motive:
            motive += " — à voir dans sa chambre (ne peut pas se déplacer)"
        await book(
            session=session,
            ctx=ctx,
            organisation_id=user.organisation_id,
            slot_id=slot_id,
            patient=patient_service.PatientDraft(
                birth_name=birth_name, first_names=first_names, birth_date=born, sex=Sex(sex)
            ),
            channel=Channel.FACILITY,
            reason=motive,
            now=now,
            actor=actor_of(request, user),
            may_use=frozenset({Reservation.FACILITY}),
            booked_by_user_id=user.id,
            booked_by_label=user.full_name,
        )
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _facility_page(
            request, session, ctx, user, error=exc.message, values=values, status_code=exc.status
        )
    return RedirectResponse("/etablissement?message=reserve", status_code=303)
