"""Commands, media signalling and revocations for a cabin, whichever hub worker holds its
WebSocket.

With one process the cabin's `AgentConnection` is in ``ctx.agents``. With several workers
(``ctx.peers``), the worker a nurse or doctor reaches may not be the one the cabin is connected
to: the request goes to the worker named by the cabin's presence key (`hub.cluster.peers`),
which acts on its connection (`handle`) and replies; a reply that does not come in time is
answered "La cabine n'a pas répondu à temps", as a silent cabin is."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Literal

from redis.exceptions import RedisError

from hub.cluster.peers import Message, Unreachable
from hub.context import AgentConnection, HubContext
from hub.errors import Conflict
from hub.wire import Command, CommandAction, IceServer, MediaClose, MediaOffer, SfuPublish, SfuStop

logger = logging.getLogger(__name__)

NOT_CONNECTED = "La cabine n'est pas connectée au hub : vérifiez le chariot et son réseau."
NO_ANSWER = "La cabine n'a pas répondu à temps. Réessayez."
MEDIA_NO_ANSWER = "La cabine n'a pas répondu : vérifiez sa connexion."
MEDIA_GONE = "La cabine s'est déconnectée."
ANSWER_TIMEOUT_SECONDS = 20.0  # for the cabin's answer to a media offer
REMOTE_MARGIN_SECONDS = 5.0  # the worker holding the cabin answers its own timeout first


def _here(ctx: HubContext, cabin_id: int) -> AgentConnection | None:
    conn = ctx.agents.get(cabin_id)
    return conn if conn is not None and not conn.closed.is_set() else None


async def _elsewhere(ctx: HubContext, cabin_id: int) -> str | None:
    """The other worker that holds the cabin's WebSocket (None: none does)."""
    if ctx.peers is None:
        return None
    try:
        holder = await ctx.peers.holder(cabin_id)
    except (RedisError, OSError) as exc:
        logger.warning("cabin %s: where it is connected is unknown (Redis: %s)", cabin_id, exc)
        return None
    if holder is None or holder.worker == ctx.peers.worker_id:
        return None
    return holder.worker


async def _ask(ctx: HubContext, worker: str, body: Message, timeout: float) -> Message | None:
    """The reply of the worker holding the cabin; None if it is gone. TimeoutError if late."""
    assert ctx.peers is not None
    try:
        return await ctx.peers.request(worker, body, timeout=timeout + REMOTE_MARGIN_SECONDS)
    except (Unreachable, RedisError, OSError):
        return None


async def is_connected(ctx: HubContext, cabin_id: int) -> bool:
    """Whether the cabin's agent is connected to this worker or to another."""
    return _here(ctx, cabin_id) is not None or await _elsewhere(ctx, cabin_id) is not None


async def send_command(
    ctx: HubContext, *, cabin_id: int, action: CommandAction, device: str, timeout: float
) -> tuple[bool, str]:
    """Ask a connected cabin to act on one of its devices; returns (ok, message for people)."""
    conn = _here(ctx, cabin_id)
    if conn is not None:
        return await _command_here(conn, action, device, timeout)
    worker = await _elsewhere(ctx, cabin_id)
    if worker is None:
        raise Conflict(NOT_CONNECTED)
    body: Message = {
        "op": "command",
        "cabin_id": cabin_id,
        "action": action.value,
        "device": device,
        "timeout": timeout,
    }
    try:
        reply = await _ask(ctx, worker, body, timeout)
    except TimeoutError:
        raise Conflict(NO_ANSWER) from None
    if reply is None:
        raise Conflict(NOT_CONNECTED)
    if "error" in reply:
        raise Conflict(str(reply["error"]))
    return bool(reply.get("ok")), str(reply.get("message", ""))


async def _command_here(
    conn: AgentConnection, action: CommandAction, device: str, timeout: float
) -> tuple[bool, str]:
    command = Command(command_id=secrets.token_hex(8), action=action, device=device)
    future: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
    conn.pending[command.command_id] = future
    await conn.outgoing.put(command)
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise Conflict(NO_ANSWER) from None
    finally:
        conn.pending.pop(command.command_id, None)


async def relay_offer(
    ctx: HubContext,
    *,
    cabin_id: int,
    session_id: str,
    sdp: str,
    servers: tuple[IceServer, ...],
    purpose: str,
    ice_transport_policy: Literal["all", "relay"] = "all",
) -> tuple[str, str]:
    """The cabin's answer to a WebRTC offer: (answer SDP, "") or ("", why not, in French)."""
    offer = MediaOffer(
        session_id=session_id,
        sdp=sdp,
        ice_servers=servers,
        ice_transport_policy=ice_transport_policy,
        purpose="room" if purpose == "room" else "doctor",
    )
    conn = _here(ctx, cabin_id)
    if conn is not None:
        return await _offer_here(conn, offer)
    worker = await _elsewhere(ctx, cabin_id)
    if worker is None:
        return "", MEDIA_GONE
    try:
        reply = await _ask(
            ctx,
            worker,
            {"op": "offer", "cabin_id": cabin_id, "offer": offer.model_dump(mode="json")},
            ANSWER_TIMEOUT_SECONDS,
        )
    except TimeoutError:
        return "", MEDIA_NO_ANSWER
    if reply is None:
        return "", MEDIA_GONE
    return str(reply.get("sdp", "")), str(reply.get("error", ""))


async def _offer_here(conn: AgentConnection, offer: MediaOffer) -> tuple[str, str]:
    future: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
    conn.media_answers[offer.session_id] = future
    await conn.outgoing.put(offer)
    try:
        return await asyncio.wait_for(future, ANSWER_TIMEOUT_SECONDS)
    except TimeoutError:
        return "", MEDIA_NO_ANSWER
    finally:
        conn.media_answers.pop(offer.session_id, None)


async def close_media(ctx: HubContext, *, cabin_id: int, session_id: str) -> None:
    """The doctor or the room left: tell the cabin's current connection, wherever it is."""
    conn = _here(ctx, cabin_id)
    if conn is not None:
        await conn.outgoing.put(MediaClose(session_id=session_id))
        return
    await _tell(ctx, cabin_id, {"op": "close", "cabin_id": cabin_id, "session_id": session_id})


async def tell_sfu(ctx: HubContext, *, cabin_id: int, message: SfuPublish | SfuStop) -> None:
    """Ask the cabin to publish into a consultation's Janus room, or to stop, wherever it is
    connected (not connected: nothing to tell)."""
    conn = _here(ctx, cabin_id)
    if conn is not None:
        await conn.outgoing.put(message)
        return
    await _tell(
        ctx,
        cabin_id,
        {"op": "sfu", "cabin_id": cabin_id, "message": message.model_dump(mode="json")},
    )


async def disconnect(ctx: HubContext, *, cabin_id: int) -> None:
    """The cabin's token was revoked or replaced: close its live link now (code 4401), on
    whichever worker holds it. From this call on, nothing the agent sends is acknowledged."""
    _revoke_here(ctx, cabin_id)
    await _tell(ctx, cabin_id, {"op": "revoke", "cabin_id": cabin_id})


async def take_over(ctx: HubContext, *, cabin_id: int) -> None:
    """The cabin said hello to this worker: a connection another worker still holds for it
    is closed as replaced (as a newer connection to the same worker replaces the older)."""
    await _tell(ctx, cabin_id, {"op": "replaced", "cabin_id": cabin_id})


async def _tell(ctx: HubContext, cabin_id: int, body: Message) -> None:
    worker = await _elsewhere(ctx, cabin_id)
    if worker is not None and ctx.peers is not None:
        try:
            await ctx.peers.tell(worker, body)
        except (RedisError, OSError) as exc:
            logger.warning("cabin %s: could not reach worker %s: %s", cabin_id, worker, exc)


def _revoke_here(ctx: HubContext, cabin_id: int) -> None:
    conn = ctx.agents.pop(cabin_id, None)
    if conn is not None:
        conn.revoked = True
        conn.closed.set()


async def handle(ctx: HubContext, body: Message) -> Message | None:
    """Act on a request of another worker for a cabin connected here; the reply, if any."""
    op, cabin_id = body.get("op"), int(str(body.get("cabin_id", 0)))
    conn = _here(ctx, cabin_id)
    if op == "command":
        if conn is None:
            return {"error": NOT_CONNECTED}
        try:
            ok, message = await _command_here(
                conn,
                CommandAction(str(body["action"])),
                str(body["device"]),
                float(str(body["timeout"])),
            )
        except Conflict as exc:
            return {"error": exc.message}
        return {"ok": ok, "message": message}
    if op == "offer":
        if conn is None:
            return {"sdp": "", "error": MEDIA_GONE}
        sdp, error = await _offer_here(conn, MediaOffer.model_validate(body["offer"]))
        return {"sdp": sdp, "error": error}
    if op == "close" and conn is not None:
        await conn.outgoing.put(MediaClose(session_id=str(body["session_id"])))
    elif op == "sfu" and conn is not None and isinstance(body.get("message"), dict):
        raw: dict[str, object] = body["message"]  # type: ignore[assignment]
        kind = SfuPublish if raw.get("type") == "sfu_publish" else SfuStop
        await conn.outgoing.put(kind.model_validate(raw))
    elif op == "revoke":
        _revoke_here(ctx, cabin_id)
    elif op == "replaced" and conn is not None:
        ctx.agents.pop(cabin_id, None)
        conn.replaced = True
        conn.closed.set()
    return None
