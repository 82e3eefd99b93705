"""The secretariat's follow-up of the reports relayed to the doctors: what was sent, what waits,
what failed and why, and sending a failed one again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import deps
from hub.deps import ContextDep, SessionDep, require_role
from hub.identity.models import Role, User
from hub.records.audit import record_event
from hub.relay import tracking
from hub.rendering import render

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])
Staff = Annotated[User, Depends(require_role(Role.SECRETARY, Role.COORDINATOR))]

MESSAGES = {"renvoye": "La transmission est remise en file d'envoi."}


@router.get("/secretariat/transmissions", response_class=HTMLResponse)
async def transmissions_page(request: Request, session: SessionDep, user: Staff) -> Response:
    lines = await tracking.list_relays(session=session, organisation_id=user.organisation_id)
    return render(
        request,
        "secretary/transmissions.html",
        {
            "lines": lines,
            "failed": sum(1 for line in lines if line.failed),
            "message": MESSAGES.get(request.query_params.get("message", ""), ""),
        },
    )


@router.post("/secretariat/transmissions/{message_id}/renvoyer")
async def resend(session: SessionDep, ctx: ContextDep, user: Staff, message_id: int) -> Response:
    line = await tracking.resend_relay(
        session=session,
        organisation_id=user.organisation_id,
        message_id=message_id,
        now=ctx.clock(),
    )
    record_event(
        session=session,
        action="relay.resend",
        actor_kind="user",
        actor_id=user.id,
        site_id=line.site_id,
        target=f"outbound_message:{line.message_id}",
        detail=f"report:{line.report_id}",
    )
    await session.commit()
    return RedirectResponse("/secretariat/transmissions?message=renvoye", status_code=303)
