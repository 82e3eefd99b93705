"""The online booking page: each room's next free slot, and the free slots of a chosen day."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.scheduling.models import Slot
from tests.conftest import text
from tests.support import factories
from tests.support.factories import CLOS_MORTIER, LA_NOUE, ORG_SLUG, Cpts

PARIS = ZoneInfo("Europe/Paris")
PAGE = f"/rdv/{ORG_SLUG}"


def _today() -> dt.date:
    return dt.datetime.now(PARIS).date()


def _next(weekday: int) -> dt.date:
    """The next such weekday strictly after today (0 = Monday)."""
    today = _today()
    return today + dt.timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _day_slot_ids(html: str) -> list[int]:
    return [
        int(i) for i in re.findall(r'<li><a class="slot-link" href="[^"]*/creneau/(\d+)"', html)
    ]


async def _slots(settings: Settings, ids: list[int]) -> list[Slot]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        rows = list(await session.scalars(select(Slot).where(Slot.id.in_(ids))))
    await engine.dispose()
    return rows


async def test_a_chosen_day_lists_every_free_slot_of_both_rooms_that_day(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    monday = _next(0)
    page = await client.get(PAGE, params={"jour": monday.isoformat()})
    assert page.status_code == 200
    assert f"Créneaux libres le lundi {monday.day} " in text(page)
    ids = _day_slot_ids(page.text)
    slots = await _slots(settings, ids)
    # Both rooms open 8:00–12:00 on Mondays, 20-minute slots: twelve each, all of them shown.
    assert len(ids) == len(slots) == 24
    assert {s.starts_at.astimezone(PARIS).date() for s in slots} == {monday}
    assert {s.site_id for s in slots} == {cpts.site_ids[CLOS_MORTIER], cpts.site_ids[LA_NOUE]}
    assert f'aria-current="date">lun. {monday.day} ' in page.text


async def test_a_booked_slot_is_no_longer_offered_on_its_day(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    monday = _next(0).isoformat()
    first = _day_slot_ids((await client.get(PAGE, params={"jour": monday})).text)[0]
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        patient = await factories.patient(
            session, organisation_id=cpts.organisation_id, today=_today()
        )
        await factories.booking(
            session, slot_id=first, patient_id=patient.id, now=dt.datetime.now(dt.UTC)
        )
    await engine.dispose()
    shown = _day_slot_ids((await client.get(PAGE, params={"jour": monday})).text)
    assert first not in shown and len(shown) == 23


async def test_a_day_without_opening_shows_each_rooms_next_free_slot(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    sunday = _next(6)
    page = await client.get(PAGE, params={"jour": sunday.isoformat()})
    assert _day_slot_ids(page.text) == []
    assert text(page).count("Aucun créneau libre ce jour-là.") == 2
    nexts = re.findall(r'Prochain créneau libre : <a href="[^"]*/creneau/(\d+)"', page.text)
    assert len(nexts) == 2  # one per room, even on a day when neither opens
    slots = await _slots(settings, [int(i) for i in nexts])
    now = dt.datetime.now(dt.UTC)
    assert all(s.starts_at > now for s in slots)
    # A link leads to the day of each room's next free slot.
    for slot in slots:
        day = slot.starts_at.astimezone(PARIS).date().isoformat()
        assert f"{PAGE}?jour={day}" in page.text


async def test_without_a_day_the_page_opens_on_the_earliest_free_slots_day(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    page = await client.get(PAGE)
    earliest = re.findall(r'primary-link" href="[^"]*/creneau/(\d+)"', page.text)
    [slot] = await _slots(settings, [int(earliest[0])])
    day = slot.starts_at.astimezone(PARIS).date()
    assert slot.id in _day_slot_ids(page.text)  # its day is the one shown
    # The day is chosen with links or a plain form: no script needed.
    assert f'<form method="get" action="{PAGE}"' in page.text
    assert f'name="jour" value="{day.isoformat()}" min="{_today().isoformat()}"' in page.text
    if day > _today():
        previous = (day - dt.timedelta(days=1)).isoformat()
        assert f'href="{PAGE}?jour={previous}" rel="prev"' in page.text


async def test_a_day_that_cannot_be_booked_is_refused_in_words(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    today = _today()
    cases = {
        "2001-01-01": "Ce jour est passé : voici aujourd'hui.",
        "lundi": "Cette date n'est pas valide : voici aujourd'hui.",
        (today + dt.timedelta(days=400)).isoformat(): "Les rendez-vous s'ouvrent jusqu'au",
    }
    for asked, said in cases.items():
        page = await client.get(PAGE, params={"jour": asked})
        assert page.status_code == 200
        assert said in text(page)
        assert f'min="{today.isoformat()}"' in page.text
