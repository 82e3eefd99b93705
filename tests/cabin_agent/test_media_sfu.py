"""The cabin publishes into a consultation's Janus VideoRoom (a real Janus, started by the test
support, driven by the hub's client) and a doctor's browser, played by aiortc, subscribes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket
from av import AudioFrame, Packet, VideoFrame

from cabin_agent.config import AgentConfig, HubSection, MediaSection
from cabin_agent.media_sessions import AgentMedia
from cabin_agent.media_sfu import SfuError, SfuPublisher, SfuSubscriber
from cabin_agent.media_sources import SourceKind, TrolleySources, synthetic_sources
from devices.media.quality import VideoQuality, video_ladder
from devices.media.tracks import (
    OpusAudioModeTrack,
    OtoscopeTrack,
    RoomCameraTrack,
    StethoscopeTrack,
)
from hub.config import Settings
from hub.consultation.sfu import SfuRooms
from hub.wire import MediaOffer
from hub.wire.janus import SfuGrant
from tests.cabin_agent.test_media import Browser
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


class RecordingStethoscope(OpusAudioModeTrack):
    """The cabin's stethoscope encoder, keeping the Opus packets it hands to aiortc."""

    def __init__(self) -> None:
        super().__init__(StethoscopeTrack())
        self.sent: set[bytes] = set()

    async def recv(self) -> Packet[Any]:
        packet = await super().recv()
        self.sent.add(bytes(packet))
        return packet


async def test_the_stethoscope_reaches_the_doctor_as_the_cabin_encoded_it(rooms: SfuRooms) -> None:
    """Janus forwards the Opus packets: each one the doctor receives is one the cabin's
    "audio"-mode encoder made, byte for byte (no re-encoding anywhere on the way)."""
    consultation = next(_rooms)
    grants = await rooms.open_room(consultation)
    stethoscope = RecordingStethoscope()
    small = VideoQuality.fixed(*ROOM_SIZE, FPS)
    publisher = SfuPublisher(
        grants["cabin"],
        room=RoomCameraTrack(quality=small),
        otoscope=OtoscopeTrack(quality=small),
        stethoscope=stethoscope,
    )
    subscriber = SfuSubscriber(grants["doctor"])
    received: list[bytes] = []
    try:
        tracks = await subscriber.subscribe(await publisher.publish())
        await eventually(lambda: "stethoscope" in tracks, "the stethoscope", timeout=TIMEOUT)
        receiver = next(  # aiortc hands over decoded frames: read the payloads before that
            t.receiver for t in subscriber._pc.getTransceivers() if t.kind == "audio"
        )
        handle = receiver._handle_rtp_packet

        async def keep_payload(packet: RtpPacket, arrival_time_ms: int) -> None:
            received.append(bytes(packet.payload))
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = keep_payload
        await frames(tracks["stethoscope"], 50)
        await eventually(lambda: len(received) >= 25, "a half-second of stethoscope packets")
        assert all(payload in stethoscope.sent for payload in received)
    finally:
        await subscriber.close()
        await publisher.close()
        await rooms.close_room(consultation, ["cabin", "doctor"])


async def test_a_cabin_with_a_wrong_pin_is_refused(rooms: SfuRooms) -> None:
    consultation = next(_rooms)
    grant = (await rooms.open_room(consultation))["cabin"]
    publisher = SfuPublisher.synthetic(dataclasses.replace(grant, pin="1234"))
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
    publisher = SfuPublisher.synthetic(  # the simulated trolley, as `--simulate` runs it
        grants["cabin"], quality=VideoQuality.fixed(*ROOM_SIZE, FPS)
    )
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


async def test_publishing_to_janus_during_the_call_opens_each_source_once(
    rooms: SfuRooms,
) -> None:
    """A real camera opened a second time fails: the doctor's peer-to-peer call and the
    consultation's Janus room read the same opening of each source, both receive media, and
    each source closes once neither sends it any more."""
    media_section = MediaSection(video_width=ROOM_SIZE[0], video_height=ROOM_SIZE[1], video_fps=FPS)
    config = AgentConfig(
        hub=HubSection(url="http://127.0.0.1:1", cabin_id=1, token="t"), media=media_section
    )
    simulated = synthetic_sources(media_section)
    opened: list[SourceKind] = []

    def counting(kind: SourceKind) -> MediaStreamTrack:
        opened.append(kind)
        return simulated(kind)

    media = AgentMedia(config, simulate=True, sources=TrolleySources(counting))
    consultation = next(_rooms)
    grants = await rooms.open_room(consultation)
    doctor = Browser()
    guest = SfuSubscriber(grants["doctor"])
    try:
        answer = await media.offer(
            MediaOffer(session_id="s1", sdp=await doctor.offer(), ice_servers=())
        )
        assert answer.error == ""
        await doctor.accept(answer.sdp)
        await media.publish_to_sfu(grants["cabin"])
        feed = media.publishers[consultation].feed
        assert feed is not None
        tracks = await guest.subscribe(feed)
        await eventually(lambda: len(tracks) == 3, "the cabin's tracks via Janus", timeout=TIMEOUT)
        for label in ("room", "otoscope", "stethoscope"):
            await frames(tracks[label], 3)
        await eventually(
            lambda: min(doctor.frames.values()) >= 3, "the call's media", timeout=TIMEOUT
        )
        assert sorted(opened) == sorted(SourceKind)  # once each, for both paths
        assert media.sources.open == frozenset(SourceKind)

        await media.close("s1")  # the doctor leaves the call: Janus still gets the trolley
        assert media.sources.open == frozenset(SourceKind)
        await frames(tracks["room"], 3)
        await media.stop_sfu(consultation)
        assert media.sources.open == frozenset()
        assert sorted(opened) == sorted(SourceKind)
    finally:
        await guest.close()
        await doctor.close()
        await media.close_all()
        await rooms.close_room(consultation, ["cabin", "doctor"])


async def test_janus_reports_step_the_published_videos_down_and_back_up(rooms: SfuRooms) -> None:
    """Like the peer-to-peer path, the cabin's publication follows its quality ladder: after a
    report of heavy loss (injected) the doctor receives smaller videos through Janus; Janus's
    own calm receiver reports then bring them back to the configured size."""
    quality = VideoQuality(video_ladder(*ROOM_SIZE, FPS, min_width=160, min_fps=5))
    consultation = next(_rooms)
    grants = await rooms.open_room(consultation)
    publisher = SfuPublisher.synthetic(grants["cabin"], quality=quality)
    subscriber = SfuSubscriber(grants["doctor"])
    try:
        tracks = await subscriber.subscribe(await publisher.publish())
        await eventually(lambda: "room" in tracks, "the room camera", timeout=TIMEOUT)
        last: list[VideoFrame] = []

        async def watch() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await tracks["room"].recv()
                    assert isinstance(frame, VideoFrame)
                    last[:] = [frame]

        watching = asyncio.create_task(watch())
        await eventually(lambda: last, "the room's frames", timeout=TIMEOUT)
        quality.remote_loss(0.5)
        quality.remote_loss(0.5)
        assert quality.level.width == ROOM_SIZE[0] // 2

        await eventually(
            lambda: last[0].width == ROOM_SIZE[0] // 2, "smaller frames via Janus", timeout=TIMEOUT
        )
        assert publisher.reports is not None
        reports = publisher.reports

        async def back_up() -> bool:
            await reports.poll()
            return quality.index == 0

        await eventually(back_up, "calm reports from Janus", timeout=TIMEOUT)

        await eventually(lambda: last[0].width == ROOM_SIZE[0], "full size", timeout=TIMEOUT)
        watching.cancel()
    finally:
        await subscriber.close()
        await publisher.close()
        await rooms.close_room(consultation, ["cabin", "doctor"])
