"""Live events for the consoles (a consultation changed state, an emergency was raised, a
cabin's status changed, a measurement was stored).

`EventBus` is what the hub's code publishes to and the consoles' stream subscribes to. Every
event names the access-policy permission a subscriber needs at the event's site
(``permission``, a `hub.identity.policy.Permission` value: "signed_in" for what every member of
staff of the site may see, "consultation_data" for health data); a subscriber says, per
permission, the sites it reaches, and gets only those events (the consoles' stream,
``/api/v1/evenements``, asks the access policy for the permissions its events use).

`LocalEventBus` is the in-process bus of the embedded default (one hub process). Several hub
workers share their events through `hub.cluster.bus.RedisEventBus`, which carries each event
(with its site and permission) to every worker and filters it there with a `LocalEventBus`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

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
        """The event as the consoles receive it."""
        return json.dumps(
            {"kind": self.kind, "site_id": self.site_id, "at": self.at.isoformat(), **self.data},
            ensure_ascii=False,
        )

    def encode(self) -> str:
        """The whole event, permission included, for another hub worker (`decode`)."""
        return json.dumps(
            {
                "site_id": self.site_id,
                "kind": self.kind,
                "data": self.data,
                "permission": self.permission,
                "at": self.at.isoformat(),
            },
            ensure_ascii=False,
        )

    @classmethod
    def decode(cls, text: str | bytes) -> Event:
        """The event `encode` wrote; ValueError if it is not one."""
        try:
            raw = json.loads(text)
            return cls(
                site_id=int(raw["site_id"]),
                kind=str(raw["kind"]),
                data=dict(raw["data"]),
                permission=str(raw["permission"]),
                at=dt.datetime.fromisoformat(raw["at"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an encoded event: {exc}") from None


class EventBus(Protocol):
    """Where events are published, and how a console subscribes to those it may see."""

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to the subscribers who may see it (never blocks)."""

    def subscribe(
        self, reach: Mapping[str, frozenset[int]]
    ) -> AbstractAsyncContextManager[asyncio.Queue[Event]]:
        """A queue of the events of the sites ``reach`` gives for each event's permission."""
        ...


@dataclass(eq=False)
class _Subscriber:
    reach: Mapping[str, frozenset[int]]  # permission → the sites where the subscriber holds it
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def wants(self, event: Event) -> bool:
        return event.site_id in self.reach.get(event.permission, frozenset())


class LocalEventBus:
    """Publish to the subscribers of this process who may see an event; a slow one loses its
    oldest events."""

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
    async def _subscription(
        self, reach: Mapping[str, frozenset[int]]
    ) -> AsyncIterator[asyncio.Queue[Event]]:
        sub = _Subscriber(reach)
        self._subscribers.add(sub)
        try:
            yield sub.queue
        finally:
            self._subscribers.discard(sub)

    def subscribe(
        self, reach: Mapping[str, frozenset[int]]
    ) -> AbstractAsyncContextManager[asyncio.Queue[Event]]:
        """A queue of the events of the sites ``reach`` gives for each event's permission."""
        return self._subscription(reach)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
