"""What a running hub holds: settings, database, templates, clock, the agents connected to this
process, the event bus, and (with several workers) its peers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from hub.cluster.peers import Peers
from hub.config import Settings
from hub.events import EventBus, LocalEventBus
from hub.limits import FailureLog
from hub.wire import WIRE_VERSION, HubMessageT


@dataclass
class AgentConnection:
    """A live agent WebSocket: messages to send it, commands awaiting their result, and the
    event that ends it (a newer connection of the same cabin, or its token revoked).

    ``token_hash`` is the token the agent authenticated with: once the cabin's token is
    another one (or none), nothing more the agent sends is trusted."""

    cabin_id: int
    site_id: int = 0
    token_hash: str = ""
    wire_version: int = WIRE_VERSION  # the version of the agent's hello, used to answer it
    heard_at: dt.datetime | None = None  # when the agent was last heard from (memory)
    told_at: dt.datetime | None = None  # when a heartbeat last told the consoles so
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    replaced: bool = False
    revoked: bool = False
    outgoing: asyncio.Queue[HubMessageT] = field(default_factory=asyncio.Queue)
    pending: dict[str, asyncio.Future[tuple[bool, str]]] = field(default_factory=dict)
    media_answers: dict[str, asyncio.Future[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class HubContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    templates: Jinja2Templates
    clock: Callable[[], dt.datetime]
    agents: dict[int, AgentConnection] = field(default_factory=dict)  # held by this process
    events: EventBus = field(default_factory=LocalEventBus)
    peers: Peers | None = None  # the other workers, with HUB_REDIS_URL; None: one process
    # Agents' writes to the database at the same time (hellos, goodbyes, measurements,
    # devices' states): a few, not a whole territory reconnecting after a restart (the pool);
    # one at a time on SQLite, which has one writer.
    presence_writes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))
    # The server is stopping (SIGTERM): links closing now say nothing per cabin.
    stopping: bool = False
    # Login failures shared by the workers (Redis); None: kept in the database.
    failures: FailureLog | None = None
    # Agents' goodbyes (presence, live status) still being written: a stopping hub waits for
    # them before it closes the database; they run on even when their link's task is cancelled.
    goodbyes: set[asyncio.Task[None]] = field(default_factory=set)
    # Called with each cabin id once its agent's hello is acknowledged (what a slice above the
    # gateway tells a cabin that just connected, e.g. the Janus room it is to publish into).
    on_cabin_hello: list[Callable[[HubContext, int], Awaitable[None]]] = field(default_factory=list)

    @property
    def secret(self) -> str:
        return self.settings.secret_key.get_secret_value()


def context_of(conn: HTTPConnection) -> HubContext:
    """The hub context of the app serving this request or WebSocket."""
    ctx: HubContext = conn.app.state.hub
    return ctx
