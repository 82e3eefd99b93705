"""Reporting to the SAS platform the Appointments booked from its slot links (the guide's
"création / mise à jour de rendez-vous" flows, in the software-to-platform direction).

A booking made on the hub's page reached from a Slot's link in the SAS search
(``sas_slot_link``) is reported as a FrAppointmentSAS Appointment: ``POST [base]/Appointment``
once, then ``PUT [base]/Appointment?identifier=<system>|<reference>`` (conditional update) when
its status changes (cancelled, no-show). ``queue_reports`` compares each such booking with the
status last queued and writes the report to the outbox, whose job delivers it over HTTP to
``HUB_SAS_PLATFORM_URL`` with ``HUB_SAS_PLATFORM_TOKEN`` and retries with its backoff. Nothing
is queued while that setting is empty; the reports not sent yet (or given up) are listed for the
coordinator. A booking the secretariat moves to another slot (``carry_over``) keeps its SAS
record: the first booking's cancellation is reported, and the new booking is reported as the
first was (``POST``, then its updates).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import record_event
from hub.config import Settings
from hub.context import HubContext
from hub.interop.fhir_appointment import appointment_resource
from hub.interop.models import SasAppointment
from hub.notify import outbox
from hub.notify import queries as notify_queries
from hub.notify.models import Channel, MessageStatus
from hub.scheduling.queries import booking_ids_of, bookings_by_id, references_of

if TYPE_CHECKING:
    from hub.notify.models import OutboundMessage

PURPOSE = "sas_appointment_report"
RELATED_KIND = "sas_booking"  # not "booking": cancelling a booking's messages keeps these
# A booking reported in one of these states changes no more.
_FINAL = frozenset({"cancelled", "no_show"})


def identifier_system(settings: Settings) -> str:
    """The hub's assigning authority for its appointments' identifiers (their reference)."""
    return f"{settings.base_url}/fhir/identifiants/rendez-vous"


def _fhir_base(settings: Settings) -> str:
    return f"{settings.base_url}/fhir"


async def queue_reports(*, session: AsyncSession, ctx: HubContext) -> int:
    """Queue a report for every booking from a SAS slot link whose status the platform has
    not been sent yet; return how many were queued or brought up to date. Commits."""
    settings = ctx.settings
    if not settings.sas_platform_url:
        return 0
    reportable = list(
        await session.scalars(
            select(SasAppointment).where(
                SasAppointment.via_slot_link.is_(True),
                SasAppointment.reported_status.not_in(list(_FINAL)),
            )
        )
    )
    bookings = await bookings_by_id(
        session=session, booking_ids=[sas.booking_id for sas in reportable]
    )
    system, queued, now = identifier_system(settings), 0, ctx.clock()
    for sas in sorted(reportable, key=lambda sas: sas.booking_id):
        booking = bookings.get(sas.booking_id)
        if booking is None:
            continue
        if sas.reported_status == booking.status.value:
            continue
        resource = appointment_resource(
            booking, base=_fhir_base(settings), identifier_system=system, sas=sas
        )
        pending = await notify_queries.latest_about(
            session=session,
            related_kind=RELATED_KIND,
            related_id=booking.id,
            status=MessageStatus.PENDING,
        )
        if pending is not None:  # not sent yet: it carries the latest state instead
            pending.body_text = json.dumps(resource, ensure_ascii=False)
        else:
            created = (
                await notify_queries.latest_about(
                    session=session,
                    related_kind=RELATED_KIND,
                    related_id=booking.id,
                    status=MessageStatus.SENT,
                    subject="POST",
                )
                is not None
            )
            query = urlencode({"identifier": f"{system}|{booking.reference}"})
            await outbox.enqueue_platform_report(
                session=session,
                method="PUT" if created else "POST",
                path=f"Appointment?{query}" if created else "Appointment",
                resource=resource,
                purpose=PURPOSE,
                related_kind=RELATED_KIND,
                related_id=booking.id,
                now=now,
            )
        record_event(
            session=session,
            action="sas.appointment_reported",
            actor_kind="system",
            actor_id=None,
            site_id=booking.site_id,
            target=booking.reference,
            detail=f"statut {resource['status']} à transmettre à la plateforme SAS",
        )
        sas.reported_status = booking.status.value
        queued += 1
    await session.commit()
    return queued


async def carry_over(
    *, session: AsyncSession, from_booking_id: int, to_booking_id: int, site_id: int
) -> bool:
    """The SAS record of a moved booking copied onto the booking that replaces it (regulator,
    caller, doctor, and whether it came from a slot link, so it is reported back alike), not
    reported yet; False when the first booking was not the SAS's. The platform's own
    identifier of the appointment moves to the new booking, so that its conditional updates
    reach the booking in force. The caller commits."""
    first = await session.get(SasAppointment, from_booking_id)
    if first is None:
        return False
    caller = (first.caller_system, first.caller_value)
    first.caller_system = first.caller_value = ""
    session.add(
        SasAppointment(
            booking_id=to_booking_id,
            operator_type=first.operator_type,
            operator_system=first.operator_system,
            operator_value=first.operator_value,
            caller_system=caller[0],
            caller_value=caller[1],
            practitioner_idnps=first.practitioner_idnps,
            via_slot_link=first.via_slot_link,
            reported_status="",
        )
    )
    record_event(
        session=session,
        action="sas.appointment_moved",
        actor_kind="system",
        actor_id=None,
        site_id=site_id,
        target=f"booking:{to_booking_id}",
        detail=f"rendez-vous SAS déplacé (booking:{from_booking_id})",
    )
    await session.flush()
    return True


@dataclass(frozen=True, slots=True)
class PendingReport:
    """A report to the SAS platform not sent yet, or given up, for the coordinator."""

    message: OutboundMessage
    reference: str


async def reports_needing_attention(
    *, session: AsyncSession, organisation_id: int, limit: int = 20
) -> list[PendingReport]:
    """This CPTS's reports to the SAS platform still waiting or failed, oldest first."""
    messages = await notify_queries.waiting_or_failed(
        session=session,
        channel=Channel.PLATFORM,
        related_kind=RELATED_KIND,
        related_ids=booking_ids_of(organisation_id),
        limit=limit,
    )
    references = await references_of(
        session=session, booking_ids={m.related_id for m in messages if m.related_id is not None}
    )
    return [
        PendingReport(message, references[message.related_id])
        for message in messages
        if message.related_id in references
    ]
