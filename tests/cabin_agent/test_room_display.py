"""The room's screen against the cabin: a room console (an aiortc peer) stays connected while
the doctor's browser (another aiortc peer) joins, leaves and joins again; the room sees the
doctor's frames each time, without a new connection of its own."""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from cabin_agent.config import AgentConfig, HubSection
from cabin_agent.media_sessions import AgentMedia
from cabin_agent.room_display import VIDEO_CLOCK_RATE, RoomScreen
from hub.wire import MediaOffer
from tests.cabin_agent.test_media import TIMEOUT, Browser
from tests.support.waiting import eventually

JOINS = 3


class RoomConsole:
    """The nurse's console in the room: receives one video and one audio from the cabin."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.frames = {"video": 0, "audio": 0}
        self.ended = False
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._track)
        for kind in ("video", "audio"):
            self.pc.addTransceiver(kind, direction="recvonly")

    def _track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._count(track)))

    async def _count(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                self.frames[track.kind] += 1
        except MediaStreamError:
            self.ended = True

    async def join(self, media: AgentMedia) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await media.offer(
            MediaOffer(
                session_id="room", sdp=self.pc.localDescription.sdp, ice_servers=(), purpose="room"
            )
        )
        assert answer.error == ""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def media() -> AsyncIterator[AgentMedia]:
    config = AgentConfig(hub=HubSection(url="http://127.0.0.1:1", cabin_id=1, token="t"))
    media = AgentMedia(config, simulate=True)
    yield media
    await media.close_all()


async def test_the_room_sees_the_doctor_each_time_the_doctor_joins_again(
    media: AgentMedia,
) -> None:
    """The room's console connects before the doctor (it is told to wait, not refused), then
    the doctor joins and leaves three times: each time the room's video starts moving again on
    the same connection."""
    room = RoomConsole()
    try:
        await room.join(media)
        for join in range(JOINS):
            doctor = Browser()
            session_id = f"doctor-{join}"
            try:
                answer = await media.offer(
                    MediaOffer(session_id=session_id, sdp=await doctor.offer(), ice_servers=())
                )
                assert answer.error == ""
                await doctor.accept(answer.sdp)
                before = room.frames["video"]
                await eventually(
                    lambda before=before: room.frames["video"] >= before + 5,  # type: ignore[misc]
                    f"the doctor on the room's screen (join {join + 1})",
                    timeout=TIMEOUT,
                )
            finally:
                await media.close(session_id)
                await doctor.close()
        assert not room.ended
    finally:
        await room.close()


def doctor_frame(pts: int) -> VideoFrame:
    """A frame as a received track gives it: its time counted from the session's start."""
    frame = VideoFrame(16, 16, "yuv420p")
    frame.pts, frame.time_base = pts, fractions.Fraction(1, VIDEO_CLOCK_RATE)
    return frame


async def test_the_screen_shows_the_latest_doctor_with_times_that_keep_rising() -> None:
    """Each doctor's session counts its frames' times from zero; the room's screen stamps them
    again on its own clock, so they keep rising from one session to the next (a receiver
    drops frames that go back in time). Frames of a session the screen no longer follows are
    not shown, and a slow reader gets the newest picture, not a queue of old ones."""
    now = [100.0]
    screen = RoomScreen(clock=lambda: now[0])
    feed = screen.feed("video")
    screen.follow("first")
    shown: list[int] = []
    for pts in (0, 3000, 6000):
        screen.push("first", "video", doctor_frame(pts))
        now[0] += 1 / 30
        shown.append(int((await feed.recv()).pts or 0))
    screen.forget("first")
    screen.follow("second")
    late = [doctor_frame(0), doctor_frame(3000)]
    for frame in late:
        screen.push("second", "video", frame)
    screen.push("first", "video", doctor_frame(9000))  # the first session, closing: not shown
    newest = await feed.recv()
    assert newest is late[-1]
    shown.append(int(newest.pts or 0))
    assert shown == sorted(set(shown))
    feed.stop()
    with pytest.raises(MediaStreamError):
        await feed.recv()
