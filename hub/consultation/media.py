"""Media of a live consultation: peer to peer between the cabin agent and the doctor's
browser; the hub only relays the signalling (offer → answer) and hands out ICE servers, with
short-lived TURN credentials in coturn's REST shared-secret scheme. It never sees the media.
The offer reaches the cabin through ``hub.cabins.routing``, from whichever worker holds it."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from typing import TYPE_CHECKING

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from hub.audit.service import record_event
from hub.cabins import routing
from hub.config import Settings
from hub.consultation.cabins import cabins_of
from hub.consultation.models import Consultation, State
from hub.context import HubContext, context_of
from hub.deps import session_key
from hub.identity import policy
from hub.identity import service as identity
from hub.identity.policy import Permission
from hub.wire import IceServer

if TYPE_CHECKING:
    from hub.identity.models import User

logger = logging.getLogger(__name__)
router = APIRouter()

CLOSE_REFUSED = 4403
CABIN_OFFLINE = "la cabine de la salle n'est pas connectée"
# Why an offer got no answer, for the browser: "cabin_offline" (no link to the cabin now, or
# it dropped before answering: try again shortly) or "refused" (the cabin answered no).
OFFLINE, REFUSED = "cabin_offline", "refused"


def ice_servers(settings: Settings, *, user_id: int, now: dt.datetime) -> tuple[IceServer, ...]:
    """STUN servers, and TURN servers with credentials valid for ``turn_ttl_seconds``:
    username ``<expiry>:<user>``, credential base64(HMAC-SHA1(secret, username))."""
    servers = []
    stun = [u.strip() for u in settings.stun_urls.split(",") if u.strip()]
    if stun:
        servers.append(IceServer(urls=tuple(stun)))
    turn = [u.strip() for u in settings.turn_urls.split(",") if u.strip()]
    secret = settings.turn_secret.get_secret_value()
    if turn and secret:
        expiry = int(now.timestamp()) + settings.turn_ttl_seconds
        username = f"{expiry}:doctor-{user_id}"
        digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
        servers.append(
            IceServer(
                urls=tuple(turn), username=username, credential=base64.b64encode(digest).decode()
            )
        )
    return tuple(servers)


async def _participant_and_cabin(
    ctx: HubContext, websocket: WebSocket, consultation_id: int, purpose: str
) -> tuple[User, Consultation, frozenset[int]] | str:
    """The doctor of this consultation (or the room's staff, for the room's screen) and the
    consultation's cabins (its room's, or the mobile kit lent to it), one connected, or why not."""
    key = session_key(websocket)
    if key is None:
        return "connexion requise"
    async with ctx.sessions() as session:
        user = await identity.resolve_session(
            session=session,
            key=key,
            now=ctx.clock(),
            idle=dt.timedelta(minutes=ctx.settings.session_idle_minutes),
        )
        permission = Permission.TELECONSULT if purpose == "doctor" else Permission.ROOM
        if user is None or user.role not in policy.roles_for(permission):
            return (
                "réservé au médecin de la consultation"
                if purpose == "doctor"
                else "réservé au personnel de la salle"
            )
        consultation = await session.get(Consultation, consultation_id)
        if consultation is None or not policy.allows(
            user, permission, sites=[consultation.site_id]
        ):
            return "consultation introuvable"
        if consultation.state is not State.IN_CONSULTATION:
            return "la téléconsultation n'a pas commencé"
        if purpose == "doctor" and consultation.doctor_id != user.id:
            return "rejoignez d'abord la consultation"
        cabin_ids = await cabins_of(session=session, consultation=consultation, now=ctx.clock())
        record_event(
            session=session,
            action="consultation.media",
            actor_kind="user",
            actor_id=user.id,
            site_id=consultation.site_id,
            target=f"consultation:{consultation.id}",
        )
        await session.commit()
    if await _connected_cabin(ctx, cabin_ids) is None:
        return CABIN_OFFLINE
    return user, consultation, cabin_ids


async def _connected_cabin(ctx: HubContext, cabin_ids: frozenset[int]) -> int | None:
    """One of these cabins connected now, to any worker (it may have reconnected since)."""
    for cabin_id in sorted(cabin_ids):
        if await routing.is_connected(ctx, cabin_id):
            return cabin_id
    return None


@router.websocket("/ws/consultations/{consultation_id}/media")
async def media_signalling(websocket: WebSocket, consultation_id: int) -> None:
    """The doctor's browser: receives the ICE servers, sends its offer, gets the agent's answer."""
    await _signal(websocket, consultation_id, "doctor")


@router.websocket("/ws/consultations/{consultation_id}/room")
async def room_signalling(websocket: WebSocket, consultation_id: int) -> None:
    """The room's console: the doctor's camera and microphone, sent on by the cabin."""
    await _signal(websocket, consultation_id, "room")


async def _signal(websocket: WebSocket, consultation_id: int, purpose: str) -> None:
    ctx = context_of(websocket)
    await websocket.accept()
    found = await _participant_and_cabin(ctx, websocket, consultation_id, purpose)
    if isinstance(found, str):
        await websocket.send_text(json.dumps({"type": "error", "message": found}))
        await websocket.close(CLOSE_REFUSED, "refusé")
        return
    user, _consultation, cabin_ids = found
    servers = ice_servers(ctx.settings, user_id=user.id, now=ctx.clock())
    policy_name = ctx.settings.ice_transport_policy
    await websocket.send_text(
        json.dumps(
            {
                "type": "ice_servers",
                "ice_servers": [s.model_dump() for s in servers],
                "ice_transport_policy": policy_name,
            }
        )
    )
    session_id = secrets.token_hex(8)
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            if not isinstance(message, dict):
                continue
            if message.get("type") == "offer" and isinstance(message.get("sdp"), str):
                # The cabin's link of now: it may have dropped and come back since the last
                # offer (a network cut), and the browser retries until it answers again.
                cabin_id = await _connected_cabin(ctx, cabin_ids)
                if cabin_id is None:
                    reply = {"type": "error", "message": CABIN_OFFLINE, "code": OFFLINE}
                else:
                    reply = await _relay_offer(
                        ctx,
                        cabin_id=cabin_id,
                        session_id=session_id,
                        sdp=message["sdp"],
                        servers=servers,
                        purpose=purpose,
                    )
                await websocket.send_text(json.dumps(reply))
            elif message.get("type") == "hangup":
                break
    except (WebSocketDisconnect, ValueError):
        pass
    finally:
        # The cabin may have reconnected meanwhile: tell its current connection.
        current = await _connected_cabin(ctx, cabin_ids)
        if current is not None:
            await routing.close_media(ctx, cabin_id=current, session_id=session_id)


async def _relay_offer(
    ctx: HubContext,
    *,
    cabin_id: int,
    session_id: str,
    sdp: str,
    servers: tuple[IceServer, ...],
    purpose: str,
) -> dict[str, str]:
    """The cabin's answer to the browser's offer, or an error saying why there is none and
    whether to try again ("cabin_offline": no link now, or it dropped before answering)."""
    answer, error = await routing.relay_offer(
        ctx,
        cabin_id=cabin_id,
        session_id=session_id,
        sdp=sdp,
        servers=servers,
        purpose=purpose,
        ice_transport_policy=ctx.settings.ice_transport_policy,
    )
    if answer:
        return {"type": "answer", "sdp": answer}
    offline = error in (routing.MEDIA_GONE, routing.MEDIA_NO_ANSWER) or not (
        await routing.is_connected(ctx, cabin_id)
    )
    return {"type": "error", "message": error, "code": OFFLINE if offline else REFUSED}
