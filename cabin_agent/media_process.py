"""The media process: ``python -m cabin_agent.media_process FD``, started by the agent
(`cabin_agent.media_boundary.MediaProcess`) on the socket whose descriptor is FD.

Its first frame is ``("init", AgentConfig, simulate, log level)``; then each
``("call", number, method, args)`` runs ``AgentMedia.<method>(*args)`` in its own task and is
answered ``(number, ok, result or error, Opened)``; a ``"cast"`` is the same unanswered (live
vitals); ``"stop"`` — or the socket closing, the agent gone — closes every session and exits.
Only `AgentMedia`'s public methods can be called.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import pickle
import signal
import socket
import sys
from typing import Any

from cabin_agent.media_boundary import Opened, read_frame, write_frame
from cabin_agent.media_sessions import AgentMedia
from cabin_agent.scheduling import set_slice

logger = logging.getLogger(__name__)


class MediaServer:
    """Runs the calls the agent sends to one `AgentMedia`."""

    def __init__(self, media: AgentMedia, writer: asyncio.StreamWriter) -> None:
        self._media = media
        self._writer = writer
        self._tasks: set[asyncio.Task[None]] = set()

    def opened(self) -> Opened:
        return Opened(sessions=tuple(self._media.sessions), in_use=self._media.in_use())

    async def _run(self, kind: str, number: int, method: str, args: tuple[Any, ...]) -> None:
        try:
            if method.startswith("_") or not callable(getattr(self._media, method, None)):
                raise AttributeError(f"AgentMedia has no operation {method!r}")
            result = getattr(self._media, method)(*args)
            if inspect.isawaitable(result):
                result = await result
            reply: tuple[Any, ...] = (number, True, result, self.opened())
        except Exception as exc:
            logger.exception("media %s failed", method)
            reply = (number, False, f"{method}: {exc}", self.opened())
        if kind == "call" and not self._writer.is_closing():
            try:
                write_frame(self._writer, reply)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                logger.exception("media %s: its result cannot be sent", method)
                write_frame(self._writer, (number, False, f"{method}: {exc}", self.opened()))

    def dispatch(self, kind: str, number: int, method: str, args: tuple[Any, ...]) -> None:
        task = asyncio.create_task(self._run(kind, number, method, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def serve(self, reader: asyncio.StreamReader) -> None:
        """Run calls until told to stop or the agent goes; then close everything."""
        try:
            while True:
                kind, number, method, args = await read_frame(reader)
                if kind == "stop":
                    break
                self.dispatch(kind, number, method, args)
        except (asyncio.IncompleteReadError, ConnectionError):
            logger.info("the agent closed the media link")
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        await self._media.close_all()


async def _main(fd: int) -> None:
    reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=fd))
    _, config, simulate, level = await read_frame(reader)
    os.nice(config.media.niceness)  # before aiortc starts its threads: they inherit it
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s [media]: %(message)s"
    )
    server = MediaServer(AgentMedia(config, simulate=simulate), writer)
    await server.serve(reader)
    writer.close()


def main(argv: list[str]) -> int:
    set_slice(0)  # the agent's short slice is for its measurements, not for video
    # Ctrl-C reaches the whole process group: the agent closes media itself, then this ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_main(int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
