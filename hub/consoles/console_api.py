"""What the consoles' scripts call: the live events of the user's sites (server-sent events),
a consultation's measurements so far, and the snapshots of the otoscope or the room kept in
the consultation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from hub import deps
from hub.audit.service import record_event, trace_read
from hub.cabins.live import ObservationPublic
from hub.consultation import service
from hub.consultation.models import State
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import Conflict, Invalid, NotFound, Unauthenticated
from hub.identity.policy import Permission
from hub.records.observations import observations_of_booking

if TYPE_CHECKING:
    from hub.consultation.models import Consultation

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])
EVENT_KEEPALIVE_SECONDS = 15.0
# The permissions the bus's events ask for (hub.events): every member of staff of a site,
# and those who may see a consultation's measurements there.
EVENT_PERMISSIONS = (Permission.SIGNED_IN, Permission.CONSULTATION_DATA)


@router.get("/api/v1/consultations/{consultation_id}/mesures")
async def measurements(
    consultation_id: int, user: Permitted, session: SessionDep
) -> list[ObservationPublic]:
    """The measurements taken during a consultation so far (for the live vitals)."""
    consultation: Consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    return [
        ObservationPublic.of_row(o)
        for o in await observations_of_booking(session=session, booking_id=consultation.booking_id)
    ]


@router.get("/api/v1/evenements")
async def events(request: Request, ctx: ContextDep) -> Response:
    """Server-sent events of the user's sites (consultations changing state, emergencies,
    cabins' statuses), and measurements stored where the user may see a consultation's data."""
    reach = await deps.reach_of_session_user(request, EVENT_PERMISSIONS)
    if reach is None:
        raise Unauthenticated("Veuillez vous connecter.")

    async def stream() -> AsyncIterator[str]:
        async with ctx.events.subscribe(reach) as queue:
            yield ": connecté\n\n"
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), EVENT_KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                yield f"event: {event.kind}\ndata: {event.to_json()}\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


MAX_CAPTURE_BYTES = 5 * 1024 * 1024
CAPTURE_SOURCES = ("otoscope", "room")


class CapturePublic(BaseModel):
    id: int
    source: str
    taken_at: str
    url: str


@router.post("/api/v1/consultations/{consultation_id}/captures", status_code=201)
async def save_capture(
    consultation_id: int,
    request: Request,
    user: Permitted,
    session: SessionDep,
    ctx: ContextDep,
    source: str = "otoscope",
) -> CapturePublic:
    """Keep a snapshot (PNG or JPEG body) of the otoscope or the room in the consultation."""
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    if consultation.state is not State.IN_CONSULTATION:
        raise Conflict("Une image ne peut être enregistrée que pendant la téléconsultation.")
    if source not in CAPTURE_SOURCES:
        raise Invalid("Source d'image inconnue.")
    mime = request.headers.get("content-type", "").split(";")[0].strip()
    if mime not in ("image/png", "image/jpeg"):
        raise Invalid("L'image doit être au format PNG ou JPEG.")
    data = await request.body()
    if not data or len(data) > MAX_CAPTURE_BYTES:
        raise Invalid("Image vide ou trop lourde (5 Mo au plus).")
    signature = (
        data[:8] == b"\x89PNG\r\n\x1a\n" if mime == "image/png" else data[:3] == b"\xff\xd8\xff"
    )
    if not signature:
        raise Invalid("Le contenu ne correspond pas à une image PNG ou JPEG.")
    capture = await service.add_capture(
        session=session,
        consultation=consultation,
        source=source,
        mime_type=mime,
        data=data,
        taken_by=user.id,
        taken_at=ctx.clock(),
    )
    record_event(
        session=session,
        action="consultation.capture",
        actor_kind="user",
        actor_id=user.id,
        site_id=consultation.site_id,
        target=f"consultation:{consultation.id}",
        detail=source,
    )
    await session.commit()
    return CapturePublic(
        id=capture.id,
        source=source,
        taken_at=capture.taken_at.isoformat(),
        url=f"/api/v1/captures/{capture.id}",
    )


@router.get("/api/v1/captures/{capture_id}")
async def capture_image(
    capture_id: int, request: Request, user: Permitted, session: SessionDep
) -> Response:
    """A saved snapshot, for the clinicians of its site (each viewing traced)."""
    capture = await service.get_capture(session=session, capture_id=capture_id)
    if capture is None:
        raise NotFound("Image introuvable.")
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=capture.consultation_id
    )
    await trace_read(
        session=session,
        user_id=user.id,
        site_id=consultation.site_id,
        target=f"capture:{capture.id}",
        ip=request.client.host if request.client else "",
    )
    return Response(
        capture.data, media_type=capture.mime_type, headers={"Cache-Control": "private, no-store"}
    )
