"""The CPTS indicators computed from a seeded year with known answers, their exports, the
command line, and the coordinator's pages."""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import datetime as dt
import io
import json
import re
from collections.abc import Mapping

import httpx
import pypdfium2
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub import db
from hub.config import Settings
from hub.consultation.models import State
from hub.errors import Invalid, NotFound
from hub.identity.models import Organisation, Role, Site
from hub.reporting import cli, exports
from hub.reporting import pages as reporting_pages
from hub.reporting.indicators import IndicatorReport, Period, compute_indicators
from hub.reports.models import Orientation
from hub.scheduling.models import BookingStatus, OpeningRule, Slot, SlotState
from tests.conftest import csrf_from, login, text
from tests.hub.reporting.dataset import (
    EXPECTED_CLOS_MORTIER,
    EXPECTED_CPTS,
    EXPECTED_ORIENTATIONS_CPTS,
    Seeder,
    paris,
    seed_year_2025,
)
from tests.support.factories import ACCOUNTS, CLOS_MORTIER, LA_NOUE, Cpts

YEAR_2025 = Period(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
NOW = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)


async def _org(session: AsyncSession) -> int:
    org = await session.scalar(select(Organisation.id))
    assert org is not None
    return int(org)


async def _site(session: AsyncSession, name: str) -> int:
    site = await session.scalar(select(Site.id).where(Site.name == name))
    assert site is not None
    return int(site)


async def _compute(
    session: AsyncSession,
    period: Period = YEAR_2025,
    *,
    now: dt.datetime = NOW,
    site: str | None = None,
) -> IndicatorReport:
    return await compute_indicators(
        session=session,
        organisation_id=await _org(session),
        period=period,
        now=now,
        site_id=await _site(session, site) if site else None,
    )


def _values(ind: object, names: Mapping[str, float]) -> dict[str, object]:
    return {name: getattr(ind, name) for name in names}


async def test_each_indicator_of_the_seeded_year(session: AsyncSession) -> None:
    await seed_year_2025(session)
    report = await _compute(session)
    assert _values(report.cpts, EXPECTED_CPTS) == EXPECTED_CPTS
    assert dict(report.cpts.orientations) == EXPECTED_ORIENTATIONS_CPTS
    clos = next(s for s in report.sites if s.scope == CLOS_MORTIER)
    assert _values(clos, EXPECTED_CLOS_MORTIER) == EXPECTED_CLOS_MORTIER
    assert dict(clos.orientations) == {
        Orientation.MEDECIN_TRAITANT: 3,
        Orientation.PHYSICAL: 1,
        Orientation.RELAY: 4,
        Orientation.EMERGENCY: 1,
    }
    # Rates: 7 of the 10 patients whose situation is known have no MT; 8 and 11 of 13 delays
    # within 24 h and 48 h; 3 no-shows of 18 bookings due; 2 relays delivered of 4 expected.
    assert report.cpts.share_without_mt == pytest.approx(70.0)
    assert report.cpts.share_within_24h == pytest.approx(100 * 8 / 13)
    assert report.cpts.share_within_48h == pytest.approx(100 * 11 / 13)
    assert report.cpts.no_show_rate == pytest.approx(100 * 3 / 18)
    assert report.cpts.delivery_rate == pytest.approx(50.0)
    assert report.cpts.dependent == 3
    assert [s.scope for s in report.sites] == sorted(s.scope for s in report.sites)
    assert sum(s.consultations_done for s in report.sites) == 14


async def test_no_show_trend_is_per_month(session: AsyncSession) -> None:
    """March at Clos Mortier: c3 honoured, two no-shows, three cancellations (left out)."""
    await seed_year_2025(session)
    clos = (await _compute(session, site=CLOS_MORTIER)).cpts
    trend = {m.month: (m.no_shows, m.due) for m in clos.no_show_trend}
    assert list(trend) == [f"2025-{m:02d}" for m in range(1, 13)]
    assert trend["2025-03"] == (2, 3)
    assert trend["2025-04"] == (0, 2)  # c4 and the aborted consultation's booking
    assert trend["2025-11"] == (0, 0)
    rates = {m.month: m.rate for m in clos.no_show_trend}
    assert rates["2025-03"] == pytest.approx(200 / 3)
    assert rates["2025-01"] == 0.0
    assert rates["2025-12"] is None


async def test_no_data_at_all(session: AsyncSession) -> None:
    report = await _compute(session)
    ind = report.cpts
    assert ind.consultations_done == ind.patients_seen == ind.bookings_due == 0
    assert ind.share_without_mt is None
    assert ind.share_within_48h is None
    assert ind.median_delay_hours is None
    assert ind.no_show_rate is None
    assert ind.delivery_rate is None
    assert all(m.rate is None for m in ind.no_show_trend)
    assert dict(ind.orientations) == dict.fromkeys(Orientation, 0)
    assert len(report.sites) == 4
    rows = list(csv.reader(io.StringIO(exports.indicators_csv(report)), delimiter=";"))
    # Nothing to mask: zero points at no one; a rate of nothing has no value.
    assert {r[7] for r in rows[1:]} == {"0", ""}
    assert {r[8] for r in rows[1:]} == {""}  # no remark: nothing masked


async def test_cancelled_is_not_a_no_show_and_not_in_the_denominator(
    session: AsyncSession,
) -> None:
    """One no-show, two cancelled, two honoured (past): 1 / 3, not 1 / 5 or 3 / 5."""
    s = await Seeder.on_demo(session)
    patient = await s.patient(False)
    await s.booking(CLOS_MORTIER, paris(2025, 5, 5), patient, status=BookingStatus.NO_SHOW)
    for day in (6, 7):
        await s.booking(CLOS_MORTIER, paris(2025, 5, day), patient, status=BookingStatus.CANCELLED)
    for day in (12, 13):
        await s.booking(CLOS_MORTIER, paris(2025, 5, day), patient)
    await session.commit()
    ind = (await _compute(session)).cpts
    assert (ind.no_shows, ind.bookings_due, ind.cancelled) == (1, 3, 2)
    assert ind.no_show_rate == pytest.approx(100 / 3)


async def test_bookings_still_to_come_are_not_in_the_no_show_denominator(
    session: AsyncSession,
) -> None:
    s = await Seeder.on_demo(session)
    patient = await s.patient(False)
    await s.booking(CLOS_MORTIER, paris(2025, 6, 10), patient)
    await s.booking(CLOS_MORTIER, paris(2025, 6, 12), patient, status=BookingStatus.NO_SHOW)
    await s.booking(CLOS_MORTIER, paris(2025, 6, 20), patient)  # after "now"
    await session.commit()
    june = Period(dt.date(2025, 6, 1), dt.date(2025, 6, 30))
    ind = (await _compute(session, june, now=paris(2025, 6, 15, 12))).cpts
    assert (ind.no_shows, ind.bookings_due) == (1, 2)
    assert ind.no_show_rate == pytest.approx(50.0)


async def test_a_period_spanning_a_schedule_change(session: AsyncSession) -> None:
    """Clos Mortier opened on Mondays until 31 March 2025 (the rule is now withdrawn with its
    slots), then on Tuesday afternoons; daylight saving time started on 30 March. Every
    consultation counts in the period it falls in, whichever rule made its slot."""
    s = await Seeder.on_demo(session)
    site_id = s.sites[CLOS_MORTIER]
    old = OpeningRule(
        site_id=site_id,
        weekday=0,
        start_time=dt.time(8),
        end_time=dt.time(12),
        slot_minutes=20,
        valid_until=dt.date(2025, 3, 31),
    )
    new = OpeningRule(
        site_id=site_id,
        weekday=1,
        start_time=dt.time(14),
        end_time=dt.time(18),
        slot_minutes=20,
        valid_from=dt.date(2025, 4, 1),
    )
    session.add_all([old, new])
    await session.flush()
    patient = await s.patient(False)
    for when in (paris(2025, 3, 17, 8), paris(2025, 3, 24, 11, 40), paris(2025, 3, 31, 8)):
        await s.visit(CLOS_MORTIER, when, patient, delay_hours=2, rule_id=old.id)
    for when in (paris(2025, 4, 1, 14), paris(2025, 4, 29, 17, 40)):
        await s.visit(CLOS_MORTIER, when, patient, delay_hours=30, rule_id=new.id)
    for slot in await session.scalars(select(Slot).where(Slot.rule_id == old.id)):
        slot.state = SlotState.WITHDRAWN
    await session.commit()

    spanning = (await _compute(session, Period(dt.date(2025, 3, 1), dt.date(2025, 4, 30)))).cpts
    assert spanning.consultations_done == 5
    assert (spanning.within_24h, spanning.within_48h) == (3, 5)
    assert [m.due for m in spanning.no_show_trend] == [3, 2]
    march = (await _compute(session, Period(dt.date(2025, 3, 1), dt.date(2025, 3, 31)))).cpts
    april = (await _compute(session, Period(dt.date(2025, 4, 1), dt.date(2025, 4, 30)))).cpts
    assert (march.consultations_done, april.consultations_done) == (3, 2)


async def test_days_are_counted_in_paris_time(session: AsyncSession) -> None:
    """23:30 in Paris on 31 December is 22:30 UTC (in the year); 00:30 on 1 January is still
    31 December in UTC (not in the year)."""
    s = await Seeder.on_demo(session)
    patient = await s.patient(True)
    await s.visit(CLOS_MORTIER, paris(2025, 12, 31, 23, 30), patient, delay_hours=1)
    await s.visit(CLOS_MORTIER, paris(2026, 1, 1, 0, 30), patient, delay_hours=1)
    await s.visit(CLOS_MORTIER, paris(2025, 1, 1, 0, 30), patient, delay_hours=1)
    await session.commit()
    assert (await _compute(session)).cpts.consultations_done == 2


async def test_consultations_not_done_are_not_counted(session: AsyncSession) -> None:
    s = await Seeder.on_demo(session)
    patient = await s.patient(False)
    states = (State.IN_CONSULTATION, State.REDIRECTED, State.ABORTED, State.REPORTING)
    for day, state in enumerate(states, start=2):
        await s.visit(CLOS_MORTIER, paris(2025, 6, day), patient, delay_hours=1, state=state)
    await session.commit()
    ind = (await _compute(session)).cpts
    assert ind.consultations_done == 1
    assert ind.bookings_due == 4  # every one of them was honoured


async def test_site_filter(session: AsyncSession) -> None:
    await seed_year_2025(session)
    report = await _compute(session, site=LA_NOUE)
    assert report.cpts.scope == LA_NOUE
    assert report.scopes == (report.cpts,)
    assert (report.cpts.consultations_done, report.cpts.no_shows) == (1, 1)
    assert report.cpts.orientation(Orientation.EMERGENCY) == 1
    with pytest.raises(NotFound):
        await compute_indicators(
            session=session, organisation_id=await _org(session), period=YEAR_2025, now=NOW,
            site_id=999_999,
        )  # fmt: skip


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(Invalid, match="La date de fin doit suivre"):
        Period(dt.date(2025, 2, 1), dt.date(2025, 1, 31))
    assert Period(dt.date(2024, 11, 15), dt.date(2025, 2, 1)).months() == (
        "2024-11",
        "2024-12",
        "2025-01",
        "2025-02",
    )


def _csv_rows(content: str) -> dict[tuple[str, str], str]:
    return {key: value for key, (value, _) in _csv_notes(content).items()}


def _csv_notes(content: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(scope, code) → (value, remark) of each line of the CSV."""
    rows = list(csv.reader(io.StringIO(content.removeprefix("\ufeff")), delimiter=";"))
    assert tuple(rows[0]) == exports.CSV_HEADER
    return {(r[2], r[4]): (r[7], r[8]) for r in rows[1:]}


async def test_csv_says_why_a_value_is_masked(session: AsyncSession) -> None:
    await seed_year_2025(session)
    report = await _compute(session)
    notes = _csv_notes(exports.indicators_csv(report))
    value, remark = notes[(LA_NOUE, "share_within_48h")]
    assert (value, remark) == (
        "masqué",
        "Calculé à partir d'un effectif de 1 à 4 : masqué pour qu'aucun patient ne puisse "
        "être reconnu.",
    )
    assert notes[(LA_NOUE, "consultations")] == (
        "< 5",
        "Effectif de 1 à 4 : masqué pour qu'aucun patient ne puisse être reconnu.",
    )
    assert notes[(report.cpts.scope, "consultations")] == ("14", "")


async def test_csv_masks_counts_below_five(session: AsyncSession) -> None:
    await seed_year_2025(session)
    report = await _compute(session)
    values = _csv_rows(exports.indicators_csv(report))
    cpts = report.cpts.scope
    assert values[(cpts, "consultations")] == "14"
    assert values[(cpts, "patients_without_mt")] == "7"
    assert values[(cpts, "share_within_24h")] == "61,5"  # 8 / 13
    assert values[(cpts, "share_within_48h")] == "84,6"  # 11 / 13
    assert values[(cpts, "median_delay_hours")] == "20,0"
    assert values[(cpts, "no_shows")] == "< 5"  # 3
    assert values[(cpts, "no_show_rate")] == "masqué"  # from 3 no-shows: not "< 5 %"
    assert values[(cpts, "psychiatric")] == "< 5"  # 1
    assert values[(cpts, "delivery_rate")] == "masqué"  # 2 of 4
    assert values[(CLOS_MORTIER, "consultations")] == "10"
    assert values[(CLOS_MORTIER, "share_without_mt")] == "75,0"  # 6 / 8
    assert values[(LA_NOUE, "consultations")] == "< 5"
    assert values[(LA_NOUE, "share_within_48h")] == "masqué"  # a 100 % of one patient
    assert values[(cpts, "no_show_rate_2025-03")] == "masqué"
    assert "1" not in {v for (scope, _), v in values.items() if scope == LA_NOUE}


async def test_csv_cells_are_never_spreadsheet_formulas(session: AsyncSession) -> None:
    site = await session.get(Site, await _site(session, LA_NOUE))
    assert site is not None
    site.name = '=HYPERLINK("http://example.invalid")'
    await session.commit()
    values = _csv_rows(exports.indicators_csv(await _compute(session)))
    assert values[('\'=HYPERLINK("http://example.invalid")', "consultations")] == "0"


async def test_command_json_and_csv(
    settings: Settings,
    cpts: Cpts,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as s:
        await seed_year_2025(s)
    await engine.dispose()
    monkeypatch.setenv("HUB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HUB_ENVIRONMENT", "test")
    monkeypatch.setenv("HUB_SECRET_KEY", settings.secret_key.get_secret_value())
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["indicators", "--from", "2025-01-01", "--to", "2025-12-31"])
    args.format = "json"
    # The command runs its own event loop: give it a thread of its own.
    assert await asyncio.to_thread(args.func, args) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["from"], data["to"], data["masked_below"]) == ("2025-01-01", "2025-12-31", 5)
    whole = data["scopes"][0]
    assert whole["site_id"] is None
    assert whole["indicators"]["consultations"]["value"] == 14
    assert whole["indicators"]["share_within_48h"] == {
        "label": "Part des consultations dans les 48 h suivant la demande",
        "unit": "%",
        "value": 84.6,
    }
    assert whole["indicators"]["psychiatric"]["value"] == "< 5"
    assert whole["indicators"]["no_show_rate"]["value"] == "masqué"
    assert "effectif de 1 à 4" in whole["indicators"]["no_show_rate"]["note"]
    assert "Secret statistique" in data["masking"]
    assert len(data["scopes"]) == 5

    clos = str(await _site_id(settings, CLOS_MORTIER))
    args = parser.parse_args(
        ["indicators", "--from", "2025-01-01", "--to", "2025-12-31", "--site", clos,
         "--format", "csv"]
    )  # fmt: skip
    assert await asyncio.to_thread(args.func, args) == 0
    values = _csv_rows(capsys.readouterr().out)
    assert values[(CLOS_MORTIER, "consultations")] == "10"
    assert {scope for scope, _ in values} == {CLOS_MORTIER}

    args = parser.parse_args(["indicators", "--from", "2025-02-01", "--to", "2025-01-01"])
    assert await asyncio.to_thread(args.func, args) == 2
    assert "La date de fin doit suivre" in capsys.readouterr().err


async def _site_id(settings: Settings, name: str) -> int:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as s:
            return await _site(s, name)
    finally:
        await engine.dispose()


# -- the coordinator's pages ---------------------------------------------------------------


def _with_reporting(app: FastAPI) -> FastAPI:
    """The app with the reporting pages (until hub/app.py includes them)."""
    paths = {getattr(r, "path", "") for r in app.routes}
    if "/coordination/indicateurs" not in paths:
        app.include_router(reporting_pages.router)
    return app


@pytest.fixture
async def coordinator(
    app: FastAPI, client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> httpx.AsyncClient:
    _with_reporting(app)
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as s:
        await seed_year_2025(s)
    await engine.dispose()
    await login(client, "coordination")
    return client


REPORTING_GETS = (
    "/coordination/indicateurs",
    "/coordination/indicateurs.csv",
    "/coordination/rapport-annuel",
    "/coordination/rapport-annuel.pdf",
)


async def test_dashboard_shows_exact_figures_and_charts(coordinator: httpx.AsyncClient) -> None:
    page = await coordinator.get("/coordination/indicateurs?du=2025-01-01&au=2025-12-31")
    assert page.status_code == 200
    body = text(page)
    assert "du 01/01/2025 au 31/12/2025" in body
    assert (
        '<tr id="ind-psychiatric"><th scope="row">Téléconsultations psychiatriques</th><td>1</td>'
        in body
    )
    assert (
        '<tr id="ind-consultations"><th scope="row">Téléconsultations réalisées</th><td>14</td>'
        in body
    )
    assert body.count('<svg class="chart"') == 4
    assert '<title id="chart-orientations-title">Orientations' in body
    assert "Retour vers le médecin traitant : 4" in body  # the chart's description
    assert 'href="/coordination/indicateurs.csv?du=2025-01-01&au=2025-12-31"' in body

    site = await _page_site(coordinator, LA_NOUE)
    la_noue = await coordinator.get(
        f"/coordination/indicateurs?du=2025-01-01&au=2025-12-31&site={site}"
    )
    assert "<td>1</td>" in text(la_noue).split('id="ind-consultations"')[1][:120]
    assert "chart-sites" not in text(la_noue)


async def _page_site(client: httpx.AsyncClient, name: str) -> int:
    page = text(await client.get("/coordination/indicateurs"))
    before = page.split(f">{name}</option>")[0]
    return int(before.rsplit('value="', 1)[1].split('"')[0])


async def test_dashboard_refuses_a_wrong_period_or_another_cpts_site(
    coordinator: httpx.AsyncClient,
) -> None:
    response = await coordinator.get("/coordination/indicateurs?du=2025-13-01&au=2025-12-31")
    assert response.status_code == 422
    assert "n'est pas valide" in text(response)
    response = await coordinator.get("/coordination/indicateurs?du=2025-03-01&au=2025-01-01")
    assert response.status_code == 422
    response = await coordinator.get("/coordination/indicateurs?site=999999")
    assert response.status_code == 404


async def test_a_reversed_period_is_refused_on_the_form_as_typed(
    coordinator: httpx.AsyncClient,
) -> None:
    site = await _page_site(coordinator, LA_NOUE)
    response = await coordinator.get(
        f"/coordination/indicateurs?du=2025-03-01&au=2025-01-01&site={site}"
    )
    assert response.status_code == 422
    body = text(response)
    assert (
        '<p class="error" role="alert" id="period-error">La période est à l\'envers : le « au » '
        "(01/01/2025) est avant le « du » (01/03/2025). Corrigez l'une des deux dates.</p>"
    ) in body
    form = body.split('class="indicator-filter"')[1].split("</form>")[0]
    assert 'name="du" type="date" required value="2025-03-01" aria-invalid="true"' in form
    assert 'name="au" type="date" required value="2025-01-01" aria-invalid="true"' in form
    assert f'<option value="{site}" selected>{LA_NOUE}</option>' in form
    assert "Tous les indicateurs" not in body  # no figures of a period that does not exist


async def test_yearly_report_opens_on_the_last_complete_year_with_activity(
    coordinator: httpx.AsyncClient,
) -> None:
    page = text(await coordinator.get("/coordination/rapport-annuel"))
    assert "<h1>Rapport d'activité 2025</h1>" in page  # the seeded year, however late it is
    assert "Aucune" not in page
    empty = text(await coordinator.get("/coordination/rapport-annuel?annee=2019"))
    assert "Aucune activité enregistrée en 2019" in empty


async def test_yearly_report_says_when_no_year_has_activity(
    app: FastAPI, client: httpx.AsyncClient, cpts: Cpts
) -> None:
    _with_reporting(app)
    await login(client, "coordination")
    page = text(await client.get("/coordination/rapport-annuel"))
    assert "Aucune année complète n'a encore d'activité enregistrée" in page


async def test_yearly_report_pdf_never_cuts_a_column_header_inside_a_word(
    coordinator: httpx.AsyncClient,
) -> None:
    pdf = await coordinator.get("/coordination/rapport-annuel.pdf?annee=2025")
    document = pypdfium2.PdfDocument(pdf.content)
    try:
        lines = [
            line.strip()
            for page in document
            for line in page.get_textpage().get_text_range().splitlines()
        ]
    finally:
        document.close()
    headers = ("Indicateur", "Valeur initiale", "Valeur atteinte", "Commentaire")
    headers += ("Téléconsultations", "Part dans les 48 h", "Taux de non-honorés")
    # Where a header may break: between words, and after a hyphen (« non- / honorés »).
    words = {w for h in headers for w in re.split(r"\s+|(?<=-)", h) if w}
    # A word cut elsewhere leaves a line that is only a piece of it.
    pieces = [
        ln
        for ln in lines
        if ln not in words and any(w != ln and (w.startswith(ln) or w.endswith(ln)) for w in words)
    ]
    assert pieces == []
    assert "Téléconsultations" in lines


async def test_csv_download(coordinator: httpx.AsyncClient) -> None:
    response = await coordinator.get("/coordination/indicateurs.csv?du=2025-01-01&au=2025-12-31")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "indicateurs-cpts-2025-01-01-2025-12-31.csv" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    values = _csv_rows(response.content.decode("utf-8"))
    assert values[(LA_NOUE, "consultations")] == "< 5"
    assert values[(CLOS_MORTIER, "consultations")] == "10"


async def test_yearly_report_inputs_are_saved_and_printed(
    coordinator: httpx.AsyncClient,
) -> None:
    page = await coordinator.get("/coordination/rapport-annuel?annee=2025")
    assert page.status_code == 200
    line = text(page).split('id="line-share_within_48h"')[1].split("</tr>")[0]
    assert "Délai d'accès aux soins" in line and "84,6 %" in line
    psychiatric = text(page).split('id="line-psychiatric"')[1].split("</tr>")[0]
    assert '<td class="reached">< 5</td>' in psychiatric  # masked in the report
    response = await coordinator.post(
        "/coordination/rapport-annuel",
        data={
            "csrf_token": csrf_from(page.text),
            "annee": "2025",
            "initial_value__share_within_48h": "60 %",
            "target__share_within_48h": "80 %",
            "commentary__share_within_48h": "Objectif dépassé grâce aux créneaux du SAS.",
        },
    )
    assert response.status_code == 303
    again = text(await coordinator.get(response.headers["location"]))
    assert "Valeurs initiales, cibles et commentaires enregistrés" in again
    line = again.split('id="line-share_within_48h"')[1].split("</tr>")[0]
    assert 'value="60 %"' in line and 'value="80 %"' in line
    assert "Objectif dépassé grâce aux créneaux du SAS." in line

    pdf = await coordinator.get("/coordination/rapport-annuel.pdf?annee=2025")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    document = pypdfium2.PdfDocument(pdf.content)
    try:
        page_text = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    flat = " ".join(page_text.split())
    assert "Rapport d'activité 2025" in flat
    assert "Objectif dépassé grâce aux créneaux du SAS." in flat
    assert "84,6 %" in flat


async def test_yearly_report_refuses_an_over_long_target(coordinator: httpx.AsyncClient) -> None:
    page = await coordinator.get("/coordination/rapport-annuel?annee=2025")
    response = await coordinator.post(
        "/coordination/rapport-annuel",
        data={"csrf_token": csrf_from(page.text), "annee": "2025", "target__relays": "x" * 101},
    )
    assert response.status_code == 422
    assert "100 caractères au plus" in text(response)
    response = await coordinator.post(
        "/coordination/rapport-annuel", data={"annee": "2025", "target__relays": "80"}
    )
    assert response.status_code == 403
    assert "Rechargez la page" in text(response)


@pytest.mark.parametrize(
    "role", [r for r in Role if r is not Role.COORDINATOR], ids=lambda r: r.value
)
async def test_other_roles_are_refused(
    app: FastAPI, client: httpx.AsyncClient, cpts: Cpts, role: Role
) -> None:
    _with_reporting(app)
    await login(client, next(a.username for a in ACCOUNTS if a.role is role))
    for path in REPORTING_GETS:
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "n'est pas accessible avec votre rôle" in text(response), path
    response = await client.post(
        "/coordination/rapport-annuel",
        data={"csrf_token": csrf_from(response.text), "annee": "2025"},  # a valid token
    )
    assert response.status_code == 403


async def test_anonymous_visitors_are_sent_to_login(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _with_reporting(app)
    for path in REPORTING_GETS:
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/connexion")


def test_figures_mask_rates_from_small_counts() -> None:
    """A rate is masked when its numerator or its denominator is below 5."""
    f = exports.Figure("r", "Taux", exports.Unit.PERCENT, 40.0, (4, 10))
    assert (f.text(mask=True), f.text(mask=False), f.exported()) == ("masqué", "40,0 %", "masqué")
    assert "effectif de 1 à 4" in f.mask_note
    g = dataclasses.replace(f, basis=(5, 10), value=50.0)
    assert (g.text(mask=True), g.exported()) == ("50,0 %", 50.0)
