"""Live events for the consoles (a consultation changed state, an emergency was raised, a
cabin's status changed, a measurement was stored).

An in-process bus. Every event names the access-policy permission a subscriber needs at the
event's site (``permission``, a `hub.identity.policy.Permission` value: "signed_in" for what
every member of staff of the site may see, "consultation_data" for health data); a subscriber
says, per permission, the sites it reaches, and gets only those events (the consoles' stream,
``/api/v1/evenements``, asks the access policy for the permissions its events use). Several
hub workers would need a shared bus (e.g. Redis pub/sub, carrying the permission too) behind
the same two methods."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

QUEUE_SIZE = 100
EVERY_MEMBER_OF_STAFF = "signed_in"  # the permission of events any user of the site may see


@dataclass(frozen=True, slots=True)
class Event:
    site_id: int
    kind: str  # e.g. "consultation.ready", "consultation.emergency", "cabin.status"
    data: dict[str, object]
    permission: str = EVERY_MEMBER_OF_STAFF  # what a subscriber needs at ``site_id``
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def to_json(self) -> str:
        return json.dumps(
            {"kind": self.kind, "site_id": self.site_id, "at": self.at.isoformat(), **self.data},
            ensure_ascii=False,
        )


@dataclass(eq=False)
class _Subscriber:
    reach: Mapping[str, frozenset[int]]  # permission → the sites where the subscriber holds it
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def wants(self, event: Event) -> bool:
        return event.site_id in self.reach.get(event.permission, frozenset())


class EventBus:
    """Publish to the subscribers who may see an event; a slow one loses its oldest events."""

    def __init__(self) -> None:
        self._subscribers: set[_Subscriber] = set()

    def publish(self, event: Event) -> None:
        for sub in list(self._subscribers):
            if sub.wants(event):
                if sub.queue.full():
                    with contextlib.suppress(asyncio.QueueEmpty):
                        sub.queue.get_nowait()
                sub.queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, reach: Mapping[str, frozenset[int]]
    ) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of the events of the sites ``reach`` gives for each event's permission."""
        sub = _Subscriber(reach)
        self._subscribers.add(sub)
        try:
            yield sub.queue
        finally:
            self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
