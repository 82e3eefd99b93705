"""Fixtures shared by the hub's tests: a database session once the demo CPTS is in the
database, and the test hub's context."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import Settings
from hub.context import HubContext
from tests.support.factories import Cpts, session_for


@pytest.fixture
async def session(settings: Settings, cpts: Cpts) -> AsyncIterator[AsyncSession]:
    """A session on the test's database, once the demo CPTS is in it."""
    async with session_for(settings) as s:
        yield s


@pytest.fixture
def ctx(app: FastAPI) -> HubContext:
    """The context of the test's hub (settings, sessions, event bus, clock)."""
    hub: HubContext = app.state.hub
    return hub
