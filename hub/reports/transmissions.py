"""The secretariat's follow-up of the reports relayed to the doctors: what was sent, what waits,
what failed and why, and sending a failed one again; and the delivery and read reports of the
hub's mailbox that matched no relay, listed rather than dropped."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import deps
from hub.audit.service import record_event
from hub.deps import ContextDep, Permitted, SessionDep
from hub.identity import policy
from hub.identity.policy import Permission
from hub.notify.receipts import count_unmatched
from hub.rendering import render
from hub.reports import tracking
from hub.reports.stray_receipts import list_stray_reports

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])

MESSAGES = {"renvoye": "La transmission est remise en file d'envoi."}


@router.get("/secretariat/transmissions", response_class=HTMLResponse)
async def transmissions_page(request: Request, session: SessionDep, user: Permitted) -> Response:
    lines = await tracking.list_relays(
        session=session,
        organisation_id=user.organisation_id,
        site_ids=policy.sites_in_reach(user, Permission.RELAYS),
    )
    return render(
        request,
        "secretary/transmissions.html",
        {
            "lines": lines,
            "failed": sum(1 for line in lines if line.failed),
            "stray": await count_unmatched(session=session),
            "message": MESSAGES.get(request.query_params.get("message", ""), ""),
        },
    )


@router.get("/secretariat/transmissions/non-rattaches", response_class=HTMLResponse)
async def stray_reports_page(request: Request, session: SessionDep, user: Permitted) -> Response:
    """The delivery and read reports that matched no relay, each with why, in French."""
    return render(
        request,
        "secretary/stray_receipts.html",
        {"reports": await list_stray_reports(session=session)},
    )


@router.post("/secretariat/transmissions/{message_id}/renvoyer")
async def resend(
    session: SessionDep, ctx: ContextDep, user: Permitted, message_id: int
) -> Response:
    site_id = await tracking.relay_site_id(
        session=session, organisation_id=user.organisation_id, message_id=message_id
    )
    policy.check(
        user,
        Permission.RELAYS,
        sites=[site_id],
        refusal="Cette transmission concerne un site pour lequel vous n'agissez pas.",
    )
    line = await tracking.resend_relay(
        session=session,
        organisation_id=user.organisation_id,
        message_id=message_id,
        now=ctx.clock(),
        trust_space=ctx.settings.mssante_trust_space(),
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
