"""Media on its own thread and event loop, so measurements never wait behind video.

The agent's measurement path (device runners, the outbox, the hub link) runs on the main event
loop; everything of aiortc (peer connections, tracks, encoders, the room's screen) runs on
`MediaThread`'s loop. `IsolatedMedia` is what the hub link and the agent talk to: it carries
each offer and close over to the media loop and brings the answer back, and hands the live
vitals over without waiting. When the last consultation's media closes, the thread stops and
its loop, executor and sessions are dropped; the next offer starts a fresh one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import ctypes.util
import gc
import logging
import sys
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from cabin_agent.media import JsonValue, MediaSession
from cabin_agent.media_sessions import SESSION_CLOSED, AgentMedia
from cabin_agent.media_sfu import SfuPublisher
from hub.wire import MediaAnswer, MediaOffer
from hub.wire.janus import SfuGrant

logger = logging.getLogger(__name__)

T = TypeVar("T")
STOP_TIMEOUT_SECONDS = 10.0
CLOSE_GRACE_SECONDS = 2.0
#: How long a thread may hold the interpreter while another waits for it, when media runs
#: (Python's default is 5 ms): a reading's few steps on the main loop each wait at most this
#: long behind the media thread's Python code.
MEDIA_SWITCH_INTERVAL_SECONDS = 0.0005


class MediaThread:
    """One thread running one event loop until `stop`."""

    def __init__(self, name: str = "cabin-media") -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, MEDIA_SWITCH_INTERVAL_SECONDS))
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                pending = asyncio.all_tasks(self.loop)
                if pending:  # closes under way get a moment to finish their work
                    self.loop.run_until_complete(asyncio.wait(pending, timeout=CLOSE_GRACE_SECONDS))
                for task in pending:
                    task.cancel()
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.run_until_complete(self.loop.shutdown_default_executor())
            finally:
                self.loop.close()

    @property
    def alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    async def run(self, coroutine: Coroutine[Any, Any, T], *, shielded: bool = False) -> T:
        """Run `coroutine` on the media loop; cancelling the caller cancels it there too,
        unless `shielded` (closing: a peer connection half closed would leak its sockets)."""
        future = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))
        return await (asyncio.shield(future) if shielded else future)

    def submit(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Start `coroutine` on the media loop without waiting for it; failures are logged."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        future.add_done_callback(_log_failure)

    async def stop(self) -> None:
        """Stop the loop (its tasks cancelled, its executor shut down) and wait for the thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_SECONDS)
        sys.setswitchinterval(self._switch_interval)
        if self._thread.is_alive():
            logger.warning("the media thread did not stop within %s s", STOP_TIMEOUT_SECONDS)


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("media task failed: %s", future.exception())


class IsolatedMedia:
    """The agent's media (`AgentMedia`) run on a `MediaThread`; the hub link's media handler."""

    def __init__(self, media: AgentMedia) -> None:
        self._media = media
        keep_large_buffers_apart()
        self._thread: MediaThread | None = None
        self._lock = asyncio.Lock()
        self._busy = 0
        #: Media threads started so far (one per stretch of consultations).
        self.threads_started = 0

    @property
    def sessions(self) -> dict[str, MediaSession]:
        """The open consultation sessions (owned by the media thread; read-only here)."""
        return self._media.sessions

    @property
    def publishers(self) -> dict[int, SfuPublisher]:
        """The trolley published into Janus rooms, by consultation (read-only here)."""
        return self._media.publishers

    @property
    def thread(self) -> MediaThread | None:
        """The running media thread, or None between consultations."""
        return self._thread

    async def offer(self, offer: MediaOffer) -> MediaAnswer:
        """Answer a doctor's (or the room's) offer on the media thread."""
        async with self._lock:
            if self._thread is None:
                self._thread = MediaThread()
                self.threads_started += 1
            thread = self._thread
            self._busy += 1
        answer: MediaAnswer | None = None
        try:
            answer = await thread.run(self._media.offer(offer))
            return answer
        finally:
            self._busy -= 1
            # A session found closed (after a network cut): the browser's new connection
            # follows at once; stopping the thread first would only delay the answer.
            if answer is None or answer.error != SESSION_CLOSED:
                await self._stop_when_idle()

    async def publish_to_sfu(self, grant: SfuGrant) -> None:
        """Publish the trolley into a consultation's Janus room, on the media thread."""
        thread = await self._start()
        try:
            await thread.run(self._media.publish_to_sfu(grant))
        finally:
            self._busy -= 1
            await self._stop_when_idle()

    async def stop_sfu(self, consultation_id: int) -> None:
        """Stop publishing into a consultation's Janus room; the thread stops if idle."""
        thread = self._thread
        if thread is not None:
            await thread.run(self._media.stop_sfu(consultation_id), shielded=True)
        await self._stop_when_idle()

    async def _start(self) -> MediaThread:
        """The media thread (started if need be), counted busy until the caller is done."""
        async with self._lock:
            if self._thread is None:
                self._thread = MediaThread()
                self.threads_started += 1
            self._busy += 1
            return self._thread

    async def close(self, session_id: str) -> None:
        """Close one session; the media thread stops with the last one."""
        thread = self._thread
        if thread is not None:
            await thread.run(self._media.close(session_id), shielded=True)
        await self._stop_when_idle()

    def send_vitals(self, values: Mapping[str, JsonValue]) -> None:
        """Hand live values to every open session's data channel, without waiting."""
        thread = self._thread
        if thread is not None and self._media.sessions:
            thread.submit(self._media.send_vitals(dict(values)))

    async def close_all(self) -> None:
        """Close every session and stop the media thread (abandoning it if it is stuck)."""
        thread = self._thread
        if thread is None:
            return
        try:
            await asyncio.wait_for(
                thread.run(self._media.close_all(), shielded=True), STOP_TIMEOUT_SECONDS
            )
        except TimeoutError:
            logger.warning("media did not close within %s s; left behind", STOP_TIMEOUT_SECONDS)
            self._thread = None
            thread.loop.call_soon_threadsafe(thread.loop.stop)
            return
        await self._stop_when_idle()

    async def _stop_when_idle(self) -> None:
        async with self._lock:
            thread = self._thread
            media = self._media
            if thread is None or self._busy or media.sessions or media.displays:
                return
            if media.publishers:
                return
            self._thread = None
            await thread.stop()
        release_memory()


#: glibc's mallopt parameter: allocations from this size up get their own mapping.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return None if name is None else ctypes.CDLL(name)


def keep_large_buffers_apart() -> None:
    """Give each large buffer (video pictures, encoder frames) its own mapping, returned to
    the system when freed. glibc otherwise raises that threshold after the first such buffer
    is freed and carves the next ones out of its heap, which it then keeps."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def release_memory() -> None:
    """Collect cycles and give freed heap back to the system (glibc keeps it otherwise)."""
    gc.collect()
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)
