"""The coordinator's indicators dashboard, its CSV, and the yearly activity report."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.audit.service import record_event
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import HubError, Invalid
from hub.rendering import render
from hub.reporting import charts, exports, inputs, queries
from hub.reporting.indicators import (
    IndicatorReport,
    Indicators,
    Period,
    compute_indicators,
    months_fr,
)
from hub.reporting.models import ReportInputs
from hub.reports.models import ORIENTATION_LABELS

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])

LOCAL_ZONE = ZoneInfo("Europe/Paris")
FIELDS = ("initial_value", "target", "commentary")


def _today(ctx: HubContext) -> dt.date:
    return ctx.clock().astimezone(LOCAL_ZONE).date()


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"La date « {name} » n'est pas valide (attendu : AAAA-MM-JJ).") from None


def _period(du: str, au: str, today: dt.date) -> Period:
    start = _date(du, "du") if du.strip() else dt.date(today.year, 1, 1)
    end = _date(au, "au") if au.strip() else today
    if end < start:
        raise Invalid(
            f"La période est à l'envers : le « au » ({end.strftime('%d/%m/%Y')}) est avant le "
            f"« du » ({start.strftime('%d/%m/%Y')}). Corrigez l'une des deux dates."
        )
    return Period(start, end)


def _site(site: str) -> int | None:
    if not site.strip():
        return None
    try:
        return int(site)
    except ValueError:
        raise Invalid("Choisissez un site de la liste.") from None


def _year(annee: str) -> int:
    try:
        return inputs.check_year(int(annee))
    except ValueError:
        raise Invalid("Indiquez l'année sur quatre chiffres.") from None


async def _report_year(
    session: AsyncSession, organisation_id: int, annee: str, today: dt.date
) -> tuple[int, bool]:
    """The year asked for, else the last complete year with appointments (in January, the one
    just ended); and whether some complete year has any."""
    this_year = dt.datetime(today.year, 1, 1, tzinfo=LOCAL_ZONE)
    latest = await queries.latest_booking_before(
        session=session, organisation_id=organisation_id, before=this_year.astimezone(dt.UTC)
    )
    if annee.strip():
        return _year(annee), latest is not None
    if latest is None:
        return today.year - 1, False
    return latest.astimezone(LOCAL_ZONE).year, True


def _charts(ind: Indicators, report: IndicatorReport) -> dict[str, object]:
    delay = charts.bar_chart(
        chart_id="chart-delay",
        title="Délai entre la demande de soins et la téléconsultation",
        bars=[
            ("Dans les 24 h", ind.share_within_24h),
            ("Dans les 48 h", ind.share_within_48h),
        ],
        unit="%",
        max_value=100,
    )
    orientations = charts.bar_chart(
        chart_id="chart-orientations",
        title="Orientations à l'issue de la téléconsultation",
        bars=[(ORIENTATION_LABELS[o], float(n)) for o, n in ind.orientations],
    )
    trend = charts.line_chart(
        chart_id="chart-no-show",
        title="Taux de rendez-vous non honorés, par mois",
        points=list(
            zip(
                months_fr(m.month for m in ind.no_show_trend),
                [m.rate for m in ind.no_show_trend],
                strict=True,
            )
        ),
    )
    out: dict[str, object] = {"delay": delay, "orientations": orientations, "trend": trend}
    if ind.site_id is None:
        out["sites"] = charts.bar_chart(
            chart_id="chart-sites",
            title="Téléconsultations réalisées par site",
            bars=[(s.scope, float(s.consultations_done)) for s in report.sites],
        )
    return out


@router.get("/coordination/indicateurs", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    du: str = "",
    au: str = "",
    site: str = "",
) -> Response:
    today = _today(ctx)
    sites = await queries.sites_of(session=session, organisation_id=user.organisation_id)
    try:
        period = _period(du, au, today)
        site_id = _site(site)
    except Invalid as exc:  # the form again, as typed, with what to correct
        return render(
            request,
            "coordination/indicators.html",
            {
                "error": exc.message,
                "typed": {"du": du, "au": au, "site": site},
                "site_id": None,
                "sites": sites,
                "last_year": today.year - 1,
                "this_year": today.year,
                "today": today,
            },
            status_code=exc.status,
        )
    report = await compute_indicators(
        session=session,
        organisation_id=user.organisation_id,
        period=period,
        now=ctx.clock(),
        site_id=site_id,
    )
    ind = report.cpts
    return render(
        request,
        "coordination/indicators.html",
        {
            "report": report,
            "ind": ind,
            "figures": exports.figures(ind),
            "site_rows": [(s, {f.code: f for f in exports.figures(s)}) for s in report.sites]
            if site_id is None
            else [],
            "sites": sites,
            "site_id": site_id,
            "typed": {
                "du": period.start.isoformat(),
                "au": period.end.isoformat(),
                "site": "" if site_id is None else str(site_id),
            },
            "charts": _charts(ind, report),
            "query": f"du={period.start.isoformat()}&au={period.end.isoformat()}"
            + (f"&site={site_id}" if site_id is not None else ""),
            "last_year": today.year - 1,
            "this_year": today.year,
            "today": today,
        },
    )


async def _trace_export(session: AsyncSession, user_id: int, name: str) -> None:
    """Exports leave the hub: each one is traced (aggregates only, but still the CPTS's)."""
    record_event(
        session=session,
        action="reporting.export",
        actor_kind="user",
        actor_id=user_id,
        target=f"export:{name}"[:200],
    )
    await session.commit()


@router.get("/coordination/indicateurs.csv")
async def dashboard_csv(
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    du: str = "",
    au: str = "",
    site: str = "",
) -> Response:
    period = _period(du, au, _today(ctx))
    report = await compute_indicators(
        session=session,
        organisation_id=user.organisation_id,
        period=period,
        now=ctx.clock(),
        site_id=_site(site),
    )
    name = f"indicateurs-cpts-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    await _trace_export(session, user.id, name)
    return Response(
        # A byte-order mark, so that spreadsheets open the accents right.
        content="\ufeff" + exports.indicators_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def _yearly(
    session: AsyncSession, ctx: HubContext, organisation_id: int, year: int
) -> tuple[IndicatorReport, list[exports.ReportLine]]:
    report = await compute_indicators(
        session=session, organisation_id=organisation_id, period=Period.year(year), now=ctx.clock()
    )
    saved = await inputs.load_inputs(session=session, organisation_id=organisation_id, year=year)
    return report, exports.report_lines(report.cpts, saved)


async def _render_yearly(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    organisation_id: int,
    year: int,
    *,
    error: str = "",
    status_code: int = 200,
    any_year: bool = True,
) -> Response:
    report, lines = await _yearly(session, ctx, organisation_id, year)
    return render(
        request,
        "coordination/activity_report.html",
        {
            "report": report,
            "year": year,
            "lines": lines,
            "site_lines": exports.site_lines(report),
            "empty": not _has_activity(report.cpts),
            "any_year": any_year,
            "mask_explanation": exports.MASK_EXPLANATION,
            "error": error,
            "message": request.query_params.get("message", ""),
            "this_year": _today(ctx).year,
        },
        status_code=status_code,
    )


def _has_activity(ind: Indicators) -> bool:
    return bool(ind.consultations_done or ind.bookings_due or ind.cancelled)


@router.get("/coordination/rapport-annuel", response_class=HTMLResponse)
async def yearly_report(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted, annee: str = ""
) -> Response:
    year, any_year = await _report_year(session, user.organisation_id, annee, _today(ctx))
    return await _render_yearly(
        request, session, ctx, user.organisation_id, year, any_year=any_year
    )


@router.post("/coordination/rapport-annuel", response_class=HTMLResponse)
async def save_yearly_report(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted
) -> Response:
    form = await request.form()
    year = _year(str(form.get("annee", "")))
    values: dict[str, ReportInputs] = {}
    for code in exports.REPORT_CODES:
        fields = [form.get(f"{field}__{code}") for field in FIELDS]
        if all(f is None for f in fields):
            continue
        initial, target, commentary = (f if isinstance(f, str) else "" for f in fields)
        values[code] = ReportInputs(initial, target, commentary)
    try:
        await inputs.save_inputs(
            session=session,
            organisation_id=user.organisation_id,
            year=year,
            user_id=user.id,
            inputs=values,
            now=ctx.clock(),
        )
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        return await _render_yearly(
            request,
            session,
            ctx,
            user.organisation_id,
            year,
            error=exc.message,
            status_code=exc.status,
        )
    await session.commit()
    return RedirectResponse(
        f"/coordination/rapport-annuel?annee={year}&message=enregistre", status_code=303
    )


@router.get("/coordination/rapport-annuel.pdf")
async def yearly_report_pdf(
    session: SessionDep, ctx: ContextDep, user: Permitted, annee: str = ""
) -> Response:
    today = _today(ctx)
    year, _ = await _report_year(session, user.organisation_id, annee, today)
    report, lines = await _yearly(session, ctx, user.organisation_id, year)
    pdf = exports.yearly_report_pdf(report=report, year=year, lines=lines, generated_on=today)
    await _trace_export(session, user.id, f"rapport-activite-{year}.pdf")
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="rapport-activite-{year}.pdf"'},
    )
