"""Reading and saving the coordinator's inputs to the yearly activity report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Invalid
from hub.reporting.exports import REPORT_CODES
from hub.reporting.models import ActivityReportInput, ReportInputs

MAX_SHORT = 100
MAX_COMMENTARY = 2000
MIN_YEAR = 2000
MAX_YEAR = 2100


def check_year(year: int) -> int:
    """The year, if it is one a report can be about."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise Invalid(f"L'année {year} n'est pas valide.")
    return year


async def load_inputs(
    *, session: AsyncSession, organisation_id: int, year: int
) -> dict[str, ReportInputs]:
    """The coordinator's inputs for a year, by indicator code."""
    rows = await session.scalars(
        select(ActivityReportInput).where(
            ActivityReportInput.organisation_id == organisation_id,
            ActivityReportInput.year == year,
        )
    )
    return {r.indicator: ReportInputs(r.initial_value, r.target, r.commentary) for r in rows}


async def save_inputs(
    *,
    session: AsyncSession,
    organisation_id: int,
    year: int,
    user_id: int,
    inputs: Mapping[str, ReportInputs],
    now: dt.datetime,
) -> None:
    """Store the inputs of a year's report (one row per indicator, replaced in place)."""
    check_year(year)
    unknown = set(inputs) - REPORT_CODES
    if unknown:
        raise Invalid(f"Indicateur inconnu : {', '.join(sorted(unknown))}.")
    for values in inputs.values():
        if len(values.initial_value) > MAX_SHORT or len(values.target) > MAX_SHORT:
            raise Invalid(
                f"La valeur initiale et la cible tiennent en {MAX_SHORT} caractères au plus."
            )
        if len(values.commentary) > MAX_COMMENTARY:
            raise Invalid(f"Un commentaire tient en {MAX_COMMENTARY} caractères au plus.")
    existing = {
        r.indicator: r
        for r in await session.scalars(
            select(ActivityReportInput).where(
                ActivityReportInput.organisation_id == organisation_id,
                ActivityReportInput.year == year,
            )
        )
    }
    for code, values in inputs.items():
        row = existing.get(code)
        if row is None:
            row = ActivityReportInput(organisation_id=organisation_id, year=year, indicator=code)
            session.add(row)
        row.initial_value = values.initial_value.strip()
        row.target = values.target.strip()
        row.commentary = values.commentary.strip()
        row.updated_by = user_id
        row.updated_at = now
    await session.flush()
