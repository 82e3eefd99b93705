"""The doctor's home page: the waiting room of her sites and her recent consultations."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from hub import deps
from hub.cabins.live import ObservationPublic
from hub.cabins.overview import home_context
from hub.consoles import vitals
from hub.consultation import service
from hub.consultation.models import STATE_LABELS
from hub.deps import ContextDep, Permitted, SessionDep
from hub.records.observations import observations_of_booking
from hub.rendering import render

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


RECENT_REPORTS = dt.timedelta(days=30)  # the doctor's finished consultations listed at home


@router.get("/medecin", response_class=HTMLResponse)
async def doctor_home(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted
) -> Response:
    data = await home_context(ctx, session, user)
    now = ctx.clock()
    data.update(
        {
            "waiting": [
                (
                    c,
                    service.elapsed_minutes(c.ready_at, now),
                    vitals.summary(
                        ObservationPublic.of_row(o)
                        for o in await observations_of_booking(
                            session=session, booking_id=c.booking_id
                        )
                    ),
                )
                for c in await service.waiting_room(session=session, user=user)
            ],
            "state_labels": STATE_LABELS,
            "now": now,
            "recent": await service.closed_by_doctor(
                session=session, doctor_id=user.id, since=now - RECENT_REPORTS
            ),
        }
    )
    return render(request, "consultation/waiting_room.html", data)
