"""One booking, one transaction: the patient, the booking and its messages are committed
together, or nothing is."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import func, select

from hub import db
from hub.config import Settings
from hub.notify.models import MessageStatus, OutboundMessage
from hub.records.patients import Patient
from hub.scheduling import notices
from hub.scheduling.models import Booking
from tests.conftest import csrf_from, login, text
from tests.support.factories import Cpts


class QueueingFailed(RuntimeError):
    """The message queueing step crashed (injected)."""


async def _count(settings: Settings, model: type) -> int:  # type: ignore[type-arg]
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        count = await session.scalar(select(func.count()).select_from(model))
    await engine.dispose()
    return int(count or 0)


def _fail_queueing(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_: object, **__: object) -> None:
        raise QueueingFailed("the messages could not be written")

    monkeypatch.setattr(notices, "confirmation_rows", crash)


async def _public_form(client: httpx.AsyncClient) -> tuple[int, dict[str, str]]:
    page = await client.get("/rdv/cpts-tests")
    slot_id = int(re.findall(r"/rdv/cpts-tests/creneau/(\d+)", page.text)[0])
    form = await client.get(f"/rdv/cpts-tests/creneau/{slot_id}")
    return slot_id, {
        "birth_name": "Moreau",
        "first_names": "Lucie",
        "birth_date": "1979-09-30",
        "sex": "F",
        "phone": "06 98 76 54 32",
        "email": "lucie@example.org",
        "has_mt": "non",
        "reason": "Douleur à l'oreille",
        "consent": "oui",
        "csrf_token": csrf_from(form.text),
    }


async def test_a_crash_while_queueing_the_confirmation_leaves_no_online_booking(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot_id, data = await _public_form(client)
    _fail_queueing(monkeypatch)
    with pytest.raises(QueueingFailed):
        await client.post(f"/rdv/cpts-tests/creneau/{slot_id}", data=data)
    # Nobody would have been told about it: there is no booking, and no stray patient record.
    assert await _count(settings, Booking) == 0
    assert await _count(settings, Patient) == 0
    assert await _count(settings, OutboundMessage) == 0

    monkeypatch.undo()
    booked = await client.post(f"/rdv/cpts-tests/creneau/{slot_id}", data=data)
    assert booked.status_code == 303
    assert "Votre rendez-vous est enregistré" in text(await client.get(booked.headers["location"]))
    assert await _count(settings, Booking) == 1
    assert await _count(settings, OutboundMessage) > 0  # confirmation and reminders


async def test_a_crash_while_queueing_the_confirmation_leaves_no_phone_booking(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await login(client, "secretariat")
    home = await client.get("/secretariat")
    created = await client.post(
        "/secretariat/patients",
        data={
            "birth_name": "Moreau",
            "first_names": "Lucie",
            "birth_date": "1979-09-30",
            "sex": "F",
            "phone": "06 98 76 54 32",
            "csrf_token": csrf_from(home.text),
        },
    )
    assert created.status_code == 303
    patient_page = await client.get(created.headers["location"])
    slot_id = int(re.findall(r'name="slot_id" value="(\d+)"', patient_page.text)[0])
    _fail_queueing(monkeypatch)
    with pytest.raises(QueueingFailed):
        await client.post(
            f"{created.headers['location']}/rdv",
            data={
                "slot_id": str(slot_id),
                "reason": "Fièvre",
                "csrf_token": csrf_from(patient_page.text),
            },
        )
    assert await _count(settings, Booking) == 0
    assert await _count(settings, OutboundMessage) == 0


async def test_a_crash_while_queueing_the_new_time_leaves_the_appointment_where_it_was(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot_id, data = await _public_form(client)
    booked = await client.post(f"/rdv/cpts-tests/creneau/{slot_id}", data=data)
    follow = await client.get(booked.headers["location"])
    token = booked.headers["location"].split("/rdv/suivi/", 1)[1].split("?", 1)[0]
    other = re.findall(r'<option value="(\d+)"', follow.text)[0]
    _fail_queueing(monkeypatch)
    with pytest.raises(QueueingFailed):
        await client.post(
            f"/rdv/suivi/{token}/deplacer",
            data={"slot_id": other, "csrf_token": csrf_from(follow.text)},
        )
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        [booking] = list(await session.scalars(select(Booking)))
    await engine.dispose()
    # Still one appointment, on its original slot, not cancelled: the patient's messages hold.
    assert (booking.slot_id, booking.status.value) == (slot_id, "booked")


async def test_a_patient_moving_online_is_no_longer_reminded_of_the_old_time(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    in_three_days = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    page = await client.get(f"/rdv/cpts-tests?jour={in_three_days}")
    # A slot of that day (the page starts with the earliest free slot, which may be this
    # morning, too close for any reminder).
    day_part = page.text.split('id="day"', 1)[1]
    day_slots = re.findall(r'class="slot-link" href="/rdv/cpts-tests/creneau/(\d+)', day_part)
    slot_id, other = int(day_slots[0]), day_slots[1]
    _, data = await _public_form(client)
    booked = await client.post(f"/rdv/cpts-tests/creneau/{slot_id}", data=data)
    follow = await client.get(booked.headers["location"])
    token = booked.headers["location"].split("/rdv/suivi/", 1)[1].split("?", 1)[0]
    [old] = await _bookings(settings)
    assert await _pending_reminders(settings, old.id) > 0
    # Moved to another slot of that day (the follow page's list starts with the earliest ones).
    moved = await client.post(
        f"/rdv/suivi/{token}/deplacer",
        data={"slot_id": other, "csrf_token": csrf_from(follow.text)},
    )
    assert moved.status_code == 303
    new = next(b for b in await _bookings(settings) if b.id != old.id)
    assert new.slot_id == int(other)
    # The old time's reminders are withdrawn; the new time's are queued.
    assert await _pending_reminders(settings, old.id) == 0
    assert await _pending_reminders(settings, new.id) > 0


async def _bookings(settings: Settings) -> list[Booking]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        found = list(await session.scalars(select(Booking).order_by(Booking.id)))
    await engine.dispose()
    return found


async def _pending_reminders(settings: Settings, booking_id: int) -> int:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.related_id == booking_id,
                OutboundMessage.purpose == "reminder",
                OutboundMessage.status == MessageStatus.PENDING,
            )
        )
    await engine.dispose()
    return int(count or 0)
