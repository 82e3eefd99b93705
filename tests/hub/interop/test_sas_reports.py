"""A booking made on the hub's page from a Slot's link in the SAS search is reported back to
the SAS platform (a real HTTP server here): a FrAppointmentSAS Appointment posted, retried after
a 503, then its cancellation by conditional update; a forged link books nothing. Moved by the
secretariat, the booking is reported again: the first one's cancellation, then the new one, with
the same regulator and doctor."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

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
from hub.interop.sas_slot_link import regulator_identifier
from hub.notify.models import Channel, MessageStatus, OutboundMessage
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
from tests.hub.interop.support import next_weekday, resources, rows, search, search_url
from tests.hub.interop.test_sas_practitioners import IDNPS, ROUX, doctors

__all__ = ["doctors", "platform"]  # fixtures, imported for these tests


@pytest.fixture
def settings(settings: Settings, platform: SasPlatform) -> Settings:
    """The hub reports to the fake platform."""
    return settings.model_copy(
        update={"sas_platform_url": platform.url, "sas_platform_token": SecretStr(PLATFORM_TOKEN)}
    )


async def test_a_booking_from_the_sas_link_is_reported_retried_and_its_cancellation_too(
    app: FastAPI,
    client: httpx.AsyncClient,
    sas: SasAccess,
    settings: Settings,
    platform: SasPlatform,
    doctors: dict[str, int],
) -> None:
    ctx = hub_context(app)
    booking, follow = await book_from_sas_link(client, sas, settings)
    assert booking.channel is BookingChannel.SAS
    [record] = await rows(settings, SasAppointment)
    assert record.via_slot_link and record.practitioner_idnps == "8" + ROUX

    platform.answers = [503]  # the platform is down for the first attempt
    assert await jobs.report_to_sas(ctx) == 1
    first = await jobs.deliver_outbox(ctx)
    assert (first.sent, first.retried) == (0, 1)
    [message] = await rows(settings, OutboundMessage, OutboundMessage.channel == Channel.PLATFORM)
    assert message.status is MessageStatus.PENDING and "503" in (message.last_error or "")

    # The coordinator sees the report waiting, and why.
    await login(client, "coordination")
    page = text(await client.get("/coordination"))
    assert "Rendez-vous à transmettre à la plateforme SAS" in page
    assert booking.reference in page and "platform answered 503" in page

    # The outbox's backoff: nothing before the retry delay, then it goes through.
    real_clock = ctx.clock
    assert (await jobs.deliver_outbox(ctx)).sent == 0
    ctx.clock = lambda: real_clock() + dt.timedelta(minutes=2)
    try:
        assert (await jobs.deliver_outbox(ctx)).sent == 1
    finally:
        ctx.clock = real_clock
    assert [r["method"] for r in platform.received] == ["POST", "POST"]
    created = platform.received[-1]
    assert created["authorization"] == f"Bearer {PLATFORM_TOKEN}"
    assert created["content_type"] == "application/fhir+json"
    body = created["body"]
    R4BAppointment.model_validate(body)  # a valid Appointment (R4B's structures)
    assert body["meta"]["profile"] == [PROFILE_APPOINTMENT]
    assert body["status"] == "booked"
    assert body["identifier"] == [
        {"system": identifier_system(settings), "value": booking.reference}
    ]
    [operator] = body["extension"]
    assert operator["valueReference"]["identifier"]["value"] == REGULATOR
    assert operator["valueReference"]["identifier"]["type"]["coding"][0]["code"] == "IDNPS"
    [participant] = body["participant"]
    assert participant["actor"]["identifier"]["value"] == "8" + ROUX
    assert await jobs.report_to_sas(ctx) == 0  # reported: nothing new

    # The patient cancels: the platform gets the update by conditional update.
    client.cookies.clear()
    page = await client.get(follow)
    cancelled = await client.post(
        urlsplit(follow).path + "/annuler", data={"csrf_token": csrf_from(page.text)}
    )
    assert cancelled.status_code == 303
    assert await jobs.report_to_sas(ctx) == 1
    assert (await jobs.deliver_outbox(ctx)).sent >= 1
    update = platform.received[-1]
    assert update["method"] == "PUT"
    assert update["query"] == {"identifier": f"{identifier_system(settings)}|{booking.reference}"}
    assert update["body"]["status"] == "cancelled"
    R4BAppointment.model_validate(update["body"])


async def test_a_forged_or_missing_link_token_books_nothing(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings, doctors: dict[str, int]
) -> None:
    friday = next_weekday(4)
    bundle = await search(client, sas.headers, search_url(friday, friday))
    link = next(s["comment"] for s in resources(bundle, "Slot") if "comment" in s)
    path = urlsplit(link).path
    for query in ("", "?jeton=0123456789abcdef0123456789abcdef"):
        response = await client.get(path + query)
        assert response.status_code == 404
        assert "lien de réservation n'est pas valide" in text(response)
    assert await rows(settings, Booking) == []


def test_the_regulator_is_read_as_the_sas_gives_them() -> None:
    assert regulator_identifier(REGULATOR) == ("IDNPS", IDNPS, REGULATOR)
    uuid = "5B7C1E3A-2D4F-4A6B-8C9D-0E1F2A3B4C5D"
    assert (
        regulator_identifier(uuid)[0] == "INTRN" and regulator_identifier(uuid)[2] == uuid.lower()
    )
    assert regulator_identifier("<script>") == ("", "", "")


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
