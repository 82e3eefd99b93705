"""The agent's link to the hub: one authenticated WebSocket, hello, heartbeats, reconnection.

The hub closing with 4401 (token unknown, revoked or replaced, at connection or later) stops
the link for good (``AuthRefused``); with 4400 it says this agent sent a frame it could not
read: the link logs it and reconnects with backoff like after any other drop."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from cabin_agent.outbox import Outbox
from hub.wire import (
    CLOSE_BAD_MESSAGE,
    CLOSE_UNAUTHORIZED,
    Command,
    CommandResult,
    DeviceDescription,
    DeviceStatus,
    ErrorMessage,
    Heartbeat,
    HeartbeatAck,
    Hello,
    HelloAck,
    MeasurementAck,
    MeasurementBatch,
    MeasurementItem,
    MediaAnswer,
    MediaClose,
    MediaOffer,
    SfuPublish,
    SfuStop,
    WireError,
    parse_hub_message,
)
from hub.wire.janus import SfuGrant

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
    """Capped exponential backoff with full jitter: delay ~ U(0, min(max, initial * 2^n)).

    Full jitter spreads the agents of a whole territory over the entire window when the hub
    restarts, instead of bunching them in its second half (measured by bench/hub_capacity.py).
    A hub that closes the link as restarting (1001, 1012) is retried within ``restart_window``
    for ``restart_attempts`` tries (`hub_restarting`), not after the long wait of an outage."""

    initial: float = 1.0
    maximum: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0
    restart_window: float = 2.0  # the hub said it restarts: retry within this, flat...
    restart_attempts: int = 30  # ...this many times (about 30 s), then back off as usual
    _flat: int = field(default=0, init=False, repr=False)

    def next_delay(self) -> float:
        if self._flat > 0:
            self._flat -= 1
            return self.rng.uniform(0.0, min(self.maximum, self.restart_window))
        cap = min(self.maximum, self.initial * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return self.rng.uniform(0.0, cap)

    def reset(self) -> None:
        self.attempt = 0
        self._flat = 0

    def hub_restarting(self) -> None:
        """The hub closed the link because it stops or restarts (1001, 1012): come back as
        soon as it listens again, each agent at its own moment within the restart window,
        instead of after an ever longer wait while it was down."""
        self.attempt = 0
        self._flat = self.restart_attempts


RESTART_CLOSE_CODES = frozenset({1001, 1012})  # going away, service restart


@dataclass
class _Acks:
    last: int = -1


CommandHandler = Callable[[Command], Coroutine[Any, Any, tuple[bool, str]]]


class MediaHandler(Protocol):
    """What answers the doctor's media offers (the agent's media sessions)."""

    async def offer(self, offer: MediaOffer) -> MediaAnswer: ...
    async def close(self, session_id: str) -> None: ...
    async def publish_to_sfu(self, grant: SfuGrant) -> None: ...
    async def stop_sfu(self, consultation_id: int) -> None: ...


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
        outbox: Outbox | None = None,
        on_command: CommandHandler | None = None,
        media: MediaHandler | None = None,
        batch_size: int = 200,
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
        self._outbox = outbox
        self._on_command = on_command
        self._media = media
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._statuses: dict[str, DeviceStatus] = {}
        self._status_dirty: set[str] = set()
        self._command_tasks: set[asyncio.Task[None]] = set()
        self.sent_batches = 0

    def measurements_waiting(self) -> None:
        """Tell the link the outbox has new measurements to send."""
        self._wake.set()

    def report_status(
        self, device: str, state: str, *, battery_low: bool | None = None, detail: str = ""
    ) -> None:
        """Record a device's state; sent now if online, and again after every reconnection."""
        self._statuses[device] = DeviceStatus(
            device=device, state=state, battery_low=battery_low, detail=detail[:200]
        )
        self._status_dirty.add(device)
        self._wake.set()

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
            except ConnectionClosed as exc:
                code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, "")
                if code == CLOSE_UNAUTHORIZED:
                    self._set_offline()
                    raise AuthRefused(reason or "the hub refused the cabin token") from None
                if code == CLOSE_BAD_MESSAGE:
                    logger.warning("the hub could not read a frame of this agent: %s", reason)
                if code in RESTART_CLOSE_CODES:
                    self._backoff.hub_restarting()
                self._note_failure(_describe(exc))
            except (OSError, TimeoutError, WireError) as exc:
                self._note_failure(_describe(exc))
            self._set_offline()
            await self._sleep(self._backoff.next_delay())

    async def _session(self, ws: ClientConnection) -> None:
        hello = Hello(
            cabin_id=self._cabin_id, agent_version=self._agent_version, devices=self._devices
        )
        await ws.send(hello.model_dump_json())
        first = parse_hub_message(await asyncio.wait_for(ws.recv(), HELLO_ACK_TIMEOUT_SECONDS))
        if isinstance(first, ErrorMessage) or not isinstance(first, HelloAck):
            raise WireError(f"expected hello_ack, got {first.type}")
        self._heartbeat_seconds = first.heartbeat_seconds
        if self._outbox is not None:
            await self._outbox.ensure_after(first.last_seq)
        self._status_dirty = set(self._statuses)
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
        """Heartbeats, measurements and statuses out; acknowledgements and commands in."""
        acks = _Acks()
        in_flight: set[int] = set()
        tasks = [
            asyncio.create_task(self._receive(ws, acks, in_flight)),
            asyncio.create_task(self._heartbeats(ws, acks)),
            asyncio.create_task(self._send_outbox(ws, in_flight)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raises why the session ended
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _heartbeats(self, ws: ClientConnection, acks: _Acks) -> None:
        seq = 0
        while True:
            if seq - 1 - acks.last > MISSED_ACKS_BEFORE_RECONNECT:
                raise TimeoutError("the hub stopped acknowledging heartbeats")
            await ws.send(Heartbeat(seq=seq, sent_at=dt.datetime.now(dt.UTC)).model_dump_json())
            seq += 1
            await self._sleep(self._heartbeat_seconds)

    async def _send_outbox(self, ws: ClientConnection, in_flight: set[int]) -> None:
        """Send every pending measurement not already in flight, in batches, then the
        devices' states that changed. Measurements first: the hub reads an agent's frames in
        turn and writes a state to its database before it reads the next frame, so a cuff's
        "ready again", changed just before its result, made that result wait for the write
        (the reading → hub latency's p95 was that wait)."""
        self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox is not None:
                pending = await self._outbox.pending(self._batch_size, frozenset(in_flight))
                if not pending:
                    break
                batch = MeasurementBatch(
                    items=tuple(
                        MeasurementItem(seq=p.seq, device=p.device, measurement=p.measurement)
                        for p in pending
                    )
                )
                in_flight.update(p.seq for p in pending)
                await ws.send(batch.model_dump_json())
                self.sent_batches += 1
            for device in sorted(self._status_dirty):
                await ws.send(self._statuses[device].model_dump_json())
            self._status_dirty.clear()

    async def _receive(self, ws: ClientConnection, acks: _Acks, in_flight: set[int]) -> None:
        while True:
            message = parse_hub_message(await ws.recv())
            if isinstance(message, HeartbeatAck):
                acks.last = max(acks.last, message.seq)
            elif isinstance(message, MeasurementAck):
                await self._acknowledged(message, in_flight)
            elif isinstance(message, Command):
                self._spawn(self._run_command(ws, message))
            elif isinstance(message, MediaOffer):
                self._spawn(self._answer_media(ws, message))
            elif isinstance(message, MediaClose):
                if self._media is not None:
                    self._spawn(self._media.close(message.session_id))
            elif isinstance(message, SfuPublish):
                if self._media is not None:
                    self._spawn(self._media.publish_to_sfu(message.grant()))
            elif isinstance(message, SfuStop):
                if self._media is not None:
                    self._spawn(self._media.stop_sfu(message.consultation_id))
            elif isinstance(message, ErrorMessage):
                logger.warning("hub reported an error: %s", message.message)

    async def _acknowledged(self, ack: MeasurementAck, in_flight: set[int]) -> None:
        if self._outbox is None:
            return
        await self._outbox.acknowledge(list(ack.seqs))
        if ack.rejected:
            logger.error(
                "the hub refused %s measurements for good (%s); kept aside in the outbox",
                len(ack.rejected),
                ", ".join(sorted({str(r.code) for r in ack.rejected})),
            )
        for rejected in ack.rejected:
            await self._outbox.reject(rejected.seq, f"{rejected.code}: {rejected.reason}")
        in_flight.difference_update(ack.seqs)
        in_flight.difference_update(r.seq for r in ack.rejected)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._command_tasks.add(task)
        task.add_done_callback(self._command_tasks.discard)

    async def _answer_media(self, ws: ClientConnection, offer: MediaOffer) -> None:
        if self._media is None:
            answer = MediaAnswer(
                session_id=offer.session_id, error="Cette cabine ne diffuse pas de média."
            )
        else:
            try:
                answer = await self._media.offer(offer)
            except Exception:
                logger.exception("media offer %s failed", offer.session_id)
                answer = MediaAnswer(
                    session_id=offer.session_id, error="La cabine n'a pas pu ouvrir le flux média."
                )
        with contextlib.suppress(ConnectionClosed):
            await ws.send(answer.model_dump_json())

    async def _run_command(self, ws: ClientConnection, command: Command) -> None:
        if self._on_command is None:
            ok, text = False, "Cette cabine ne prend pas de commandes."
        else:
            try:
                ok, text = await self._on_command(command)
            except Exception:
                logger.exception("command %s on %s failed", command.action, command.device)
                ok, text = False, "La commande a échoué sur la cabine."
        result = CommandResult(command_id=command.command_id, ok=ok, message=text[:300])
        try:
            await ws.send(result.model_dump_json())
        except ConnectionClosed:
            logger.warning("command %s finished after the link dropped", command.command_id)

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
