"""The event bus of several hub workers: every event goes through one Redis pub/sub channel to
every worker, whose `LocalEventBus` gives it to the subscribers (consoles) that may see it.

``publish`` stays synchronous (the hub's code publishes from anywhere): events wait in order in
a queue that a background task sends. Events are live news, not the record: while Redis is
unreachable they are dropped (logged once on the transition, and once on the recovery)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.events import Event, LocalEventBus

logger = logging.getLogger(__name__)

EVENTS_CHANNEL = "hub:events"
RETRY_SECONDS = 0.5


class RedisEventBus:
    """An `EventBus` shared by every worker that uses the same Redis and channel."""

    def __init__(self, client: Redis, *, channel: str = EVENTS_CHANNEL) -> None:
        self._client = client
        self._channel = channel
        self._local = LocalEventBus()
        self._outgoing: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()
        self._failing = False

    async def start(self) -> None:
        """Listen to the channel (returns once subscribed) and send what is published."""
        self._tasks = [
            asyncio.create_task(self._listen(), name="event-bus-listen"),
            asyncio.create_task(self._send(), name="event-bus-send"),
        ]
        await self._listening.wait()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def publish(self, event: Event) -> None:
        self._outgoing.put_nowait(event)

    def subscribe(
        self, reach: Mapping[str, frozenset[int]]
    ) -> AbstractAsyncContextManager[asyncio.Queue[Event]]:
        return self._local.subscribe(reach)

    @property
    def subscribers(self) -> int:
        """The subscribers of this worker."""
        return self._local.subscribers

    async def _send(self) -> None:
        while True:
            event = await self._outgoing.get()
            try:
                await self._client.publish(self._channel, event.encode())
            except (RedisError, OSError) as exc:
                self._trouble(f"event {event.kind} dropped: {exc}")
            else:
                self._recovered()

    async def _listen(self) -> None:
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._listening.set()
                self._recovered()
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "message":
                        self._deliver(message["data"])
            except (RedisError, OSError) as exc:
                self._trouble(f"listening to {self._channel} failed: {exc}")
                await asyncio.sleep(RETRY_SECONDS)  # reconnecting to Redis, with a pause
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    def _deliver(self, data: bytes) -> None:
        try:
            event = Event.decode(data)
        except ValueError as exc:
            logger.warning("ignored a message on %s that is not an event: %s", self._channel, exc)
            return
        self._local.publish(event)

    def _trouble(self, what: str) -> None:
        if not self._failing:
            logger.warning("event bus: Redis unreachable (%s)", what)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            logger.warning("event bus: Redis reachable again")
        self._failing = False
