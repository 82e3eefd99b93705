"""The room's screen and speaker: the doctor's camera and microphone, as received by the
consultation's media session, sent on to the nurse's console in the room (a second peer
connection; aiortc re-encodes for this one viewer).

The room's connection outlives the doctor's: the doctor may leave and join again (a new media
session each time) while the room's console stays connected. `RoomScreen` is fed the frames of
the doctor's latest session and hands them to every room connection's `DoctorFeed`, the track
its sender reads; the feed waits while no doctor is there. Frames are stamped again on the
screen's own clock, so their timestamps keep rising from one doctor's session to the next
(each received track restarts at zero, and a receiver drops frames that go back in time).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import time
from collections.abc import Callable, Sequence

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from cabin_agent.media import IceServerConfig, _ice_server

Frame = VideoFrame | AudioFrame

NO_MEDIA = "L'écran de la salle n'a demandé ni image ni son : rechargez la page."
VIDEO_CLOCK_RATE = 90_000
#: Frames a feed keeps for a slow encoder: the newest picture only (a late picture is worth
#: nothing), about half a second of sound (dropping sound is heard).
KEPT_FRAMES = {"video": 1, "audio": 25}


class RoomDisplayError(Exception):
    """The room's screen cannot show the doctor; the message says why (French)."""


class DoctorFeed(MediaStreamTrack):
    """The doctor's camera or microphone for one room connection: the frames `push`ed, the
    oldest dropped when the reader falls behind; `recv` waits while none come."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._frames: collections.deque[Frame] = collections.deque(maxlen=KEPT_FRAMES[kind])
        self._arrived = asyncio.Event()

    def push(self, frame: Frame) -> None:
        self._frames.append(frame)
        self._arrived.set()

    async def recv(self) -> Frame:
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._arrived.clear()
            await self._arrived.wait()
        if self.readyState != "live":
            raise MediaStreamError
        return self._frames.popleft()

    def stop(self) -> None:
        super().stop()
        self._frames.clear()
        self._arrived.set()


class RoomScreen:
    """What the doctor's latest media session receives, handed to every room connection.
    Sources are named by the consultation session's id."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._feeds: set[DoctorFeed] = set()
        self._source: str | None = None
        self._last_video_pts = -1
        self._audio_samples = 0

    def follow(self, source: str) -> None:
        """Show `source`'s frames from now on (the doctor's newest session), no one else's."""
        self._source = source

    def forget(self, source: str) -> None:
        """`source` is gone (the doctor left): the screens wait for the next one."""
        if self._source == source:
            self._source = None

    def frame_callback(self, source: str) -> Callable[[str, Frame], None]:
        """Return the callback `source` gives its frames to (see `MediaSession`)."""
        return lambda kind, frame: self.push(source, kind, frame)

    def push(self, source: str, kind: str, frame: Frame) -> None:
        """Stamp a frame of the followed source on the screen's clock and hand it on."""
        if source != self._source or not self._feeds:
            return
        if isinstance(frame, VideoFrame):
            pts = max(self._last_video_pts + 1, round(self._clock() * VIDEO_CLOCK_RATE))
            self._last_video_pts = pts
            frame.pts, frame.time_base = pts, fractions.Fraction(1, VIDEO_CLOCK_RATE)
        else:
            frame.pts, frame.time_base = self._audio_samples, fractions.Fraction(1, frame.rate)
            self._audio_samples += frame.samples
        for feed in self._feeds:
            if feed.kind == kind:
                feed.push(frame)

    def feed(self, kind: str) -> DoctorFeed:
        """A new feed of the doctor's `kind` for one room connection (stop it to let go)."""
        feed = DoctorFeed(kind)
        self._feeds.add(feed)
        feed.on("ended", lambda: self._feeds.discard(feed))
        return feed


class RoomDisplay:
    """One peer connection to the room's console, fed by the room's screen."""

    def __init__(self, screen: RoomScreen, ice_servers: Sequence[IceServerConfig] = ()) -> None:
        self._screen = screen
        self._feeds: list[DoctorFeed] = []
        self._pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[_ice_server(s) for s in ice_servers])
        )

    async def answer(self, offer_sdp: str) -> str:
        """Answer the room console's offer (it receives a video and an audio), whether the
        doctor is there yet or not: the doctor appears whenever they join."""
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in self._pc.getTransceivers():
            if transceiver.kind in KEPT_FRAMES and transceiver.sender.track is None:
                feed = self._screen.feed(transceiver.kind)
                self._feeds.append(feed)
                transceiver.sender.replaceTrack(feed)
                transceiver.direction = "sendonly"
        if not self._feeds:
            raise RoomDisplayError(NO_MEDIA)
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        return str(self._pc.localDescription.sdp)

    async def close(self) -> None:
        for feed in self._feeds:
            feed.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pc.close()
