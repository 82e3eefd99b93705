"""Booking from the slot's link in the SAS search: the regulator (or the patient they guide)
opens the hub's own booking page from the link a free Slot carries, and books there.

The link the SAS receives is ``/rdv/{slug}/sas/creneau/{slot_id}?jeton=…``: the token, signed
with the hub's secret for that slot, marks a booking made from it as a SAS booking (channel
``sas``), recorded with ``via_slot_link`` so that ``sas_reports`` reports the Appointment to the
SAS platform. The platform appends the regulator's identifier it gave in the regulator accounts
flow (INT_R02) as ``regulateur``: a national identifier (IDNPS) or the SAS's technical UUID
(INTRN). The doctor reported is the first doctor with an RPPS serving the room.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.deps import ContextDep, SessionDep
from hub.errors import NotFound
from hub.identity import service as identity
from hub.interop.fhir_actors import SYSTEM_IDNPS, SYSTEM_SAS_INTERNAL, idnps
from hub.interop.models import SasAppointment
from hub.scheduling import public_pages
from hub.scheduling.forms import BookingForm
from hub.scheduling.models import Channel
from hub.scheduling.slots import slot_with_site

if TYPE_CHECKING:
    from hub.identity.models import User
    from hub.scheduling.models import Booking

router = APIRouter(prefix="/rdv", dependencies=[Depends(deps.csrf_protect)])

LABEL = "Régulation SAS (lien du créneau)"
BAD_LINK = (
    "Ce lien de réservation n'est pas valide : reprenez le créneau depuis la recherche du SAS."
)
_IDNPS = re.compile(r"^[0-9][0-9A-Za-z/]{1,60}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def slot_link_token(secret: str, slot_id: int) -> str:
    """The token that marks a booking page as reached from the SAS search, for this slot."""
    mac = hmac.new(secret.encode(), f"sas-slot-link:{slot_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def slot_link(base_url: str, secret: str, slug: str, slot_id: int) -> str:
    """The booking link a free Slot carries in the SAS search."""
    query = urlencode({"jeton": slot_link_token(secret, slot_id)})
    return f"{base_url}/rdv/{slug}/sas/creneau/{slot_id}?{query}"


def regulator_identifier(value: str) -> tuple[str, str, str]:
    """The regulator's identifier the platform appended: (type, system, value), IDNPS for a
    national identifier, INTRN for the SAS's technical UUID; empty when none or unreadable."""
    value = value.strip()
    if _UUID.match(value):
        return "INTRN", SYSTEM_SAS_INTERNAL, value.lower()
    if _IDNPS.match(value):
        return "IDNPS", SYSTEM_IDNPS, value
    return "", "", ""


def _checked(ctx: ContextDep, slot_id: int, token: str) -> None:
    if not hmac.compare_digest(token.encode(), slot_link_token(ctx.secret, slot_id).encode()):
        raise NotFound(BAD_LINK)


def _action(slug: str, slot_id: int, token: str, regulator: str) -> str:
    query = {"jeton": token} | ({"regulateur": regulator} if regulator else {})
    return f"/rdv/{slug}/sas/creneau/{slot_id}?{urlencode(query)}"


Token = Annotated[str, Query(alias="jeton", max_length=64)]
Regulator = Annotated[str, Query(alias="regulateur", max_length=100)]


@router.get("/{slug}/sas/creneau/{slot_id}", response_class=HTMLResponse)
async def sas_booking_form(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    slug: str,
    slot_id: int,
    token: Token = "",
    regulator: Regulator = "",
) -> Response:
    """The public booking form, reached from the SAS search."""
    _checked(ctx, slot_id, token)
    return await public_pages.booking_form_page(
        request, session, ctx, slug, slot_id, action=_action(slug, slot_id, token, regulator)
    )


async def _recorder(
    session: AsyncSession, slot_id: int, regulator: str
) -> Callable[[Booking], None]:
    """What to add beside the booking, in its commit: the SAS record, marked to report."""
    kind, system, value = regulator_identifier(regulator)
    slot = await slot_with_site(session=session, slot_id=slot_id)
    doctors: list[User] = []
    if slot is not None:
        serving = await identity.doctors_serving(session=session, site_ids=[slot.site_id])
        doctors = sorted(serving.get(slot.site_id, []), key=lambda d: d.id)
    practitioner = idnps(doctors[0].rpps) if doctors else ""

    def record(booking: Booking) -> None:
        session.add(
            SasAppointment(
                booking_id=booking.id,
                operator_type=kind,
                operator_system=system,
                operator_value=value,
                caller_system="",
                caller_value="",
                practitioner_idnps=practitioner,
                via_slot_link=True,
                reported_status="",
            )
        )

    return record


@router.post("/{slug}/sas/creneau/{slot_id}", response_class=HTMLResponse)
async def sas_book(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    slug: str,
    slot_id: int,
    form: Annotated[BookingForm, Form()],
    token: Token = "",
    regulator: Regulator = "",
) -> Response:
    """Book from the SAS's slot link: a SAS booking, to report to the SAS platform."""
    _checked(ctx, slot_id, token)
    return await public_pages.submit_booking(
        request,
        session,
        ctx,
        slug,
        slot_id,
        form,
        channel=Channel.SAS,
        booked_by_label=LABEL,
        action=_action(slug, slot_id, token, regulator),
        before_commit=await _recorder(session, slot_id, regulator),
    )
