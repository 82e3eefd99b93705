"""The cabin publishes into a consultation's Janus VideoRoom (a real Janus, started by the test
support, driven by the hub's client) and a doctor's browser, played by aiortc, subscribes."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator

import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from cabin_agent.media_sfu import SfuError, SfuPublisher, SfuSubscriber
from devices.media.quality import VideoQuality
from devices.media.tracks import OtoscopeTrack, RoomCameraTrack, StethoscopeTrack
from hub.config import Settings
from hub.consultation.sfu import SfuRooms
from hub.wire.janus import SfuGrant
from tests.support.waiting import eventually

TIMEOUT = 20.0
FPS = 10.0
ROOM_SIZE = (320, 240)
OTOSCOPE_SIZE = (352, 288)
_rooms = itertools.count(2000)


@pytest.fixture
async def rooms(janus_settings: Settings) -> AsyncIterator[SfuRooms]:
    client = SfuRooms(janus_settings)
    yield client
    await client.aclose()


def cabin(grant: SfuGrant) -> SfuPublisher:
    """The simulated trolley; the two videos differ in size so they cannot be mixed up."""
    return SfuPublisher(
        grant,
        room=RoomCameraTrack(quality=VideoQuality.fixed(*ROOM_SIZE, FPS)),
        otoscope=OtoscopeTrack(width=OTOSCOPE_SIZE[0], height=OTOSCOPE_SIZE[1], fps=FPS),
        stethoscope=StethoscopeTrack(),
    )


async def frames(track: MediaStreamTrack, count: int) -> list[VideoFrame | AudioFrame]:
    received = []
    while len(received) < count:
        frame = await track.recv()
        assert isinstance(frame, VideoFrame | AudioFrame)
        received.append(frame)
    return received


async def test_the_doctor_receives_the_cabin_through_janus(rooms: SfuRooms) -> None:
    consultation = next(_rooms)
    grants = await rooms.open_room(consultation)
    publisher = cabin(grants["cabin"])
    subscriber = SfuSubscriber(grants["doctor"])
    try:
        feed = await publisher.publish()
        tracks = await subscriber.subscribe(feed)
        await eventually(lambda: len(tracks) == 3, "the cabin's three tracks", timeout=TIMEOUT)
        for label, size in (("room", ROOM_SIZE), ("otoscope", OTOSCOPE_SIZE)):
            video = await frames(tracks[label], 5)
            assert all(isinstance(f, VideoFrame) for f in video)
            assert {(f.width, f.height) for f in video} == {size}, label
            stamps = [f.pts for f in video if f.pts is not None]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), label
        audio = await frames(tracks["stethoscope"], 25)  # half a second of heart sounds
        assert all(isinstance(f, AudioFrame) for f in audio)
        assert sum(f.samples for f in audio) >= 0.5 * 48_000
        assert subscriber.codecs()["stethoscope"] == "audio/opus"
    finally:
        await subscriber.close()
        await publisher.close()
        await rooms.close_room(consultation, ["cabin", "doctor"])


async def test_a_cabin_with_a_wrong_pin_is_refused(rooms: SfuRooms) -> None:
    consultation = next(_rooms)
    grant = (await rooms.open_room(consultation))["cabin"]
    publisher = cabin(dataclasses.replace(grant, pin="1234"))
    try:
        with pytest.raises(SfuError, match="Unauthorized"):
            await publisher.publish()
        assert publisher.feed is None
    finally:
        await publisher.close()
        await rooms.close_room(consultation, ["cabin", "doctor"])


async def test_destroying_the_room_hangs_the_parties_up(rooms: SfuRooms) -> None:
    consultation = next(_rooms)
    grants = await rooms.open_room(consultation)
    publisher = cabin(grants["cabin"])
    subscriber = SfuSubscriber(grants["doctor"])
    try:
        tracks = await subscriber.subscribe(await publisher.publish())
        await eventually(lambda: "room" in tracks, "the room camera", timeout=TIMEOUT)
        await frames(tracks["room"], 2)
        await rooms.close_room(consultation, ["cabin", "doctor"])
        await eventually(lambda: publisher.room_closed, "the cabin told the room closed")
        with pytest.raises(MediaStreamError):  # the doctor's picture stops
            while True:
                await tracks["room"].recv()
        latecomer = SfuSubscriber(grants["doctor"])
        with pytest.raises(SfuError):  # and nobody joins the room again
            await latecomer.subscribe(publisher.feed or 0)
        await latecomer.close()
    finally:
        await subscriber.close()
        await publisher.close()
