"""The cabin's media through the SFU (consultations with more than two parties): the agent
publishes the trolley's tracks — room camera, otoscope, stethoscope — into the consultation's
Janus VideoRoom, and may subscribe to another party's feed. One-to-one consultations keep the
peer-to-peer path of `cabin_agent.media`. Like that path, the publisher steps its videos down
the quality ladder when Janus's receiver reports say packets are lost (`RemoteReports`).

Here the agent is the offerer: `SfuPublisher` joins the room as a publisher (with the room's
pin and its own token, from the hub), offers three send-only m-lines — VP8, VP8, Opus — and
applies Janus's answer. Janus forwards the packets as they come: the stethoscope stays Opus in
"audio" application mode (`OpusAudioModeTrack`), never re-encoded. For a subscriber Janus
offers and the agent answers.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from aiortc import RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription

from cabin_agent.janus_session import JanusSession
from cabin_agent.media import OPUS_MIME_TYPE, SENT_TRACKS, TrackLabel
from cabin_agent.media_quality import RemoteReports
from devices.media.quality import VideoQuality
from devices.media.tracks import (
    OpusAudioModeTrack,
    OtoscopeTrack,
    RoomCameraTrack,
    StethoscopeTrack,
)
from hub.wire.janus import JanusError, SfuGrant, jsep

logger = logging.getLogger(__name__)

VP8_MIME_TYPE = "video/vp8"


class SfuError(Exception):
    """Janus refused the agent (wrong pin or token, no such room) or answered nonsense."""


async def _hang_up_when_over(janus: JanusSession, pc: RTCPeerConnection) -> None:
    """Close `pc` once Janus says the room is over (its tracks then end for their readers).

    The close is shielded: the owner's own `close` cancels this watcher, and an aiortc close
    cancelled half-way never finishes, so the owner's close would then wait for it forever (the
    room destroyed at the end of a consultation, then sfu_stop: the cabin hung)."""
    await janus.ended.wait()
    await asyncio.shield(pc.close())


def _prefer(transceiver: RTCRtpTransceiver, kind: str, mime_type: str) -> None:
    codecs = RTCRtpSender.getCapabilities(kind).codecs
    transceiver.setCodecPreferences(
        [c for c in codecs if c.mimeType.lower() in (mime_type, f"{kind}/rtx")]
    )


class SfuPublisher:
    """The cabin's tracks published into one consultation's VideoRoom."""

    def __init__(
        self,
        grant: SfuGrant,
        *,
        room: MediaStreamTrack,
        otoscope: MediaStreamTrack,
        stethoscope: MediaStreamTrack,
        display: str = "Cabine",
        http: httpx.AsyncClient | None = None,
        quality: VideoQuality | None = None,
    ) -> None:
        """Take ownership of the tracks (stopped by `close`); wrap a raw stethoscope in Opus.

        `quality`, shared with the video tracks, is told Janus's receiver reports (packets lost
        on the way to Janus), as the peer-to-peer path tells it the browser's."""
        if not isinstance(stethoscope, OpusAudioModeTrack):
            stethoscope = OpusAudioModeTrack(stethoscope)
        self._tracks: dict[TrackLabel, MediaStreamTrack] = {
            TrackLabel.ROOM: room,
            TrackLabel.OTOSCOPE: otoscope,
            TrackLabel.STETHOSCOPE: stethoscope,
        }
        self._display = display
        self._http = http or httpx.AsyncClient(timeout=10)
        self._own_http = http is None
        self._janus = JanusSession(grant, self._http)
        self._pc = RTCPeerConnection()
        self._watch: asyncio.Task[None] | None = None
        self._reporting: asyncio.Task[None] | None = None
        #: The publisher id Janus gave the cabin in the room (subscribers ask for this feed).
        self.feed: int | None = None
        self.quality = quality
        #: Janus's receiver reports, passed to `quality` once published (when it adapts).
        self.reports = RemoteReports(self._pc, quality) if quality is not None else None

    @classmethod
    def synthetic(cls, grant: SfuGrant, *, quality: VideoQuality | None = None) -> SfuPublisher:
        """Return a publisher of the simulated trolley (room, otoscope, heart sounds)."""
        quality = quality or VideoQuality.fixed(640, 480, 15.0)
        return cls(
            grant,
            room=RoomCameraTrack(quality=quality),
            otoscope=OtoscopeTrack(quality=quality),
            stethoscope=StethoscopeTrack(),
            quality=quality,
        )

    @property
    def connection_state(self) -> str:
        return str(self._pc.connectionState)

    @property
    def room_closed(self) -> bool:
        """Whether the room is over for the cabin (the hub destroyed it or withdrew the
        cabin's token); the cabin then stops sending."""
        return self._janus.ended.is_set()

    async def publish(self) -> int:
        """Join the room and publish the cabin's tracks; return the cabin's feed id.

        Raises SfuError when Janus refuses (the message says why)."""
        self._watch = asyncio.ensure_future(_hang_up_when_over(self._janus, self._pc))
        try:
            await self._janus.attach()
            grant = self._janus.grant
            joined, _ = await self._janus.send(
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": grant.room,
                    "pin": grant.pin,
                    "token": grant.token,
                    "display": self._display,
                }
            )
            self.feed = int(joined["id"])
            descriptions = []
            for kind, label in SENT_TRACKS:
                transceiver = self._pc.addTransceiver(self._tracks[label], direction="sendonly")
                _prefer(transceiver, kind, OPUS_MIME_TYPE if kind == "audio" else VP8_MIME_TYPE)
            await self._pc.setLocalDescription(await self._pc.createOffer())
            for transceiver, (_, label) in zip(
                self._pc.getTransceivers(), SENT_TRACKS, strict=True
            ):
                descriptions.append({"mid": transceiver.mid, "description": str(label)})
            configured, answer = await self._janus.send(
                {"request": "publish", "descriptions": descriptions},
                jsep=jsep(self._pc.localDescription.sdp, "offer"),
            )
        except JanusError as error:
            raise SfuError(f"Janus refused the cabin: {error.reason} ({error.code})") from error
        except httpx.HTTPError as error:
            raise SfuError(f"Janus unreachable: {error}") from error
        if configured.get("configured") != "ok" or answer is None:
            raise SfuError(f"Janus did not take the cabin's media: {configured}")
        await self._pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        try:  # the feed is offered to subscribers once Janus's side is up
            await self._janus.wait_for("webrtcup")
        except JanusError as error:
            raise SfuError(f"the cabin's media did not reach Janus: {error.reason}") from error
        if self.reports is not None and self.quality and len(self.quality.levels) > 1:
            self._reporting = asyncio.ensure_future(self.reports.run())
        logger.info("publishing into SFU room %s as feed %s", grant.room, self.feed)
        return self.feed

    async def close(self) -> None:
        """Leave the room, close the peer connection and stop the tracks."""
        for task in (self._watch, self._reporting):
            if task is not None:
                task.cancel()
        await self._janus.close()
        await self._pc.close()
        for track in self._tracks.values():
            track.stop()
        if self._own_http:
            await self._http.aclose()


class SfuSubscriber:
    """One party's feed received from a consultation's VideoRoom."""

    def __init__(self, grant: SfuGrant, *, http: httpx.AsyncClient | None = None) -> None:
        self._http = http or httpx.AsyncClient(timeout=10)
        self._own_http = http is None
        self._janus = JanusSession(grant, self._http)
        self._pc = RTCPeerConnection()
        self._pc.on("track", self._track_received)
        self._watch: asyncio.Task[None] | None = None
        self._descriptions: dict[str, str] = {}
        #: The feed's tracks as received, by what they carry ("room", "otoscope", …).
        self.tracks: dict[str, MediaStreamTrack] = {}

    async def subscribe(self, feed: int) -> dict[str, MediaStreamTrack]:
        """Join the room as a subscriber of `feed`; return its tracks by description once
        Janus started sending. Raises SfuError when Janus refuses."""
        grant = self._janus.grant
        self._watch = asyncio.ensure_future(_hang_up_when_over(self._janus, self._pc))
        try:
            await self._janus.attach()
            attached, offer = await self._janus.send(
                {
                    "request": "join",
                    "ptype": "subscriber",
                    "room": grant.room,
                    "pin": grant.pin,
                    "token": grant.token,
                    "streams": [{"feed": feed}],
                }
            )
            if offer is None:
                raise SfuError(f"Janus offered no media for feed {feed}: {attached}")
            for stream in attached.get("streams", []):
                self._descriptions[str(stream.get("mid"))] = str(
                    stream.get("feed_description") or stream.get("type")
                )
            await self._pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await self._pc.setLocalDescription(await self._pc.createAnswer())
            started, _ = await self._janus.send(
                {"request": "start"}, jsep=jsep(self._pc.localDescription.sdp, "answer")
            )
        except JanusError as error:
            raise SfuError(
                f"Janus refused the subscriber: {error.reason} ({error.code})"
            ) from error
        if started.get("started") != "ok":
            raise SfuError(f"Janus did not start feed {feed}: {started}")
        return self.tracks

    def codecs(self) -> dict[str, str]:
        """Return the MIME type each received track arrives in, by description."""
        description = self._pc.localDescription
        if description is None:
            return {}
        return {
            self._descriptions.get(str(m.rtp.muxId), str(m.rtp.muxId)): m.rtp.codecs[
                0
            ].mimeType.lower()
            for m in SessionDescription.parse(description.sdp).media
            if m.rtp.codecs
        }

    def _track_received(self, track: MediaStreamTrack) -> None:
        mid = next((t.mid for t in self._pc.getTransceivers() if t.receiver.track is track), None)
        self.tracks[self._descriptions.get(str(mid), str(mid))] = track

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        await self._janus.close()
        await self._pc.close()
        if self._own_http:
            await self._http.aclose()
