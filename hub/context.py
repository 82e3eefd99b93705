"""What a running hub holds: settings, database, templates, clock, connected agents."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from hub.config import Settings
from hub.events import EventBus


@dataclass
class AgentConnection:
    """A live agent WebSocket: frames to send it, commands awaiting their result, and the
    event that a newer connection of the same cabin replaced it."""

    cabin_id: int
    site_id: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    replaced: bool = False
    outgoing: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    pending: dict[str, asyncio.Future[tuple[bool, str]]] = field(default_factory=dict)
    media_answers: dict[str, asyncio.Future[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class HubContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    templates: Jinja2Templates
    clock: Callable[[], dt.datetime]
    agents: dict[int, AgentConnection] = field(default_factory=dict)
    events: EventBus = field(default_factory=EventBus)

    @property
    def secret(self) -> str:
        return self.settings.secret_key.get_secret_value()


def context_of(conn: HTTPConnection) -> HubContext:
    """The hub context of the app serving this request or WebSocket."""
    ctx: HubContext = conn.app.state.hub
    return ctx
