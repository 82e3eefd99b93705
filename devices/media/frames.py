"""Pre-rendered synthetic video: each picture of a short loop drawn once, then replayed.

Drawing a synthetic picture costs ~16 ms of CPU at 640×480 with numpy; replaying one costs a
copy. `FrameLoop` draws the first `seconds` of a scene the first time each picture is needed
(so a call starts at once), keeps them as YUV 4:2:0 (what the VP8 encoder takes, so no colour
conversion per frame either), and plays them back and forth, so the motion never jumps. The
frame counter is drawn on each copy: the pictures keep counting up.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from av import VideoFrame

from devices.media.synth import ImageArray, draw_counter_yuv420

LOOP_SECONDS = 2.0


class Scene(Protocol):
    """Draws picture `frame_index` of a scene filmed at `fps` (RGB, without a counter)."""

    def __call__(
        self, frame_index: int, *, width: int, height: int, fps: float, counter: bool
    ) -> ImageArray: ...


class FrameLoop:
    """The pictures of one scene at one size, drawn on first use and replayed."""

    def __init__(self, scene: Scene, *, fps: float, seconds: float = LOOP_SECONDS) -> None:
        self._scene = scene
        self.fps = fps
        self.length = max(2, round(seconds * fps))
        self._pictures: dict[tuple[int, int], list[ImageArray | None]] = {}
        #: Pictures drawn so far (each costs a full render; replays cost a copy).
        self.rendered = 0
        #: Whether the last `frame` had to draw its picture.
        self.drew_last = False

    def _picture(self, index: int, width: int, height: int) -> ImageArray:
        # Each size the quality has used keeps its pictures until the track ends, so stepping
        # back and forth between levels does not draw them again.
        pictures = self._pictures.setdefault((width, height), [None] * self.length)
        picture = pictures[index]
        if picture is None:
            rgb = self._scene(index, width=width, height=height, fps=self.fps, counter=False)
            yuv = VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            picture = np.asarray(yuv.to_ndarray(), dtype=np.uint8)
            pictures[index] = picture
            self.rendered += 1
        return picture

    def index_at(self, media_time: float) -> int:
        """Return the loop picture shown at `media_time`: forwards, then backwards."""
        period = 2 * self.length - 2
        step = round(media_time * self.fps) % period
        return step if step < self.length else period - step

    def frame(self, media_time: float, width: int, height: int, number: int) -> VideoFrame:
        """Return the picture at `media_time`, `width`×`height`, counter showing `number`."""
        drawn = self.rendered
        picture = np.copy(self._picture(self.index_at(media_time), width, height))
        self.drew_last = self.rendered != drawn
        draw_counter_yuv420(picture, width, height, number)
        return VideoFrame.from_ndarray(picture, format="yuv420p")

    def release(self) -> None:
        """Drop the pictures (the track has ended)."""
        self._pictures = {}
