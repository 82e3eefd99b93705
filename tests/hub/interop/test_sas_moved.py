"""A booking the SAS made from a Slot's link, moved to another slot by the secretariat: the SAS
platform (a real HTTP server here) is told of the first booking's cancellation and gets the new
booking as a FrAppointmentSAS Appointment, posted as the first one was, with the same regulator
and doctor."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B.appointment import Appointment as R4BAppointment
from pydantic import SecretStr

from hub import jobs
from hub.config import Settings
from hub.interop.fhir import PROFILE_APPOINTMENT
from hub.interop.models import SasAppointment
from hub.interop.sas_reports import identifier_system
from hub.notify.models import MessageStatus, OutboundMessage
from hub.scheduling.models import Booking, BookingStatus
from hub.scheduling.models import Channel as BookingChannel
from tests.conftest import csrf_from, login, text
from tests.hub.interop.conftest import SasAccess
from tests.hub.interop.sas_platform import (
    PLATFORM_TOKEN,
    REGULATOR,
    SasPlatform,
    book_from_sas_link,
    hub_context,
    platform,
)
from tests.hub.interop.support import rows
from tests.hub.interop.test_sas_practitioners import ROUX, doctors

__all__ = ["doctors", "platform"]  # fixtures, imported for these tests


@pytest.fixture
def settings(settings: Settings, platform: SasPlatform) -> Settings:
    """The hub reports to the fake platform."""
    return settings.model_copy(
        update={"sas_platform_url": platform.url, "sas_platform_token": SecretStr(PLATFORM_TOKEN)}
    )


async def test_a_sas_booking_moved_by_the_secretariat_is_reported_again_to_the_platform(
    app: FastAPI,
    client: httpx.AsyncClient,
    sas: SasAccess,
    settings: Settings,
    platform: SasPlatform,
    doctors: dict[str, int],
) -> None:
    ctx = hub_context(app)
    first, _ = await book_from_sas_link(client, sas, settings)
    assert await jobs.report_to_sas(ctx) == 1
    assert (await jobs.deliver_outbox(ctx)).sent >= 1
    assert [r["method"] for r in platform.received] == ["POST"]

    client.cookies.clear()
    await login(client, "secretariat")
    page = await client.get(f"/secretariat/rdv/{first.id}")
    assert "Déplacer ce rendez-vous" in text(page)
    assert "La plateforme SAS est informée du changement." in text(page)
    other_slot = next(
        slot
        for slot in re.findall(r'name="slot_id" value="(\d+)"', page.text)
        if int(slot) != first.slot_id
    )
    moved = await client.post(
        f"/secretariat/rdv/{first.id}/deplacer",
        data={"csrf_token": csrf_from(page.text), "slot_id": other_slot},
    )
    assert moved.status_code == 303, text(moved)
    summary = await client.get(moved.headers["location"])
    assert "Rendez-vous déplacé" in text(summary)

    bookings = {b.id: b for b in await rows(settings, Booking)}
    new = next(b for b in bookings.values() if b.id != first.id)
    assert bookings[first.id].status is BookingStatus.CANCELLED
    assert (new.status, new.channel, new.slot_id) == (
        BookingStatus.BOOKED,
        BookingChannel.SAS,
        int(other_slot),
    )
    # The patient is reminded of the new booking only.
    reminders = await rows(
        settings,
        OutboundMessage,
        OutboundMessage.related_kind == "booking",
        OutboundMessage.status == MessageStatus.PENDING,
    )
    assert reminders and {m.related_id for m in reminders} == {new.id}
    records = {r.booking_id: r for r in await rows(settings, SasAppointment)}
    assert records[new.id].via_slot_link and records[new.id].practitioner_idnps == "8" + ROUX

    # The platform hears of both: the first cancelled, the new one created as the first was.
    assert await jobs.report_to_sas(ctx) == 2
    assert (await jobs.deliver_outbox(ctx)).sent >= 2
    sent = platform.received[1:]
    by_method = {r["method"]: r for r in sent}
    assert sorted(by_method) == ["POST", "PUT"]
    system = identifier_system(settings)
    cancelled = by_method["PUT"]
    assert cancelled["query"] == {"identifier": f"{system}|{first.reference}"}
    assert cancelled["body"]["status"] == "cancelled"
    created = by_method["POST"]["body"]
    R4BAppointment.model_validate(created)
    assert created["meta"]["profile"] == [PROFILE_APPOINTMENT]
    assert created["status"] == "booked"
    assert created["identifier"] == [{"system": system, "value": new.reference}]
    [operator] = created["extension"]
    assert operator["valueReference"]["identifier"]["value"] == REGULATOR
    [participant] = created["participant"]
    assert participant["actor"]["identifier"]["value"] == "8" + ROUX
    assert await jobs.report_to_sas(ctx) == 0  # reported: nothing new
