"""A real hub server (uvicorn on a loopback port) running inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

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
    """Start, stop and restart a hub on a fixed port, like a deployment would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}/agent/ws"

    async def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.settings.port,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            log_config=None,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._task = asyncio.create_task(self._server.serve())
        await eventually(lambda: serving(self._server, self._task), "the hub to start")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = None
        self._task = None
