"""Media in a separate process, so measurements never wait behind video and a media crash
never touches them.

The agent's measurement path (device runners, the outbox, the hub link) runs in the agent's
process; everything of aiortc (peer connections, tracks, encoders, the room's screen) runs in
``python -m cabin_agent.media_process``, started on the first offer and stopped when the last
consultation's media closes (its memory goes with it). `IsolatedMedia` is what the hub link
and the agent talk to. It forwards method calls of `AgentMedia` over a socket pair — one
pickled ``(kind, number, method, args)`` frame each, answered by the result and what remains
open — so another media operation is one line here (`call`), with picklable arguments.

This module imports neither aiortc nor PyAV: the agent's process stays light.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import socket
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cabin_agent.config import AgentConfig
from hub.wire import MediaAnswer, MediaOffer
from hub.wire.janus import SfuGrant

logger = logging.getLogger(__name__)

JsonValue = str | float | int | bool | None
HEADER = struct.Struct("!I")
#: Where this `cabin_agent` was imported from: the media process imports the same one.
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
#: An offer unanswered this long means the media process is stuck: it is ended.
OFFER_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
#: Live vitals are dropped rather than queued behind a media process that does not read.
MAX_UNREAD_BYTES = 1 << 20
#: Said to the doctor's page (or the room's) when the media process failed under its offer.
MEDIA_FAILED = (
    "La vidéo de la cabine s'est interrompue : reconnectez la vidéo pour la relancer. "
    "Les mesures continuent normalement."
)
#: Said to a browser whose offer reaches a session already closed (see `media_sessions`).
SESSION_CLOSED = "La liaison avec la cabine s'était fermée : nouvelle connexion en cours…"


class MediaError(Exception):
    """A media operation failed in (or with) the media process."""


class MediaProcessGone(MediaError):
    """The media process ended (crashed, killed or stopped) before answering."""


class MediaCallFailed(MediaError):
    """The media process raised while running the call (logged there with its traceback)."""


@dataclass(frozen=True)
class SessionStatus:
    """What a consultation's media session looks like from the agent's process."""

    route: str | None
    ice_restarts: int
    closed: bool
    #: Which peer connection: another one when a new connection replaced the session's.
    connection: int
    #: MIME type each sent m-line uses, and what it carries ("room", "otoscope", …), by mid.
    codecs: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Publication:
    """The trolley published into a consultation's Janus room, seen from the agent's process."""

    connection_state: str
    feed: int | None  # the cabin's feed id in the room, once Janus took it


@dataclass(frozen=True)
class Opened:
    """What the media process still has open, sent with every reply."""

    sessions: tuple[str, ...] = ()
    in_use: bool = False


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """Read one pickled frame (raises `asyncio.IncompleteReadError` at the end)."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    # Only ever between the agent and the child it started, over their private socket pair.
    return pickle.loads(await reader.readexactly(size))  # noqa: S301


def write_frame(writer: asyncio.StreamWriter, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(HEADER.pack(len(data)) + data)


class MediaProcess:
    """One ``python -m cabin_agent.media_process`` and the socket it is driven through."""

    def __init__(self, proc: asyncio.subprocess.Process, reader: Any, writer: Any) -> None:
        self.proc = proc
        self._reader: asyncio.StreamReader = reader
        self._writer: asyncio.StreamWriter = writer
        self._numbers = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.opened = Opened()
        #: Set once the process is gone (its socket closed).
        self.gone = asyncio.Event()
        self._reading = asyncio.create_task(self._read(), name=f"media-process-{proc.pid}")

    @classmethod
    async def start(cls, config: AgentConfig, *, simulate: bool) -> MediaProcess:
        ours, theirs = socket.socketpair()
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_ROOT, path]))}
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "cabin_agent.media_process",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        level = logging.getLogger().getEffectiveLevel()
        write_frame(writer, ("init", config, simulate, level))
        logger.info("media process %s started", proc.pid)
        return cls(proc, reader, writer)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def waiting(self) -> int:
        """Calls sent and not answered yet."""
        return len(self._pending)

    async def _read(self) -> None:
        try:
            while True:
                number, ok, value, opened = await read_frame(self._reader)
                self.opened = opened
                future = self._pending.pop(number, None)
                if future is not None and not future.done():
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(MediaCallFailed(value))
        except (asyncio.IncompleteReadError, ConnectionError, EOFError, pickle.PickleError):
            pass
        finally:
            self.gone.set()
            self.opened = Opened()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(MediaProcessGone("the media process ended"))
            self._pending.clear()
            self._writer.close()

    async def call(self, method: str, *args: Any) -> Any:
        """Run ``AgentMedia.<method>(*args)`` in the media process and return its result."""
        if self.gone.is_set():
            raise MediaProcessGone("the media process ended")
        number = next(self._numbers)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        try:
            write_frame(self._writer, ("call", number, method, args))
            return await future
        finally:
            self._pending.pop(number, None)

    def cast(self, method: str, *args: Any) -> bool:
        """Start ``AgentMedia.<method>(*args)`` there without waiting; False if not sent."""
        transport = self._writer.transport
        if self.gone.is_set() or transport.get_write_buffer_size() > MAX_UNREAD_BYTES:
            return False
        write_frame(self._writer, ("cast", 0, method, args))
        return True

    async def stop(self) -> None:
        """Ask the process to close everything and exit; end it if it does not."""
        if not self.gone.is_set():
            with contextlib.suppress(ConnectionError, RuntimeError):
                write_frame(self._writer, ("stop", 0, "", ()))
        try:
            await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning("media process %s did not stop: killed", self.pid)
            self.kill()
            await self.proc.wait()
        await self._reading

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()


class IsolatedMedia:
    """The agent's media (`AgentMedia`) run in a `MediaProcess`; the hub link's media handler."""

    def __init__(self, config: AgentConfig, *, simulate: bool) -> None:
        self._config = config
        self._simulate = simulate
        self._process: MediaProcess | None = None
        self._lock = asyncio.Lock()
        self._busy = 0
        #: Media processes started so far (one per stretch of consultations).
        self.processes_started = 0

    @property
    def process(self) -> MediaProcess | None:
        """The running media process, or None between consultations."""
        process = self._process
        return None if process is None or process.gone.is_set() else process

    @property
    def sessions(self) -> tuple[str, ...]:
        """The consultation sessions open in the media process (as of its last reply)."""
        process = self.process
        return () if process is None else process.opened.sessions

    async def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Run ``AgentMedia.<method>(*args)`` in the media process, started if need be; the
        process stops once nothing is open there any more. Adding a media operation to the
        agent is one line: ``return await self.call("method", argument)``."""
        try:
            return await self._call(method, *args, timeout=timeout)
        finally:
            await self._stop_when_idle()

    async def _call(self, method: str, *args: Any, timeout: float | None) -> Any:
        async with self._lock:
            process = self.process
            if process is None:
                process = self._process = await MediaProcess.start(
                    self._config, simulate=self._simulate
                )
                self.processes_started += 1
            self._busy += 1
        try:
            return await asyncio.wait_for(process.call(method, *args), timeout)
        except TimeoutError:
            logger.warning("media process %s stuck on %s: ended", process.pid, method)
            process.kill()
            raise MediaProcessGone(f"{method} unanswered") from None
        except MediaProcessGone:
            try:
                code = await asyncio.wait_for(process.proc.wait(), STOP_TIMEOUT_SECONDS)
            except TimeoutError:  # its socket closed, yet it lingers
                process.kill()
                code = await process.proc.wait()
            logger.warning(
                "media process %s ended (exit code %s) under %s", process.pid, code, method
            )
            raise
        finally:
            self._busy -= 1

    async def offer(self, offer: MediaOffer) -> MediaAnswer:
        """Answer a doctor's (or the room's) offer in the media process; a failed process is
        answered with a refusal the doctor reads, and the next offer starts a fresh one."""
        answer: MediaAnswer | None = None
        try:
            answer = await self._call("offer", offer, timeout=OFFER_TIMEOUT_SECONDS)
        except MediaError:
            answer = MediaAnswer(session_id=offer.session_id, error=MEDIA_FAILED)
        finally:
            # A session found closed (after a network cut): the browser's new connection
            # follows at once; stopping the process first would only delay the answer.
            if answer is None or answer.error != SESSION_CLOSED:
                await self._stop_when_idle()
        return answer

    async def close(self, session_id: str) -> None:
        """Close one session; the media process stops with the last one."""
        if self.process is not None:
            with contextlib.suppress(MediaError):
                await asyncio.shield(self.call("close", session_id))

    async def describe(self) -> dict[str, SessionStatus]:
        """The open sessions as the media process sees them (empty when none runs)."""
        if self.process is None:
            return {}
        with contextlib.suppress(MediaError):
            status: dict[str, SessionStatus] = await self.call("describe")
            return status
        return {}

    def send_vitals(self, values: Mapping[str, JsonValue]) -> None:
        """Hand live values to every open session's data channel, without waiting."""
        process = self.process
        if process is not None and process.opened.sessions:
            process.cast("send_vitals", dict(values))

    async def publish_to_sfu(self, grant: SfuGrant) -> None:
        """Publish the trolley into a consultation's Janus room (the process stays up while
        it publishes)."""
        with contextlib.suppress(MediaError):
            await self.call("publish_to_sfu", grant)

    async def stop_sfu(self, consultation_id: int) -> None:
        """Stop publishing into a consultation's Janus room."""
        if self.process is not None:
            with contextlib.suppress(MediaError):
                await asyncio.shield(self.call("stop_sfu", consultation_id))

    async def publications(self) -> dict[int, Publication]:
        """The Janus rooms the trolley is published into, by consultation (empty when no
        media process runs)."""
        if self.process is None:
            return {}
        with contextlib.suppress(MediaError):
            found: dict[int, Publication] = await self.call("publications")
            return found
        return {}

    async def close_all(self) -> None:
        """Close every session and stop the media process (killing it if it is stuck)."""
        async with self._lock:
            process, self._process = self._process, None
            if process is not None:
                await process.stop()

    async def _stop_when_idle(self) -> None:
        async with self._lock:
            process = self._process
            if process is None or self._busy:
                return
            if process.gone.is_set() or not process.opened.in_use:
                self._process = None
                await process.stop()
                logger.info("media process %s stopped", process.pid)
