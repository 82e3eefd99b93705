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


@dataclass
class AgentConnection:
    """A live agent WebSocket, so a newer connection of the same cabin can replace it."""

    cabin_id: int
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    replaced: bool = False


@dataclass
class HubContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    templates: Jinja2Templates
    clock: Callable[[], dt.datetime]
    agents: dict[int, AgentConnection] = field(default_factory=dict)

    @property
    def secret(self) -> str:
        return self.settings.secret_key.get_secret_value()


def context_of(conn: HTTPConnection) -> HubContext:
    """The hub context of the app serving this request or WebSocket."""
    ctx: HubContext = conn.app.state.hub
    return ctx
