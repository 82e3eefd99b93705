"""The cabin's side of a live consultation's media: one aiortc peer connection per consultation.

The doctor's browser is the offerer. It offers to receive two videos and one audio, may send
its own camera and microphone, and opens the "vitals" data channel; `MediaSession.answer`
puts the trolley's tracks on the m-lines the browser receives on — video "room", video
"otoscope", audio "stethoscope", in that order — and answers. SDP carries no labels the
browser can rely on, so the mapping mid → label is exposed by `track_labels()` and is the
first message on the data channel: ``{"type": "tracks", "mids": {"0": "room", ...}}``.
Vitals follow as ``{"type": "vitals", "values": {...}}``.

The stethoscope goes out as Opus packets encoded in "audio" application mode by
`OpusAudioModeTrack` (aiortc's own encoder uses "voip" mode, which filters out heart sounds);
aiortc's RTCRtpSender packs `av.Packet`s as they are, so its m-line must negotiate Opus.

A renegotiation offer with new ICE credentials (the browser's `restartIce()`) restarts ICE
in place (see `cabin_agent.media_ice`); media, DTLS and the data channel carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription, candidate_from_sdp
from av import AudioFrame, VideoFrame

from cabin_agent.media_ice import (
    IceCredentials,
    IceRestartError,
    begin_ice_restart,
    finish_ice_restart,
    selected_route,
)
from cabin_agent.media_quality import RemoteReports
from devices.media.quality import VideoQuality
from devices.media.tracks import (
    OpusAudioModeTrack,
    OtoscopeTrack,
    RoomCameraTrack,
    StethoscopeTrack,
)

logger = logging.getLogger(__name__)

VITALS_CHANNEL = "vitals"
OPUS_MIME_TYPE = "audio/opus"

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
StateCallback = Callable[[str], None]
#: Told each frame of the doctor's camera ("video") or microphone ("audio") as received.
FrameCallback = Callable[[str, VideoFrame | AudioFrame], None]
RestartRequest = Callable[[], Awaitable[None]]


class TrackLabel(enum.StrEnum):
    """What a track the cabin sends shows or plays."""

    ROOM = "room"
    OTOSCOPE = "otoscope"
    STETHOSCOPE = "stethoscope"


#: The cabin's tracks in the order they take the browser's receiving m-lines of their kind.
SENT_TRACKS: tuple[tuple[str, TrackLabel], ...] = (
    ("video", TrackLabel.ROOM),
    ("video", TrackLabel.OTOSCOPE),
    ("audio", TrackLabel.STETHOSCOPE),
)


class ConnectionState(enum.StrEnum):
    """The states reported to `on_state` (aiortc's connection states but "new")."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    CLOSED = "closed"


_REPORTED_STATES = frozenset(s.value for s in ConnectionState)


class IceServerConfig(TypedDict):
    """One ICE server, in the browser's `RTCIceServer` shape (TURN credentials from the hub)."""

    urls: str | list[str]
    username: NotRequired[str]
    credential: NotRequired[str]


class MediaNegotiationError(Exception):
    """The doctor's offer cannot carry the cabin's media; the message says what is missing."""


class MediaSession:
    """The cabin's peer connection for one consultation: answers offers, sends, receives."""

    def __init__(
        self,
        *,
        room: MediaStreamTrack,
        otoscope: MediaStreamTrack,
        stethoscope: MediaStreamTrack,
        ice_servers: Sequence[IceServerConfig] = (),
        on_state: StateCallback | None = None,
        on_restart_needed: RestartRequest | None = None,
        quality: VideoQuality | None = None,
        on_doctor_frame: FrameCallback | None = None,
        ice_transport_policy: str = "all",
    ) -> None:
        """Take ownership of the tracks (stopped by `close`); wrap a raw stethoscope in Opus.

        `quality`, shared with the video tracks, is told the browser's loss reports;
        `on_doctor_frame` is given each frame of the doctor's camera and microphone;
        `ice_transport_policy` "relay" uses TURN relay candidates only."""
        if not isinstance(stethoscope, OpusAudioModeTrack):
            stethoscope = OpusAudioModeTrack(stethoscope)
        self._tracks: dict[TrackLabel, MediaStreamTrack] = {
            TrackLabel.ROOM: room,
            TrackLabel.OTOSCOPE: otoscope,
            TrackLabel.STETHOSCOPE: stethoscope,
        }
        self._on_state = on_state
        self._on_restart_needed = on_restart_needed
        self._on_doctor_frame = on_doctor_frame
        self._pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=[_ice_server(s) for s in ice_servers],
                iceTransportPolicy=RTCIceTransportPolicy(ice_transport_policy),
            )
        )
        self._pc.on("connectionstatechange", self._connection_state_changed)
        self._pc.on("datachannel", self._datachannel_opened)
        self._pc.on("track", self._track_received)
        self._labels: dict[str, TrackLabel] = {}
        self._remote_ice: IceCredentials | None = None
        self._channel: RTCDataChannel | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._restart_task: asyncio.Task[None] | None = None
        self._state: ConnectionState | None = None
        self._closed = False
        #: The doctor's camera ("video") and microphone ("audio") as received.
        self.doctor_tracks: dict[str, MediaStreamTrack] = {}
        #: Frames received from the doctor, by kind.
        self.doctor_frames: dict[str, int] = {"video": 0, "audio": 0}
        #: Vitals dropped because the data channel was not open.
        self.vitals_dropped = 0
        self.vitals_sent = 0
        #: ICE restarts completed (a new candidate pair nominated).
        self.ice_restarts = 0
        self.quality = quality
        #: The browser's receiver reports, passed to `quality` (polled once connected).
        self.reports = RemoteReports(self._pc, quality) if quality is not None else None

    @classmethod
    def synthetic(
        cls,
        *,
        ice_servers: Sequence[IceServerConfig] = (),
        on_state: StateCallback | None = None,
        on_restart_needed: RestartRequest | None = None,
        quality: VideoQuality | None = None,
        on_doctor_frame: FrameCallback | None = None,
        ice_transport_policy: str = "all",
    ) -> MediaSession:
        """Return a session over the simulated trolley (room, otoscope, heart sounds); both
        videos follow `quality` (by default 640×480 at 15 fps, not adapting)."""
        quality = quality or VideoQuality.fixed(640, 480, 15.0)
        return cls(
            room=RoomCameraTrack(quality=quality),
            otoscope=OtoscopeTrack(quality=quality),
            stethoscope=StethoscopeTrack(),
            ice_servers=ice_servers,
            on_state=on_state,
            on_restart_needed=on_restart_needed,
            quality=quality,
            on_doctor_frame=on_doctor_frame,
            ice_transport_policy=ice_transport_policy,
        )

    @property
    def closed(self) -> bool:
        """Whether the peer connection is closed, by `close` or by aiortc itself (it shuts a
        connection down when all its DTLS transports have closed, e.g. after a long cut)."""
        return self._closed or self._pc.signalingState == "closed"

    @property
    def state(self) -> ConnectionState | None:
        """Return the last connection state reported (None before any)."""
        return self._state

    @property
    def route(self) -> str | None:
        """How media leaves the cabin: "host" or "srflx" (direct), "relay" (via TURN)."""
        return None if self.closed else selected_route(self._pc)

    def sent_track(self, label: TrackLabel) -> MediaStreamTrack:
        """Return the track the cabin sends as `label` (the stethoscope as Opus packets)."""
        return self._tracks[label]

    def track_labels(self) -> dict[str, str]:
        """Return what each sending m-line carries, by mid (empty before the first answer)."""
        return {mid: str(label) for mid, label in self._labels.items()}

    def negotiated_codecs(self) -> dict[str, str]:
        """Return the MIME type each labelled m-line sends with, by mid."""
        description = self._pc.localDescription
        if description is None:
            return {}
        codecs: dict[str, str] = {}
        for media in SessionDescription.parse(description.sdp).media:
            mid = media.rtp.muxId
            if mid in self._labels and media.rtp.codecs:
                codecs[mid] = media.rtp.codecs[0].mimeType.lower()
        return codecs

    async def answer(self, offer_sdp: str) -> str:
        """Apply the doctor's offer (first, renegotiation or ICE restart); return the answer SDP.

        Raises MediaNegotiationError when the offer has no room for the cabin's tracks.
        """
        async with self._lock:
            if self._closed:
                raise MediaNegotiationError("the media session is closed")
            offer = SessionDescription.parse(offer_sdp)
            remote_ice = _offer_ice(offer)
            restart = (
                self._remote_ice is not None
                and remote_ice is not None
                and remote_ice != self._remote_ice
            )
            if restart:
                if self._restart_task is not None:
                    self._restart_task.cancel()  # superseded by this newer restart
                begin_ice_restart(self._pc, remote_ice)
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            if not self._labels:
                self._attach_tracks(offer)
                if self.reports is not None and self.quality and len(self.quality.levels) > 1:
                    self._spawn(self.reports.run())
            answer = await self._pc.createAnswer()
            await self._pc.setLocalDescription(answer)
            if restart and remote_ice is not None:
                self._restart_task = self._spawn(self._finish_ice_restart(remote_ice))
            self._remote_ice = remote_ice
            return str(self._pc.localDescription.sdp)

    async def add_ice_candidate(
        self,
        candidate: str | None,
        *,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        """Add a candidate the browser trickled (`RTCIceCandidate.toJSON()`); None ends them."""
        if candidate is None or candidate == "":
            await self._pc.addIceCandidate(None)
            return
        parsed = candidate_from_sdp(candidate.removeprefix("candidate:"))
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        await self._pc.addIceCandidate(parsed)

    async def send_vitals(self, payload: Mapping[str, JsonValue]) -> None:
        """Send `{"type": "vitals", "values": payload}` on the data channel, or drop and count.

        Raises ValueError for NaN or infinite numbers, which JSON cannot carry.
        """
        channel = self._channel
        if channel is None or channel.readyState != "open":
            self.vitals_dropped += 1
            return
        channel.send(json.dumps({"type": "vitals", "values": dict(payload)}, allow_nan=False))
        self.vitals_sent += 1

    async def restart_ice(self) -> None:
        """Ask the doctor's browser, through `on_restart_needed`, for an ICE-restart offer.

        The browser is always the offerer; its offer then comes back through `answer`.
        """
        if self._on_restart_needed is None:
            logger.warning("ICE restart needed but nobody relays the request to the browser")
            return
        await self._on_restart_needed()

    async def close(self) -> None:
        """Close the peer connection, stop the cabin's tracks and the receiving tasks."""
        if self._closed:
            return
        self._closed = True
        await self._pc.close()
        for track in self._tracks.values():
            track.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._set_state(ConnectionState.CLOSED)

    # -- negotiation ---------------------------------------------------------------------

    def _attach_tracks(self, offer: SessionDescription) -> None:
        """Put each cabin track on a browser-receiving m-line of its kind, recvonly first."""
        receiving: dict[str, list[str]] = {"audio": [], "video": []}
        for wanted in ("recvonly", "sendrecv"):
            for media in offer.media:
                if media.kind in receiving and media.direction == wanted:
                    receiving[media.kind].append(media.rtp.muxId)
        for kind in ("audio", "video"):
            needed = [label for k, label in SENT_TRACKS if k == kind]
            if len(receiving[kind]) < len(needed):
                raise MediaNegotiationError(
                    f"the doctor's offer receives {len(receiving[kind])} {kind} track(s), "
                    f"the cabin sends {len(needed)} ({', '.join(needed)})"
                )
        transceivers = {t.mid: t for t in self._pc.getTransceivers()}
        for kind, label in SENT_TRACKS:
            mid = receiving[kind].pop(0)
            transceiver = transceivers[mid]
            if kind == "audio":
                _keep_only_opus(transceiver)
            transceiver.sender.replaceTrack(self._tracks[label])
            transceiver.direction = "sendrecv"
            self._labels[mid] = label

    async def _finish_ice_restart(self, remote: IceCredentials) -> None:
        try:
            await finish_ice_restart(self._pc, remote)
        except IceRestartError as error:
            logger.warning("%s", error)
            self._set_state(ConnectionState.FAILED)
        else:
            self.ice_restarts += 1
            logger.info("ICE restarted")

    # -- events ----------------------------------------------------------------------------

    async def _connection_state_changed(self) -> None:
        state = self._pc.connectionState
        if state in _REPORTED_STATES:
            self._set_state(ConnectionState(state))

    def _set_state(self, state: ConnectionState) -> None:
        if state == self._state or self._state == ConnectionState.CLOSED:
            return
        self._state = state
        logger.info("media connection %s", state)
        if self._on_state is not None:
            self._on_state(str(state))

    def _datachannel_opened(self, channel: RTCDataChannel) -> None:
        if channel.label != VITALS_CHANNEL:
            logger.info("ignoring data channel %r", channel.label)
            return
        channel.send(json.dumps({"type": "tracks", "mids": self.track_labels()}))
        self._channel = channel

    def _track_received(self, track: MediaStreamTrack) -> None:
        self.doctor_tracks[track.kind] = track
        self._spawn(self._receive(track))

    async def _receive(self, track: MediaStreamTrack) -> None:
        """Read the doctor's track, count its frames and hand them on, until it ends or the
        session closes (this task is the track's only reader, and `close` cancels it even
        when the track never ends: aiortc ends it only once media has flowed)."""
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.doctor_frames[track.kind] += 1
                if self._on_doctor_frame is not None and isinstance(frame, VideoFrame | AudioFrame):
                    self._on_doctor_frame(track.kind, frame)

    def _spawn(self, coroutine: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _ice_server(config: IceServerConfig) -> RTCIceServer:
    urls = config["urls"]
    return RTCIceServer(
        urls=list(urls) if isinstance(urls, list) else urls,
        username=config.get("username"),
        credential=config.get("credential"),
    )


def _offer_ice(offer: SessionDescription) -> IceCredentials | None:
    """Return the ICE credentials of the offer's first m-line (all share them when bundled)."""
    for media in offer.media:
        ice: Any = media.ice
        if ice is not None and ice.usernameFragment and ice.password:
            return IceCredentials(ice.usernameFragment, ice.password)
    return None


def _keep_only_opus(transceiver: Any) -> None:
    """Negotiate Opus only on the stethoscope's m-line: its packets are already Opus."""
    opus = [
        c
        for c in RTCRtpSender.getCapabilities("audio").codecs
        if c.mimeType.lower() == OPUS_MIME_TYPE
    ]
    transceiver.setCodecPreferences(opus)
    # The offer was applied before this m-line had a track; filter what it negotiated.
    common = [c for c in transceiver._codecs if c.mimeType.lower() == OPUS_MIME_TYPE]
    if not common:
        raise MediaNegotiationError("the doctor's offer has no Opus for the stethoscope")
    transceiver._codecs = common
