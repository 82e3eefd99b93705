"""The coordinator's schedule management: weekly opening rules and closures (the booking
policy's form is on the coordinator's home page, ``hub.consoles.coordinator``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import Invalid, NotFound
from hub.identity import service as identity
from hub.lengths import Text
from hub.rendering import render
from hub.scheduling import calendar as cal
from hub.scheduling.models import Closure, OpeningRule, Reservation
from hub.scheduling.slots import SyncReport, sync_horizon

if TYPE_CHECKING:
    from hub.identity.models import Site, User

router = APIRouter(prefix="/coordination", dependencies=[Depends(deps.csrf_protect)])

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
# The opening form's first values (a morning of 20-minute slots, one patient each).
RULE_DEFAULTS = {"start": "08:00", "end": "12:00", "slot_minutes": "20", "seats": "1"}
CLOSURE_REASON = Text("Motif de la fermeture", 200)
RESERVATION_LABELS = {
    "": "tout public",
    Reservation.FACILITY.value: "résidents de l'établissement",
    Reservation.SAS.value: "patients régulés (SAS)",
}


async def _own_site(session: AsyncSession, user: User, site_id: int) -> Site:
    for site in await identity.sites_for(session=session, user=user):
        if site.id == site_id:
            return site
    raise NotFound("Ce site n'existe pas dans votre CPTS.")


async def resync(*, session: AsyncSession, site: Site, ctx: HubContext) -> SyncReport:
    """Regenerate the site's slots over the booking horizon after a schedule change."""
    return await sync_horizon(session=session, site=site, today=ctx.clock().date())


async def _page(
    request: Request,
    session: AsyncSession,
    site: Site,
    *,
    error: str | None = None,
    status_code: int = 200,
    rule_values: dict[str, str] | None = None,
    closure_values: dict[str, str] | None = None,
) -> Response:
    """The site's schedule; ``error`` and the values of the refused form, as typed."""
    rules = list(
        await session.scalars(
            select(OpeningRule)
            .where(OpeningRule.site_id == site.id)
            .order_by(OpeningRule.weekday, OpeningRule.start_time)
        )
    )
    closures = list(
        await session.scalars(
            select(Closure).where(Closure.site_id == site.id).order_by(Closure.start_date)
        )
    )
    return render(
        request,
        "coordination/schedule.html",
        {
            "site": site,
            "rules": rules,
            "closures": closures,
            "weekdays": WEEKDAYS,
            "reservations": RESERVATION_LABELS,
            "error": error,
            "message": request.query_params.get("message", ""),
            "withdrawn": request.query_params.get("a_deplacer", ""),
            "rule_values": rule_values or RULE_DEFAULTS,
            "closure_values": closure_values or {},
        },
        status_code=status_code,
    )


@router.get("/sites/{site_id}/horaires", response_class=HTMLResponse)
async def schedule_page(
    request: Request, session: SessionDep, user: Permitted, site_id: int
) -> Response:
    return await _page(request, session, await _own_site(session, user, site_id))


def _time(value: str, label: str) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{label} : heure invalide (format hh:mm).") from None


def _day(value: str, label: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{label} : date invalide.") from None


def _redirect(site: Site, message: str, report: SyncReport) -> Response:
    url = f"/coordination/sites/{site.id}/horaires?message={message}"
    if report.withdrawn:
        url += f"&a_deplacer={report.withdrawn}"
    return RedirectResponse(url, status_code=303)


@router.post("/sites/{site_id}/horaires", response_class=HTMLResponse)
async def add_rule(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    site_id: int,
    weekday: Annotated[int, Form(ge=0, le=6)],
    start: Annotated[str, Form(max_length=20)],
    end: Annotated[str, Form(max_length=20)],
    slot_minutes: Annotated[int, Form()],
    seats: Annotated[int, Form()],
    reserved_for: Annotated[str, Form(max_length=20)] = "",
    valid_from: Annotated[str, Form(max_length=20)] = "",
    valid_until: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    site = await _own_site(session, user, site_id)
    typed = {
        "weekday": str(weekday),
        "start": start,
        "end": end,
        "slot_minutes": str(slot_minutes),
        "seats": str(seats),
        "reserved_for": reserved_for,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }
    try:
        spec = cal.OpeningRule(
            weekday=weekday,
            start=_time(start, "Début"),
            end=_time(end, "Fin"),
            slot_minutes=slot_minutes,
            seats=seats,
            reserved_for=reserved_for or None,
            valid_from=_day(valid_from, "Valable à partir du"),
            valid_until=_day(valid_until, "Valable jusqu'au"),
        )
        try:
            cal.validate_rule(spec)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if reserved_for and reserved_for not in {r.value for r in Reservation}:
            raise Invalid("Réservation inconnue.")
    except Invalid as exc:
        return await _page(
            request, session, site, error=exc.message, status_code=422, rule_values=typed
        )
    session.add(
        OpeningRule(
            site_id=site.id,
            weekday=spec.weekday,
            start_time=spec.start,
            end_time=spec.end,
            slot_minutes=spec.slot_minutes,
            seats=spec.seats,
            reserved_for=Reservation(reserved_for) if reserved_for else None,
            valid_from=spec.valid_from,
            valid_until=spec.valid_until,
        )
    )
    await session.flush()
    report = await resync(session=session, site=site, ctx=ctx)
    await session.commit()
    return _redirect(site, "regle-ajoutee", report)


@router.post("/sites/{site_id}/horaires/{rule_id}/supprimer")
async def delete_rule(
    session: SessionDep, ctx: ContextDep, user: Permitted, site_id: int, rule_id: int
) -> Response:
    site = await _own_site(session, user, site_id)
    rule = await session.get(OpeningRule, rule_id)
    if rule is None or rule.site_id != site.id:
        raise NotFound("Règle introuvable.")
    await session.delete(rule)
    await session.flush()
    report = await resync(session=session, site=site, ctx=ctx)
    await session.commit()
    return _redirect(site, "regle-supprimee", report)


@router.post("/sites/{site_id}/fermetures", response_class=HTMLResponse)
async def add_closure(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    site_id: int,
    start_date: Annotated[str, Form(max_length=20)],
    end_date: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form()] = "",
) -> Response:
    site = await _own_site(session, user, site_id)
    try:
        if problem := CLOSURE_REASON.problem(reason):
            raise Invalid(problem)
        first, last = _day(start_date, "Du"), _day(end_date, "Au")
        if first is None or last is None:
            raise Invalid("Indiquez le premier et le dernier jour de fermeture.")
        if last < first:
            raise Invalid("Le dernier jour de fermeture précède le premier.")
    except Invalid as exc:
        typed = {"start_date": start_date, "end_date": end_date, "reason": reason}
        return await _page(
            request, session, site, error=exc.message, status_code=422, closure_values=typed
        )
    session.add(Closure(site_id=site.id, start_date=first, end_date=last, reason=reason.strip()))
    await session.flush()
    report = await resync(session=session, site=site, ctx=ctx)
    await session.commit()
    return _redirect(site, "fermeture-ajoutee", report)


@router.post("/sites/{site_id}/fermetures/{closure_id}/supprimer")
async def delete_closure(
    session: SessionDep, ctx: ContextDep, user: Permitted, site_id: int, closure_id: int
) -> Response:
    site = await _own_site(session, user, site_id)
    closure = await session.get(Closure, closure_id)
    if closure is None or closure.site_id != site.id:
        raise NotFound("Fermeture introuvable.")
    await session.delete(closure)
    await session.flush()
    report = await resync(session=session, site=site, ctx=ctx)
    await session.commit()
    return _redirect(site, "fermeture-supprimee", report)
