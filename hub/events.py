"""Live events for the consoles (a consultation changed state, an emergency was raised).

An in-process bus: every subscriber gets the events of the sites it follows. Several hub
workers would need a shared bus (e.g. Redis pub/sub) behind the same two methods."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

QUEUE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Event:
    site_id: int
    kind: str  # e.g. "consultation.ready", "consultation.emergency"
    data: dict[str, object]
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def to_json(self) -> str:
        return json.dumps(
            {"kind": self.kind, "site_id": self.site_id, "at": self.at.isoformat(), **self.data},
            ensure_ascii=False,
        )


@dataclass(eq=False)
class _Subscriber:
    site_ids: frozenset[int]
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))


class EventBus:
    """Publish to the sites' subscribers; a slow subscriber loses its oldest events."""

    def __init__(self) -> None:
        self._subscribers: set[_Subscriber] = set()

    def publish(self, event: Event) -> None:
        for sub in list(self._subscribers):
            if event.site_id in sub.site_ids:
                if sub.queue.full():
                    with contextlib.suppress(asyncio.QueueEmpty):
                        sub.queue.get_nowait()
                sub.queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, site_ids: frozenset[int]) -> AsyncIterator[asyncio.Queue[Event]]:
        sub = _Subscriber(site_ids)
        self._subscribers.add(sub)
        try:
            yield sub.queue
        finally:
            self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
