"""Real stethoscope (ALSA) and otoscope (V4L2/UVC) sources read through PyAV, as tracks.

The device names come from configuration: an ALSA PCM name such as "hw:CARD=Steth,DEV=0"
(or "default"), and a V4L2 path such as "/dev/video2" or a /dev/v4l/by-id/… link.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import os
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame

from devices.transports import DeviceLinkError


def _open(path: str, fmt: str, options: dict[str, str]) -> Any:
    try:
        return av.open(path, format=fmt, options=options)
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise DeviceLinkError(f"cannot open {fmt} capture device {path!r}: {error}") from error


class _CaptureTrack(MediaStreamTrack):
    """Decodes frames of one stream of a capture container in a worker thread."""

    def __init__(self, container: Any, stream: Any) -> None:
        super().__init__()
        self._container = container
        self._frames = container.decode(stream)

    def _next_frame(self) -> Frame | None:
        try:
            frame: Frame = next(self._frames)
        except (StopIteration, av.error.FFmpegError, OSError):
            return None
        return frame

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await asyncio.get_running_loop().run_in_executor(None, self._next_frame)
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._container.close()
        super().stop()


class AlsaStethoscopeTrack(_CaptureTrack):
    """Audio from an ALSA capture device (an electronic stethoscope's USB sound card)."""

    kind = "audio"

    def __init__(self, device: str, *, sample_rate: int = 48_000, channels: int = 1) -> None:
        if device.startswith("/") and not os.path.exists(device):
            raise DeviceLinkError(f"stethoscope capture device {device!r} does not exist")
        container = _open(
            device, "alsa", {"sample_rate": str(sample_rate), "channels": str(channels)}
        )
        super().__init__(container, container.streams.audio[0])


class V4l2OtoscopeTrack(_CaptureTrack):
    """Video from a V4L2/UVC camera (a USB otoscope)."""

    kind = "video"

    def __init__(self, path: str, *, width: int = 640, height: int = 480, fps: int = 30) -> None:
        if not os.path.exists(path):
            raise DeviceLinkError(f"otoscope video device {path!r} does not exist")
        container = _open(
            path,
            "v4l2",
            {"video_size": f"{width}x{height}", "framerate": str(fractions.Fraction(fps))},
        )
        super().__init__(container, container.streams.video[0])
