"""The coordinator's home page: the CPTS's staff, cabins, journal, outbox and booking rules."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from hub import deps
from hub.audit.service import recent_events
from hub.cabins.overview import home_context
from hub.cabins.refusals import refusal_summaries
from hub.deps import ContextDep, Permitted, SessionDep
from hub.identity import service
from hub.interop.sas_reports import reports_needing_attention
from hub.notify.outbox import recent_messages
from hub.rendering import render
from hub.scheduling.policy import policy_for

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


@router.get("/coordination", response_class=HTMLResponse)
async def coordinator_home(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
) -> Response:
    data = await home_context(ctx, session, user)
    users = await service.users_of(session=session, organisation_id=user.organisation_id)
    cabins = {c.id: c.name for site in data["sites"] for c in site.cabins}  # type: ignore[attr-defined]
    names = {u.id: u.full_name for u in users}
    data["users"] = users
    data["events"] = await recent_events(
        session=session,
        site_ids=[site.id for site in data["sites"]],  # type: ignore[attr-defined]
        user_ids=[u.id for u in users],
        cabin_ids=list(cabins),
        usernames=[u.username for u in users],
        limit=30,
    )
    data["actor_names"] = {"user": names, "cabin": cabins}
    data["refusals"] = await refusal_summaries(session=session, cabin_ids=list(cabins))
    data["policy"] = await policy_for(session=session, organisation_id=user.organisation_id)
    data["outbox"] = await recent_messages(session=session, limit=30)
    data["sas_reports"] = await reports_needing_attention(
        session=session, organisation_id=user.organisation_id
    )
    data["sas_platform_configured"] = bool(ctx.settings.sas_platform_url)
    return render(request, "coordination.html", data)
