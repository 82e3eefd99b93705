"""The agent's link to the hub: one authenticated WebSocket, hello, heartbeats, reconnection."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from hub.wire import (
    CLOSE_UNAUTHORIZED,
    DeviceDescription,
    ErrorMessage,
    Heartbeat,
    HeartbeatAck,
    Hello,
    HelloAck,
    WireError,
    parse_hub_message,
)

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Coroutine[Any, Any, None]]
HELLO_ACK_TIMEOUT_SECONDS = 10.0
MISSED_ACKS_BEFORE_RECONNECT = 3


class AuthRefused(Exception):
    """The hub refused the cabin token (unknown or revoked): retrying will not help."""


class LinkState(StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass
class Backoff:
    """Capped exponential backoff with full jitter: delay ~ U(0, min(max, initial * 2^n))."""

    initial: float = 1.0
    maximum: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        cap = min(self.maximum, self.initial * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return self.rng.uniform(cap / 2, cap)

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class _Acks:
    last: int = -1


class HubLink:
    """Keeps one WebSocket to the hub open for as long as ``run`` runs."""

    def __init__(
        self,
        *,
        ws_url: str,
        cabin_id: int,
        token: str,
        agent_version: str,
        devices: tuple[DeviceDescription, ...] = (),
        heartbeat_seconds: float = 10.0,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._ws_url = ws_url
        self._cabin_id = cabin_id
        self._token = token
        self._agent_version = agent_version
        self._devices = devices
        self._heartbeat_seconds = heartbeat_seconds
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self.state = LinkState.OFFLINE
        self.connections = 0
        self.online = asyncio.Event()
        self._failing = False

    async def run(self) -> None:
        """Connect, stay connected, reconnect after any failure; raises AuthRefused."""
        while True:
            self.state = LinkState.CONNECTING
            try:
                async with websockets.connect(
                    self._ws_url,
                    additional_headers={"Authorization": f"Bearer {self._token}"},
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=20,
                ) as ws:
                    await self._session(ws)
            except AuthRefused:
                self._set_offline()
                raise
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 403):
                    self._set_offline()
                    raise AuthRefused("the hub refused the cabin token") from None
                self._note_failure(f"hub answered HTTP {exc.response.status_code}")
            except InvalidURI as exc:
                raise AuthRefused(f"invalid hub URL: {exc}") from None
            except (OSError, ConnectionClosed, TimeoutError, WireError) as exc:
                self._note_failure(_describe(exc))
            self._set_offline()
            await self._sleep(self._backoff.next_delay())

    async def _session(self, ws: ClientConnection) -> None:
        hello = Hello(
            cabin_id=self._cabin_id, agent_version=self._agent_version, devices=self._devices
        )
        await ws.send(hello.model_dump_json())
        try:
            first = parse_hub_message(await asyncio.wait_for(ws.recv(), HELLO_ACK_TIMEOUT_SECONDS))
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == CLOSE_UNAUTHORIZED:
                raise AuthRefused(exc.rcvd.reason or "the hub refused the cabin token") from None
            raise
        if isinstance(first, ErrorMessage) or not isinstance(first, HelloAck):
            raise WireError(f"expected hello_ack, got {first.type}")
        self._heartbeat_seconds = first.heartbeat_seconds
        self._backoff.reset()
        self.connections += 1
        self.state = LinkState.ONLINE
        self.online.set()
        if self._failing:
            logger.info("link to the hub restored")
            self._failing = False
        else:
            logger.info("connected to the hub as cabin %s (%s)", first.cabin_id, first.cabin_name)
        await self._exchange(ws)

    async def _exchange(self, ws: ClientConnection) -> None:
        """Send heartbeats until the connection fails or the hub stops acknowledging them."""
        acks = _Acks()
        receiver = asyncio.create_task(self._receive(ws, acks))
        try:
            seq = 0
            while True:
                if seq - 1 - acks.last > MISSED_ACKS_BEFORE_RECONNECT:
                    raise TimeoutError("the hub stopped acknowledging heartbeats")
                sent_at = dt.datetime.now(dt.UTC)
                await ws.send(Heartbeat(seq=seq, sent_at=sent_at).model_dump_json())
                seq += 1
                pause = asyncio.create_task(self._sleep(self._heartbeat_seconds))
                done, _ = await asyncio.wait({receiver, pause}, return_when=asyncio.FIRST_COMPLETED)
                if receiver in done:
                    pause.cancel()
                    receiver.result()  # re-raises why the connection ended
        finally:
            receiver.cancel()

    async def _receive(self, ws: ClientConnection, acks: _Acks) -> None:
        while True:
            message = parse_hub_message(await ws.recv())
            if isinstance(message, HeartbeatAck):
                acks.last = max(acks.last, message.seq)
            elif isinstance(message, ErrorMessage):
                logger.warning("hub reported an error: %s", message.message)

    def _note_failure(self, reason: str) -> None:
        if not self._failing:
            logger.warning("link to the hub lost or unavailable: %s; retrying with backoff", reason)
            self._failing = True

    def _set_offline(self) -> None:
        self.state = LinkState.OFFLINE
        self.online.clear()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        return f"connection closed ({frame.code} {frame.reason})" if frame else "connection closed"
    return str(exc) or type(exc).__name__
