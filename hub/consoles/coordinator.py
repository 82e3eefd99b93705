"""The coordinator's home page: the CPTS's staff, cabins, journal, outbox and booking rules
(the booking policy's form is saved here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.audit.service import recent_events
from hub.cabins.overview import home_context
from hub.cabins.refusals import refusal_summaries
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.identity import service
from hub.interop.sas_reports import reports_needing_attention
from hub.notify.outbox import recent_messages
from hub.rendering import render
from hub.scheduling.policy import change_policy, policy_for

if TYPE_CHECKING:
    from hub.identity.models import User

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


@router.get("/coordination", response_class=HTMLResponse)
async def coordinator_home(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
) -> Response:
    return await _home(request, session, ctx, user)


@router.post("/coordination/politique", response_class=HTMLResponse)
async def update_policy(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    min_age_years: Annotated[str, Form()] = "",
    reminder_hours: Annotated[str, Form()] = "",
    excluded_reasons: Annotated[str, Form()] = "",
) -> Response:
    """Save the booking policy; refused, the form comes back as typed, each problem by field."""
    typed = {
        "min_age_years": min_age_years,
        "reminder_hours": reminder_hours,
        "excluded_reasons": excluded_reasons,
    }
    policy = await policy_for(session=session, organisation_id=user.organisation_id)
    if problems := change_policy(policy, typed):
        await deps.rollback_keeping_user(session, user)
        return await _home(request, session, ctx, user, policy_values=typed, policy_errors=problems)
    await session.commit()
    return RedirectResponse("/coordination?message=politique", status_code=303)


async def _home(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    *,
    policy_values: dict[str, str] | None = None,
    policy_errors: dict[str, str] | None = None,
) -> Response:
    """The coordinator's page; ``policy_values``/``policy_errors``: a refused policy form."""
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
    policy = await policy_for(session=session, organisation_id=user.organisation_id)
    data["policy_values"] = policy_values or {
        "min_age_years": str(policy.min_age_years),
        "reminder_hours": policy.reminder_hours,
        "excluded_reasons": policy.excluded_reasons,
    }
    data["policy_errors"] = policy_errors or {}
    data["outbox"] = await recent_messages(session=session, limit=30)
    data["sas_reports"] = await reports_needing_attention(
        session=session, organisation_id=user.organisation_id
    )
    data["sas_platform_configured"] = bool(ctx.settings.sas_platform_url)
    return render(request, "coordination.html", data, status_code=422 if policy_errors else 200)
