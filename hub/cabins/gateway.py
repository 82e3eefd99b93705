"""The agents' WebSocket endpoint: authenticate the token, hello, heartbeats, presence.

Trust is re-checked against the database for everything an agent asks the hub to store
(measurements, device states): once its cabin's token is revoked or replaced, the next such
message is refused (not acknowledged, not stored) and the link closed with 4401; the
coordinator's revocation also closes the link at once (``routing.disconnect``). Heartbeats and
the answers to the hub's own commands and offers are served from memory. A frame that is not a
valid message closes the link with 4400 and one log line.

Commands and media offers reach the agent through ``hub.cabins.routing``, from this worker or
from another. With several workers the cabin's presence (online, last heard from) is its key in
Redis, refreshed whenever the agent is heard from, instead of the database's columns.
A heartbeat touches memory only (and, with several workers, the Redis key): no database work.
`hub.cabins.liveness` writes the live links' last-seen through and re-checks their tokens in
one pass every half ``agent_offline_after_seconds``, so a link learns of a token revoked behind
its back at its next measurement batch or within that half period (the coordinator's
revocation closes it at once). A hello costs one read of the token, then four statements (the
audit event, the cabin's row, its devices, its last sequence number), both batched with the
other agents connecting at the same moment (`hub.cabins.hellos`): one statement of each kind
and one commit for the whole batch."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from fastapi import WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import record_event
from hub.cabins import hellos, intake, live, presence, routing
from hub.context import AgentConnection, HubContext, context_of
from hub.identity import service as identity
from hub.wire import (
    CLOSE_BAD_MESSAGE,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_REPLACED,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNSUPPORTED_VERSION,
    AgentMessageT,
    CommandResult,
    DeviceStatus,
    Heartbeat,
    HeartbeatAck,
    Hello,
    HelloAck,
    HubMessageT,
    MeasurementBatch,
    MediaAnswer,
    UnsupportedVersion,
    WireError,
    encode,
    parse_agent_message,
    understood_by,
)

logger = logging.getLogger(__name__)

HELLO_TIMEOUT_SECONDS = 10.0


def _bearer(websocket: WebSocket) -> str:
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def agent_socket(websocket: WebSocket) -> None:
    """The agent's link at ``AGENT_WS_PATH``, from its token check to its last frame (served
    by `hub.app` as the application's first route)."""
    ctx = context_of(websocket)
    ip = websocket.client.host if websocket.client else ""
    await websocket.accept()
    batches: hellos.Batches = websocket.app.state.batches
    caller = await batches.callers.submit(_bearer(websocket))
    if caller is None:
        logger.warning("agent refused from %s: unknown or revoked cabin token", ip)
        async with ctx.sessions() as session:
            record_event(
                session=session,
                action="agent.refused",
                actor_kind="cabin",
                outcome="refused",
                ip=ip,
                detail="unknown or revoked token",
            )
            await session.commit()
        await _close(websocket, CLOSE_UNAUTHORIZED, "jeton de cabine inconnu ou révoqué")
        return
    cabin_id, site_id = caller.cabin_id, caller.site_id
    try:
        hello = await _receive(websocket, cabin_id, timeout=HELLO_TIMEOUT_SECONDS)
    except _Closed:
        return
    except TimeoutError:
        await _close(websocket, CLOSE_BAD_MESSAGE, "hello attendu dès la connexion")
        return
    if not isinstance(hello, Hello) or hello.cabin_id != cabin_id:
        logger.warning(
            "agent of cabin %s refused: first message was not a matching hello", cabin_id
        )
        await _close(websocket, CLOSE_UNAUTHORIZED, "hello attendu pour la cabine de ce jeton")
        return
    conn = _register(ctx, cabin_id)
    conn.site_id = site_id
    conn.token_hash = caller.token_hash
    conn.wire_version = hello.v
    try:
        await routing.take_over(ctx, cabin_id=cabin_id)
        await _touch(ctx, conn, ctx.clock())
        done = await batches.hellos.submit(
            hellos.HelloIn(cabin_id, site_id, hello.agent_version, hello.devices, ip, ctx.clock())
        )
        live.publish_status(
            ctx,
            cabin_id=cabin_id,
            site_id=site_id,
            online=True,
            last_seen_at=ctx.clock(),
            devices=[live.device_state(d, online=True) for d in done.devices],
        )
        logger.info("cabin %s connected (agent %s)", cabin_id, hello.agent_version)
        await _send(
            websocket,
            conn,
            HelloAck(
                cabin_id=cabin_id,
                cabin_name=caller.cabin_name,
                site_name=caller.site_name,
                heartbeat_seconds=ctx.settings.agent_heartbeat_seconds,
                server_time=ctx.clock(),
                last_seq=done.last_seq,
            ),
        )
        for hook in ctx.on_cabin_hello:
            try:
                await hook(ctx, cabin_id)
            except Exception:  # a slice's hook never costs the cabin its link
                logger.exception("cabin %s: hello hook failed", cabin_id)
        await _serve(ctx, websocket, conn)
    except WebSocketDisconnect:  # gone while we answered it (a restart closes every link)
        logger.info("cabin %s went away while being answered", cabin_id)
    finally:
        conn.closed.set()
        current = ctx.agents.get(cabin_id)
        if current is conn:
            ctx.agents.pop(cabin_id, None)
        # current None: revoked, or replaced from another worker, taken out at once.
        # A hub shutting down says nothing per cabin: a lone hub forgets every link at once
        # (lifespan), and with several workers the presence keys expire.
        if (current is conn or current is None) and not ctx.stopping:
            await _say_goodbye(ctx, conn, site_id=site_id)


async def _say_goodbye(ctx: HubContext, conn: AgentConnection, *, site_id: int) -> None:
    """Record the cabin offline, even when the link's own task is being cancelled: the writing
    runs as a task of its own, which a cancelled database connection never interrupts halfway,
    and which the hub's shutdown waits for (`HubContext.goodbyes`)."""
    cabin_id = conn.cabin_id

    async def goodbye() -> None:
        if await _release(ctx, cabin_id):
            await live.announce_offline(ctx, cabin_id=cabin_id, site_id=site_id)
            logger.info("cabin %s disconnected", cabin_id)

    task = asyncio.create_task(goodbye())
    ctx.goodbyes.add(task)
    task.add_done_callback(ctx.goodbyes.discard)
    await asyncio.shield(task)


def _register(ctx: HubContext, cabin_id: int) -> AgentConnection:
    old = ctx.agents.get(cabin_id)
    if old is not None:
        old.replaced = True
        old.closed.set()
    conn = AgentConnection(cabin_id=cabin_id)
    ctx.agents[cabin_id] = conn
    return conn


class _Reading:
    """Whether the link's reader waits for the agent's next frame (so it may be interrupted)
    or acts on one (it is let finish: a batch is stored whole or not at all)."""

    receiving = False


async def _serve(ctx: HubContext, websocket: WebSocket, conn: AgentConnection) -> None:
    """Act on the agent's messages and send it what the hub has for it, until the link
    closes, falls silent, or is replaced or revoked. One reader and one writer per link for
    its whole life: a message costs no task of its own."""
    state = _Reading()
    reader = asyncio.create_task(_read(ctx, websocket, conn, state))
    writer = asyncio.create_task(_write(websocket, conn))
    ended = asyncio.create_task(conn.closed.wait())
    try:
        done, _ = await asyncio.wait({reader, writer, ended}, return_when=asyncio.FIRST_COMPLETED)
        if reader not in done:
            if state.receiving:
                reader.cancel()
            await asyncio.wait({reader})
            failed = writer.exception() if writer in done else None
            if failed is not None:  # the socket is gone under the writer
                raise failed
        outcome = "ended" if reader.cancelled() else reader.result()
        if outcome == "silent":
            logger.warning("cabin %s missed its heartbeats; closing", conn.cabin_id)
            await _close(websocket, CLOSE_HEARTBEAT_TIMEOUT, "battements de cœur manquants")
        elif outcome == "ended":
            await _end(websocket, conn)
    finally:
        for task in (reader, writer, ended):
            task.cancel()
        for future in conn.pending.values():
            if not future.done():
                future.set_result((False, "La cabine s'est déconnectée avant de répondre."))
        for answer in conn.media_answers.values():
            if not answer.done():
                answer.set_result(("", "La cabine s'est déconnectée."))


async def _read(
    ctx: HubContext, websocket: WebSocket, conn: AgentConnection, state: _Reading
) -> str:
    """Act on the agent's messages in turn; why it stopped: "gone" (the agent left, or was
    sent away for a bad frame), "silent" (no message within the offline delay) or "ended"
    (the link was replaced, or its token is no longer the cabin's)."""
    timeout = ctx.settings.agent_offline_after_seconds
    while not conn.closed.is_set():
        state.receiving = True
        try:
            message = await _receive(websocket, conn.cabin_id, timeout=timeout)
        except _Closed:
            return "gone"
        except TimeoutError:
            return "silent"
        finally:
            state.receiving = False
        if not await _handle(ctx, websocket, conn, message):
            break
    return "ended"


async def _write(websocket: WebSocket, conn: AgentConnection) -> None:
    """Send the agent what the hub has for it (commands, media offers), as it comes."""
    while True:
        await _send(websocket, conn, await conn.outgoing.get())


async def _end(websocket: WebSocket, conn: AgentConnection) -> None:
    if conn.revoked:
        logger.warning("cabin %s: token revoked or replaced; link closed", conn.cabin_id)
        await _close(websocket, CLOSE_UNAUTHORIZED, "jeton de cabine révoqué ou remplacé")
    else:
        await _close(
            websocket, CLOSE_REPLACED, "une autre connexion de cette cabine a pris le relais"
        )


async def _trusted(session: AsyncSession, conn: AgentConnection) -> bool:
    """Whether the token the agent connected with is still its cabin's token."""
    if conn.revoked:
        return False
    current = await identity.cabin_token_hash(session=session, cabin_id=conn.cabin_id)
    if current is None or current != conn.token_hash:
        conn.revoked = True
        conn.closed.set()
        return False
    return True


async def _handle(
    ctx: HubContext, websocket: WebSocket, conn: AgentConnection, message: AgentMessageT
) -> bool:
    """Act on one message of a still-trusted agent; False (nothing done) once it is not."""
    now = ctx.clock()
    if isinstance(message, Heartbeat):
        return await _heartbeat(ctx, websocket, conn, message, now)
    if isinstance(message, (CommandResult, MediaAnswer)):
        return _answered(conn, message)
    # Writers queue here in turn (SQLite has one writer: waiting on its lock is neither fair
    # nor bounded during a reconnection storm); answers to the hub's requests do not wait.
    writes = isinstance(message, (MeasurementBatch, DeviceStatus))
    async with (
        ctx.presence_writes if writes else contextlib.nullcontext(),
        ctx.sessions() as session,
    ):
        if not await _trusted(session, conn):
            return False
        if isinstance(message, MeasurementBatch):
            ack = await intake.store_batch(ctx, session, conn, message, now)
            await _touch(ctx, conn, now)
            await _send(websocket, conn, ack)
            _seen(ctx, conn, now)
        elif isinstance(message, DeviceStatus):
            device = await presence.set_device_state(
                session=session,
                cabin_id=conn.cabin_id,
                name=message.device,
                state=message.state,
                battery_low=message.battery_low,
                detail=message.detail,
                now=now,
            )
            await session.commit()
            await _touch(ctx, conn, now)
            _seen(ctx, conn, now, [live.device_state(device, online=True)])
        else:
            logger.warning("cabin %s sent an unexpected %s", conn.cabin_id, message.type)
    return True


def _answered(conn: AgentConnection, message: CommandResult | MediaAnswer) -> bool:
    """Hand the agent's answer to the request waiting for it, from memory: it answers what
    this link was asked, stores nothing, and a revoked link is closed before it is asked
    anything more (`routing.disconnect`; `hub.cabins.liveness` for a token replaced behind
    its back). False (nothing done) once the link is not trusted."""
    if conn.revoked:
        return False
    if isinstance(message, MediaAnswer):
        answer = conn.media_answers.pop(message.session_id, None)
        if answer is not None and not answer.done():
            answer.set_result((message.sdp, message.error))
    else:
        future = conn.pending.pop(message.command_id, None)
        if future is not None and not future.done():
            future.set_result((message.ok, message.message))
    return True


async def _heartbeat(
    ctx: HubContext, websocket: WebSocket, conn: AgentConnection, beat: Heartbeat, now: dt.datetime
) -> bool:
    """Answer a heartbeat from memory: no database work (`hub.cabins.liveness` writes
    last-seen through and re-checks the tokens of every live link in one pass)."""
    if conn.revoked:
        return False
    await _touch(ctx, conn, now)
    every = dt.timedelta(seconds=ctx.settings.agent_offline_after_seconds / 2)
    if conn.told_at is None or now - conn.told_at >= every:  # the consoles, at that pace
        conn.told_at = now
        _seen(ctx, conn, now)
    await _send(websocket, conn, HeartbeatAck(seq=beat.seq))
    return True


def _seen(
    ctx: HubContext,
    conn: AgentConnection,
    now: dt.datetime,
    devices: list[live.DeviceStatePublic] | None = None,
) -> None:
    """The agent was heard from: tell the consoles (and a device's new state, if any)."""
    live.publish_status(
        ctx,
        cabin_id=conn.cabin_id,
        site_id=conn.site_id,
        online=True,
        last_seen_at=now,
        devices=devices,
    )


async def _touch(ctx: HubContext, conn: AgentConnection, now: dt.datetime) -> None:
    """The agent was heard from: remember when (`hub.cabins.liveness` writes it through), and
    with several workers refresh its presence key."""
    conn.heard_at = now
    if ctx.peers is not None:
        ttl = ctx.settings.agent_offline_after_seconds
        try:
            await ctx.peers.hold(conn.cabin_id, seen=now, ttl_seconds=ttl)
        except (RedisError, OSError) as exc:
            logger.warning(
                "cabin %s: its presence could not be kept (Redis: %s)", conn.cabin_id, exc
            )


async def _release(ctx: HubContext, cabin_id: int) -> bool:
    """The link closed: False if the cabin is connected to another worker by now."""
    if ctx.peers is None:
        return True
    try:
        return await ctx.peers.release(cabin_id)
    except (RedisError, OSError) as exc:
        logger.warning("cabin %s: its presence could not be cleared (Redis: %s)", cabin_id, exc)
        return True


async def _send(websocket: WebSocket, conn: AgentConnection, message: HubMessageT) -> None:
    """Send a message in the wire version the agent spoke in its hello (one its version does
    not have is left out, said in the log: such an agent must be upgraded)."""
    if not understood_by(message, conn.wire_version):
        logger.warning(
            "cabin %s: its agent (wire v%s) does not know %s; upgrade it",
            conn.cabin_id,
            conn.wire_version,
            message.type,
        )
        return
    await websocket.send_text(encode(message, conn.wire_version))


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with a reason that fits the 123-byte limit of a close frame."""
    encoded = reason.encode()[:120]
    await websocket.close(code, encoded.decode(errors="ignore"))


class _Closed(Exception):
    """The agent went away, or was sent away for a bad frame."""


async def _receive(websocket: WebSocket, cabin_id: int, *, timeout: float) -> AgentMessageT:
    """The next message of the agent; a frame that is not one closes the link (4400)."""
    async with asyncio.timeout(timeout):
        frame = await websocket.receive()
    if frame["type"] == "websocket.disconnect":
        raise _Closed
    text = frame.get("text")
    try:
        if not isinstance(text, str):
            raise WireError("binary frame; messages are JSON text frames")
        return parse_agent_message(text)
    except UnsupportedVersion as exc:
        logger.warning("cabin %s: bad frame: %s", cabin_id, exc)
        await _close(websocket, CLOSE_UNSUPPORTED_VERSION, str(exc))
        raise _Closed from None
    except WireError as exc:
        logger.warning("cabin %s: bad frame: %s", cabin_id, str(exc)[:200])
        await _close(websocket, CLOSE_BAD_MESSAGE, f"message invalide: {exc}")
        raise _Closed from None
