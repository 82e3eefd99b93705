"""One source track read once and handed to several consumers: a camera, otoscope or
stethoscope is opened once however many paths send it (the doctor's peer connection, a Janus
room), and stopped when its last consumer stops.

Unlike aiortc's `MediaRelay`, a consumer's backlog is bounded (a video consumer keeps the
newest frame only, an audio one a second of frames, oldest dropped first) and the source is
stopped, and its reader ended, once nobody reads it. A consumer also says how long its oldest
unread frame waited (`lag`): a consumer that cannot keep up is one whose frames wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame
from av.packet import Packet

logger = logging.getLogger(__name__)

#: Frames a consumer may leave unread before the oldest is dropped, by kind.
BACKLOG = {"video": 1, "audio": 50}

Clock = Callable[[], float]


class FanOut:
    """Reads `source` in one task once subscribed, gives each frame to every consumer."""

    def __init__(
        self,
        source: MediaStreamTrack,
        *,
        on_ended: Callable[[FanOut], None] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.source = source
        self._on_ended = on_ended
        self._clock = clock
        self._consumers: set[SharedTrack] = set()
        self._task: asyncio.Task[None] | None = None
        self.ended = False

    def subscribe(self) -> SharedTrack:
        """Return a new consumer of the source (stop it to let the source go)."""
        if self.ended:
            raise MediaStreamError("the source has ended")
        consumer = SharedTrack(self, BACKLOG.get(self.source.kind, 1), self._clock)
        self._consumers.add(consumer)
        if self._task is None:
            self._task = asyncio.ensure_future(self._pump())
        return consumer

    @property
    def consumers(self) -> int:
        return len(self._consumers)

    async def _pump(self) -> None:
        try:
            while self._consumers:
                frame = await self.source.recv()
                for consumer in list(self._consumers):
                    consumer.put(frame)
                await asyncio.sleep(0)  # a source that never waits leaves the consumers a turn
        except MediaStreamError:
            pass
        except Exception:  # a capture failing its own way ends the source like an unplug
            logger.exception("%s source failed", self.source.kind)
        finally:
            self._end()

    def _leave(self, consumer: SharedTrack) -> None:
        self._consumers.discard(consumer)
        if not self._consumers:
            self._end()

    def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        self.source.stop()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        for consumer in list(self._consumers):
            consumer.stop()
        if self._on_ended is not None:
            self._on_ended(self)


class SharedTrack(MediaStreamTrack):
    """One consumer of a `FanOut`: the source's frames as they come, its backlog bounded."""

    def __init__(self, fanout: FanOut, backlog: int, clock: Clock) -> None:
        super().__init__()
        self.kind = fanout.source.kind
        self._fanout = fanout
        self._clock = clock
        self._frames: deque[Frame | Packet[Any]] = deque(maxlen=backlog)
        self._waiting_since: float | None = None
        self._arrived = asyncio.Event()
        #: How long the frame last handed out had waited for this consumer, in seconds.
        self.lag = 0.0

    def put(self, frame: Frame | Packet[Any]) -> None:
        if not self._frames:
            self._waiting_since = self._clock()
        self._frames.append(frame)
        self._arrived.set()

    async def recv(self) -> Frame | Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        while not self._frames:
            self._arrived.clear()
            await self._arrived.wait()
            if self.readyState != "live":
                raise MediaStreamError
        frame = self._frames.popleft()
        since = self._waiting_since
        self.lag = 0.0 if since is None else max(0.0, self._clock() - since)
        self._waiting_since = self._clock() if self._frames else None
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self._arrived.set()  # wake a reader waiting for a frame that will not come
            with contextlib.suppress(Exception):
                self._fanout._leave(self)
