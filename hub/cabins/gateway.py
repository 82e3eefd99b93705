"""The agents' WebSocket endpoint: authenticate the token, hello, heartbeats, presence."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from hub.cabins import presence
from hub.context import AgentConnection, HubContext, context_of
from hub.identity import service as identity
from hub.records.audit import record_event
from hub.wire import (
    AGENT_WS_PATH,
    CLOSE_BAD_MESSAGE,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_REPLACED,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNSUPPORTED_VERSION,
    Heartbeat,
    HeartbeatAck,
    Hello,
    HelloAck,
    UnsupportedVersion,
    WireError,
    parse_agent_message,
)

logger = logging.getLogger(__name__)
router = APIRouter()

HELLO_TIMEOUT_SECONDS = 10.0


def _bearer(websocket: WebSocket) -> str:
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@router.websocket(AGENT_WS_PATH)
async def agent_socket(websocket: WebSocket) -> None:
    ctx = context_of(websocket)
    ip = websocket.client.host if websocket.client else ""
    await websocket.accept()
    async with ctx.sessions() as session:
        cabin = await identity.cabin_for_token(session=session, token=_bearer(websocket))
        if cabin is None:
            logger.warning("agent refused from %s: unknown or revoked cabin token", ip)
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
        cabin_id, cabin_name, site_name = cabin.id, cabin.name, cabin.site.name
    try:
        hello = await _receive(websocket, timeout=HELLO_TIMEOUT_SECONDS)
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
    try:
        async with ctx.sessions() as session:
            cabin = await identity.get_cabin(session=session, cabin_id=cabin_id)
            await presence.mark_hello(
                session=session,
                cabin=cabin,
                agent_version=hello.agent_version,
                devices=hello.devices,
                now=ctx.clock(),
            )
            record_event(
                session=session,
                action="agent.connected",
                actor_kind="cabin",
                actor_id=cabin_id,
                site_id=cabin.site_id,
                ip=ip,
                detail=f"agent {hello.agent_version}",
            )
            await session.commit()
        logger.info("cabin %s connected (agent %s)", cabin_id, hello.agent_version)
        await websocket.send_text(
            HelloAck(
                cabin_id=cabin_id,
                cabin_name=cabin_name,
                site_name=site_name,
                heartbeat_seconds=ctx.settings.agent_heartbeat_seconds,
                server_time=ctx.clock(),
            ).model_dump_json()
        )
        await _serve(ctx, websocket, conn)
    finally:
        conn.closed.set()
        if ctx.agents.get(cabin_id) is conn:
            del ctx.agents[cabin_id]
            async with ctx.sessions() as session:
                await presence.mark_disconnected(session=session, cabin_id=cabin_id)
            logger.info("cabin %s disconnected", cabin_id)


def _register(ctx: HubContext, cabin_id: int) -> AgentConnection:
    old = ctx.agents.get(cabin_id)
    if old is not None:
        old.replaced = True
        old.closed.set()
    conn = AgentConnection(cabin_id=cabin_id)
    ctx.agents[cabin_id] = conn
    return conn


async def _serve(ctx: HubContext, websocket: WebSocket, conn: AgentConnection) -> None:
    timeout = ctx.settings.agent_offline_after_seconds
    replaced = asyncio.create_task(conn.closed.wait())
    try:
        while True:
            receive = asyncio.create_task(_receive(websocket, timeout=timeout))
            done, _ = await asyncio.wait({receive, replaced}, return_when=asyncio.FIRST_COMPLETED)
            if replaced in done:
                receive.cancel()
                await _close(
                    websocket,
                    CLOSE_REPLACED,
                    "une autre connexion de cette cabine a pris le relais",
                )
                return
            try:
                message = receive.result()
            except _Closed:
                return
            except TimeoutError:
                logger.warning("cabin %s missed its heartbeats; closing", conn.cabin_id)
                await _close(websocket, CLOSE_HEARTBEAT_TIMEOUT, "battements de cœur manquants")
                return
            if isinstance(message, Heartbeat):
                async with ctx.sessions() as session:
                    await presence.mark_seen(
                        session=session, cabin_id=conn.cabin_id, now=ctx.clock()
                    )
                await websocket.send_text(HeartbeatAck(seq=message.seq).model_dump_json())
    finally:
        replaced.cancel()


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with a reason that fits the 123-byte limit of a close frame."""
    encoded = reason.encode()[:120]
    await websocket.close(code, encoded.decode(errors="ignore"))


class _Closed(Exception):
    """The agent went away, or was sent away for a bad frame."""


async def _receive(websocket: WebSocket, *, timeout: float) -> Hello | Heartbeat:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), timeout)
    except WebSocketDisconnect:
        raise _Closed from None
    except TimeoutError:
        raise
    try:
        return parse_agent_message(text)
    except UnsupportedVersion as exc:
        await _close(websocket, CLOSE_UNSUPPORTED_VERSION, str(exc))
        raise _Closed from None
    except WireError as exc:
        logger.warning("bad frame from an agent: %s", exc)
        await _close(websocket, CLOSE_BAD_MESSAGE, f"message invalide: {exc}")
        raise _Closed from None
