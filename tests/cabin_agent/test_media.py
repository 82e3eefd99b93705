"""The cabin's media against a doctor's browser played by a second aiortc peer, on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription
from av import AudioFrame, VideoFrame

from cabin_agent.config import AgentConfig, HubSection
from cabin_agent.media import MediaNegotiationError, MediaSession, TrackLabel
from cabin_agent.media_ice import IceCredentials, begin_ice_restart, finish_ice_restart
from cabin_agent.media_sessions import SESSION_CLOSED, AgentMedia
from devices.media.quality import VideoQuality, video_ladder
from devices.media.tracks import OpusAudioModeTrack, OtoscopeTrack, StethoscopeTrack
from hub.wire import MediaOffer
from tests.support.waiting import eventually

TIMEOUT = 20.0
# Small frames keep the suite light on a busy machine; the two sizes tell the videos apart.
ROOM_SIZE = (320, 240)
OTOSCOPE_SIZE = (352, 288)
CAMERA_SIZE = (320, 240)
FPS = 10.0


def ice_of(sdp: str) -> IceCredentials:
    ice = SessionDescription.parse(sdp).media[0].ice
    assert ice is not None and ice.usernameFragment and ice.password
    return IceCredentials(ice.usernameFragment, ice.password)


def mids_of(pc: RTCPeerConnection) -> list[str]:
    return [str(t.mid) for t in pc.getTransceivers()]


class Browser:
    """The doctor's browser: sends a camera, receives two videos and one audio, opens "vitals".

    The camera's sendonly m-line comes first, so the cabin must not take it for the room.
    """

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.camera = OtoscopeTrack(width=CAMERA_SIZE[0], height=CAMERA_SIZE[1], fps=FPS)
        self.pc.addTransceiver(self.camera, direction="sendonly")
        self.receiving = [
            self.pc.addTransceiver(kind, direction="recvonly")
            for kind in ("video", "video", "audio")
        ]
        self.channel = self.pc.createDataChannel("vitals")
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.channel.on("message", lambda m: self.messages.put_nowait(json.loads(m)))
        self.frames: dict[str, int] = {}
        self.ended: set[str] = set()  # received tracks the cabin stopped sending
        self.last_frame: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        if not self._tasks:
            for transceiver in self.receiving:
                mid = str(transceiver.mid)
                self.frames[mid] = 0
                self._tasks.append(
                    asyncio.create_task(self._count(mid, transceiver.receiver.track))
                )

    async def _count(self, mid: str, track: MediaStreamTrack) -> None:
        try:
            while True:
                self.last_frame[mid] = await track.recv()
                self.frames[mid] += 1
        except MediaStreamError:
            self.ended.add(mid)

    async def close(self) -> None:
        await self.pc.close()
        self.camera.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    browser = Browser()
    yield browser
    await browser.close()


@pytest.fixture
async def session() -> AsyncIterator[tuple[MediaSession, list[str]]]:
    states: list[str] = []
    session = MediaSession(
        room=OtoscopeTrack(width=ROOM_SIZE[0], height=ROOM_SIZE[1], fps=FPS),
        otoscope=OtoscopeTrack(width=OTOSCOPE_SIZE[0], height=OTOSCOPE_SIZE[1], fps=FPS),
        stethoscope=StethoscopeTrack(),
        ice_servers=[],
        on_state=states.append,
    )
    yield session, states
    await session.close()


async def connect(browser: Browser, session: MediaSession) -> dict[str, str]:
    """Negotiate, wait for the data channel's first message, return its mid → label map."""
    await browser.accept(await session.answer(await browser.offer()))
    async with asyncio.timeout(TIMEOUT):
        first = await browser.messages.get()
    assert first["type"] == "tracks"
    mids: dict[str, str] = first["mids"]
    return mids


async def test_a_consultation_sends_room_otoscope_and_stethoscope_and_receives_the_doctor(
    browser: Browser, session: tuple[MediaSession, list[str]]
) -> None:
    agent, states = session
    mids = await connect(browser, agent)

    camera, room_mid, otoscope_mid, stethoscope_mid = mids_of(browser.pc)
    assert mids == {room_mid: "room", otoscope_mid: "otoscope", stethoscope_mid: "stethoscope"}
    assert agent.track_labels() == mids
    assert camera not in mids
    assert agent.negotiated_codecs()[stethoscope_mid] == "audio/opus"
    answer_audio = next(
        m
        for m in SessionDescription.parse(browser.pc.remoteDescription.sdp).media
        if m.rtp.muxId == stethoscope_mid
    )
    assert {c.mimeType.lower() for c in answer_audio.rtp.codecs} == {"audio/opus"}

    await eventually(
        lambda: min(browser.frames.values()) >= 5, "frames on every received track", timeout=TIMEOUT
    )
    for mid, size in ((room_mid, ROOM_SIZE), (otoscope_mid, OTOSCOPE_SIZE)):
        frame = browser.last_frame[mid]
        assert isinstance(frame, VideoFrame)
        assert (frame.width, frame.height) == size
    heart = browser.last_frame[stethoscope_mid]
    assert isinstance(heart, AudioFrame)
    assert heart.sample_rate == 48_000
    assert "connected" in states

    await eventually(
        lambda: agent.doctor_frames["video"] >= 5,
        "the doctor's camera at the cabin",
        timeout=TIMEOUT,
    )
    assert set(agent.doctor_tracks) == {"video"}

    await agent.send_vitals({"spo2": 97})
    async with asyncio.timeout(TIMEOUT):
        assert await browser.messages.get() == {"type": "vitals", "values": {"spo2": 97}}
    assert (agent.vitals_sent, agent.vitals_dropped) == (1, 0)

    await agent.close()
    assert agent.state == "closed" and states[-1] == "closed"
    # The cabin said goodbye on every track (RTCP BYE): the doctor's pictures and sound end.
    await eventually(
        lambda: browser.ended == set(browser.frames), "every received track to end", timeout=TIMEOUT
    )
    await agent.send_vitals({"spo2": 96})
    assert agent.vitals_dropped == 1


async def test_an_ice_restart_offer_gets_new_credentials_and_media_keeps_flowing(
    browser: Browser, session: tuple[MediaSession, list[str]]
) -> None:
    agent, states = session
    mids = await connect(browser, agent)
    first_offer = ice_of(browser.pc.localDescription.sdp)
    first_answer = ice_of(browser.pc.remoteDescription.sdp)
    await eventually(
        lambda: min(browser.frames.values()) >= 1, "media before the restart", timeout=TIMEOUT
    )

    begin_ice_restart(browser.pc, None)
    offer = await browser.offer()
    assert ice_of(offer) != first_offer
    answer = await agent.answer(offer)
    assert ice_of(answer) != first_answer
    await browser.accept(answer)
    async with asyncio.timeout(TIMEOUT):
        await finish_ice_restart(browser.pc, ice_of(answer))

    await eventually(
        lambda: agent.ice_restarts == 1,
        "the cabin's side of the restart completes",
        timeout=TIMEOUT,
    )
    assert agent.track_labels() == mids
    before = dict(browser.frames)
    camera_before = agent.doctor_frames["video"]
    await eventually(
        lambda: all(browser.frames[m] >= before[m] + 5 for m in before),
        "media on every track after the restart",
        timeout=TIMEOUT,
    )
    await eventually(
        lambda: agent.doctor_frames["video"] >= camera_before + 5,
        "the doctor's camera after the restart",
        timeout=TIMEOUT,
    )
    await agent.send_vitals({"spo2": 98})
    assert agent.vitals_dropped == 0
    async with asyncio.timeout(TIMEOUT):
        assert await browser.messages.get() == {"type": "vitals", "values": {"spo2": 98}}
    assert states[-1] == "connected"
    assert "failed" not in states and "disconnected" not in states


async def test_a_browser_that_trickles_its_candidates_connects(
    browser: Browser, session: tuple[MediaSession, list[str]]
) -> None:
    """Browsers send the offer at once and the candidates one by one, then null."""
    agent, states = session
    lines = (await browser.offer()).splitlines()
    candidates = [line.removeprefix("a=") for line in lines if line.startswith("a=candidate:")]
    bare_offer = "\r\n".join(
        line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    )
    assert candidates
    answer = await agent.answer(bare_offer + "\r\n")
    for candidate in candidates:
        await agent.add_ice_candidate(candidate, sdp_mid=mids_of(browser.pc)[0], sdp_mline_index=0)
    await agent.add_ice_candidate(None)
    await browser.accept(answer)
    await eventually(
        lambda: min(browser.frames.values()) >= 3, "frames on every received track", timeout=TIMEOUT
    )
    assert "connected" in states


async def test_vitals_before_the_channel_opens_are_dropped_and_counted() -> None:
    agent = MediaSession.synthetic()
    try:
        await agent.send_vitals({"heart_rate": 72})
        assert (agent.vitals_sent, agent.vitals_dropped) == (0, 1)
    finally:
        await agent.close()
    assert agent.state == "closed"


async def test_restart_ice_asks_the_browser_for_a_new_offer() -> None:
    requests: list[str] = []

    async def relay() -> None:
        requests.append("restart_ice")

    agent = MediaSession.synthetic(on_restart_needed=relay)
    try:
        await agent.restart_ice()
    finally:
        await agent.close()
    assert requests == ["restart_ice"]


async def test_the_stethoscope_is_encoded_in_opus_audio_mode_by_the_cabin() -> None:
    """aiortc's own encoder would use "voip" mode; the session wraps a raw track itself."""
    heart = StethoscopeTrack()
    agent = MediaSession(room=OtoscopeTrack(), otoscope=OtoscopeTrack(), stethoscope=heart)
    try:
        sent = agent.sent_track(TrackLabel.STETHOSCOPE)
        assert isinstance(sent, OpusAudioModeTrack) and sent.source is heart
        assert sent.codec.options == {"application": "audio"}
    finally:
        await agent.close()
    assert heart.readyState == "ended"


async def test_an_offer_without_two_receiving_videos_is_refused(
    session: tuple[MediaSession, list[str]],
) -> None:
    agent, _ = session
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        with pytest.raises(MediaNegotiationError, match="receives 1 video track"):
            await agent.answer(pc.localDescription.sdp)
    finally:
        await pc.close()


async def test_an_offer_to_a_connection_the_cabin_closed_asks_for_a_new_one() -> None:
    """aiortc closes the cabin's side once DTLS is gone (here: the browser went away). A later
    restart offer is refused with words the doctor reads, and the browser's fresh offer gets a
    new connection with media — instead of "Cannot handle offer in signaling state closed"."""
    config = AgentConfig(hub=HubSection(url="http://127.0.0.1:1", cabin_id=1, token="t"))
    media = AgentMedia(config, simulate=True)
    first = Browser()
    try:
        answer = await media.offer(
            MediaOffer(session_id="s1", sdp=await first.offer(), ice_servers=())
        )
        assert answer.error == ""
        await first.accept(answer.sdp)
        await eventually(lambda: min(first.frames.values()) >= 1, "media", timeout=TIMEOUT)
        cabin = media.sessions["s1"]
    finally:
        await first.close()
    await eventually(lambda: cabin.closed, "the cabin's side closed by aiortc", timeout=TIMEOUT)

    second = Browser()
    try:
        refused = await media.offer(
            MediaOffer(session_id="s1", sdp=await second.offer(), ice_servers=())
        )
        assert (refused.sdp, refused.error) == ("", SESSION_CLOSED)
        assert "s1" not in media.sessions
        answer = await media.offer(
            MediaOffer(session_id="s1", sdp=await second.offer(), ice_servers=())
        )
        assert answer.error == ""
        await second.accept(answer.sdp)
        await eventually(
            lambda: min(second.frames.values()) >= 5, "media on the new connection", timeout=TIMEOUT
        )
    finally:
        await second.close()
        await media.close_all()


async def test_the_browsers_reports_bring_stepped_down_videos_back_up(browser: Browser) -> None:
    """The browser's RTCP receiver reports reach the videos' quality: after a report of heavy
    loss (injected) the videos are smaller; the browser's own calm reports then step them back
    up to the configured size."""
    quality = VideoQuality(video_ladder(*ROOM_SIZE, FPS, min_width=160, min_fps=5))
    agent = MediaSession.synthetic(quality=quality)
    try:
        mids = await connect(browser, agent)
        room = next(mid for mid, label in mids.items() if label == "room")
        await eventually(lambda: browser.frames[room] >= 3, "the room's video", timeout=TIMEOUT)
        quality.remote_loss(0.5)
        quality.remote_loss(0.5)
        assert quality.level.width == ROOM_SIZE[0] // 2
        await eventually(
            lambda: browser.last_frame[room].width == ROOM_SIZE[0] // 2, "smaller frames"
        )
        assert agent.reports is not None
        reports = agent.reports

        async def back_up() -> bool:
            await reports.poll()
            return quality.index == 0

        await eventually(back_up, "calm reports from the browser", timeout=TIMEOUT)
        await eventually(lambda: browser.last_frame[room].width == ROOM_SIZE[0], "full size")
    finally:
        await agent.close()
