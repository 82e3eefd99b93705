"""A real hub server (uvicorn on a loopback port) running inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn
from fastapi import FastAPI

from hub.app import GRACEFUL_SHUTDOWN_SECONDS, create_app
from hub.config import Settings
from tests.support.waiting import eventually


def serving(server: uvicorn.Server | None, task: asyncio.Task[None] | None) -> bool:
    """Whether a uvicorn server started in ``task`` is serving; its error if it failed."""
    assert server is not None and task is not None
    if task.done():
        task.result()
        raise AssertionError("the server stopped before serving")
    return bool(server.started)


class LiveHub:
    """Start, stop and restart a hub on a fixed port, like a deployment would; listening on
    the loopback unless told another address (e.g. "0.0.0.0" for a cabin on another network)."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1") -> None:
        self.settings = settings
        self.host = host
        self._server: uvicorn.Server | None = None
        self.app: FastAPI | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}/agent/ws"

    async def start(self) -> None:
        self.app = create_app(self.settings)
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.settings.port,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            log_config=None,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._task = asyncio.create_task(self._server.serve())
        await eventually(lambda: serving(self._server, self._task), "the hub to start")

    def cabin_connected(self, cabin_id: int) -> bool:
        """Whether the cabin's agent holds a live link to this hub now."""
        assert self.app is not None
        conn = self.app.state.hub.agents.get(cabin_id)
        return conn is not None and not conn.closed.is_set()

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = None
        self._task = None
