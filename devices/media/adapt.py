"""A captured video (V4L2 camera, otoscope) sent at the level of a `VideoQuality`: frames
dropped down to its frame rate and scaled to its size, so real sources step down like the
simulated ones when the doctor's browser reports loss. Over a shared source (`SharedTrack`),
how long each frame waited for this consumer is told to the quality as the frame's lateness
(a consumer, its encoder, that cannot keep up steps its own level down)."""

from __future__ import annotations

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from devices.media.fanout import SharedTrack
from devices.media.quality import VideoQuality

#: A frame this close to its slot (in frame periods) is kept: capture clocks jitter.
SLOT_TOLERANCE = 0.25


class AdaptedVideoTrack(MediaStreamTrack):
    """Passes on the frames of `source` at `quality`'s rate and size (timestamps kept)."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, quality: VideoQuality) -> None:
        super().__init__()
        self.source = source
        self.quality = quality
        self._next_slot: float | None = None
        #: Frames of the source left out to keep to the level's frame rate.
        self.dropped = 0

    async def recv(self) -> VideoFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self.source.recv()
            if not isinstance(frame, VideoFrame):
                raise MediaStreamError("an adapted video needs a video source")
            level = self.quality.level
            pts, base = frame.pts, frame.time_base
            at = float(pts * base) if pts is not None and base is not None else None
            early = (
                self._next_slot is not None
                and at is not None
                and (at < self._next_slot - SLOT_TOLERANCE * level.frame_seconds)
            )
            if early:
                self.dropped += 1
                continue
            if at is not None:
                behind = self._next_slot is None or at > self._next_slot + level.frame_seconds
                slot = at if behind or self._next_slot is None else self._next_slot
                self._next_slot = slot + level.frame_seconds
            if isinstance(self.source, SharedTrack):
                self.quality.frame_lag(self.source.lag)
            if (frame.width, frame.height) == (level.width, level.height):
                return frame
            scaled = frame.reformat(width=level.width, height=level.height, format="yuv420p")
            scaled.pts, scaled.time_base = frame.pts, frame.time_base
            return scaled

    def stop(self) -> None:
        self.source.stop()
        super().stop()
