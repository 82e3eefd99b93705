"""Helpers of the SAS interface tests: database reads, windows in Paris time, FHIR requests."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from hub import db
from hub.config import Settings

PARIS = ZoneInfo("Europe/Paris")


async def rows(settings: Settings, model: type, *where: object) -> list[Any]:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            return list(await session.scalars(select(model).where(*where)))  # type: ignore[arg-type]
    finally:
        await engine.dispose()


def next_weekday(weekday: int, *, after: dt.date | None = None) -> dt.date:
    """The first such weekday (0 = Monday) strictly after tomorrow, so it is wholly ahead."""
    day = (after or dt.datetime.now(PARIS).date()) + dt.timedelta(days=2)
    while day.weekday() != weekday:
        day += dt.timedelta(days=1)
    return day


INCLUDES = (
    "_include=Slot:schedule&_include:iterate=Schedule:actor"
    "&_include=Slot:service-type-reference&_include:iterate=HealthcareService:organization"
)


def search_url(first: dt.date, last: dt.date, *, includes: str = INCLUDES) -> str:
    return f"/fhir/Slot?{includes}&start=ge{first}&start=le{last}&status=free"


async def search(client: httpx.AsyncClient, headers: dict[str, str], url: str) -> dict[str, Any]:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    return body


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == kind]
