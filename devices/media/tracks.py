"""aiortc media tracks: synthetic stethoscope, otoscope and room camera, and an Opus
"audio"-mode encoder.

The synthetic videos replay pre-rendered pictures (`devices.media.frames`) at the level their
`VideoQuality` says (size and frame rate), and tell it how late each frame was asked for: a
frame asked for late means the encoder or the machine cannot keep up.

aiortc's own Opus encoder runs in "voip" mode, which high-pass filters below ~60–100 Hz
where heart sounds live. `OpusAudioModeTrack` encodes with its own libopus context in
"audio" mode and yields `av.Packet`s, which aiortc's RTCRtpSender packs without re-encoding
(the path `MediaPlayer(decode=False)` uses).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler, CodecContext, Packet, VideoFrame

from devices.media.frames import FrameLoop, Scene
from devices.media.quality import VideoLevel, VideoQuality
from devices.media.synth import (
    SAMPLE_RATE,
    AuscultationSite,
    SoundStream,
    otoscope_image,
    room_image,
)

AUDIO_PTIME = 0.020
SAMPLES_PER_FRAME = int(SAMPLE_RATE * AUDIO_PTIME)
AUDIO_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class _Pacer:
    """Waits until media time `t` has come in wall time; a no-op when not real time."""

    def __init__(self, realtime: bool, clock: Clock, sleep: Sleep) -> None:
        self._realtime = realtime
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None

    async def wait_until(self, media_time: float) -> float:
        """Return how late, in seconds, media time `media_time` is asked for (0: on time)."""
        if not self._realtime:
            return 0.0
        if self._start is None:
            self._start = self._clock()
        delay = self._start + media_time - self._clock()
        if delay > 0:
            await self._sleep(delay)
            return 0.0
        return -delay

    def rebase(self, media_time: float) -> None:
        """Make `media_time` due now (after a change of pace, past lateness is forgotten)."""
        if self._start is not None:
            self._start = self._clock() - media_time


class StethoscopeTrack(MediaStreamTrack):
    """Synthetic stethoscope audio: 48 kHz mono s16 frames of 20 ms (heart or lung sounds)."""

    kind = "audio"

    def __init__(
        self,
        site: AuscultationSite = AuscultationSite.HEART,
        *,
        heart_rate: float = 72.0,
        murmur: bool = False,
        respiratory_rate: float = 15.0,
        volume: float = 0.8,
        realtime: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__()
        self.sound = SoundStream(
            site, heart_rate=heart_rate, murmur=murmur, respiratory_rate=respiratory_rate
        )
        self.volume = volume
        self._pacer = _Pacer(realtime, clock, sleep)
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait_until(self._pts / SAMPLE_RATE)
        samples = self.sound.read(SAMPLES_PER_FRAME) * self.volume * 32767.0
        pcm = np.clip(samples, -32768, 32767).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = AUDIO_TIME_BASE
        self._pts += SAMPLES_PER_FRAME
        return frame


class SyntheticVideoTrack(MediaStreamTrack):
    """A synthetic video: pre-rendered pictures of `scene` with a frame counter, sent at the
    level of `quality` (shared with the consultation's other video, adapted to the load)."""

    kind = "video"

    def __init__(
        self,
        scene: Scene,
        *,
        width: int = 640,
        height: int = 480,
        fps: float = 15.0,
        quality: VideoQuality | None = None,
        realtime: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__()
        self.quality = quality or VideoQuality.fixed(width, height, fps)
        self.frames = FrameLoop(scene, fps=self.quality.levels[0].fps)
        self._pacer = _Pacer(realtime, clock, sleep)
        self._level: VideoLevel = self.quality.level
        self._media_time = 0.0
        self.frame_index = 0

    @property
    def level(self) -> VideoLevel:
        """The size and frame rate of the frames sent now."""
        return self._level

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.quality.level != self._level:
            self._level = self.quality.level
            self._pacer.rebase(self._media_time)
        lag = await self._pacer.wait_until(self._media_time)
        if self.readyState != "live":
            raise MediaStreamError
        level = self._level
        frame = self.frames.frame(self._media_time, level.width, level.height, self.frame_index)
        if self.frames.drew_last:
            # Drawing a picture the first time is a one-off cost, not the steady load the
            # quality adapts to: the pace starts again from here, nothing is counted late.
            self._pacer.rebase(self._media_time + level.frame_seconds)
        else:
            self.quality.frame_lag(lag)
        frame.pts = round(self._media_time * VIDEO_CLOCK_RATE)
        frame.time_base = VIDEO_TIME_BASE
        self.frame_index += 1
        self._media_time += level.frame_seconds
        return frame

    def stop(self) -> None:
        super().stop()
        self.frames.release()


class _OneSceneTrack(SyntheticVideoTrack):
    """A synthetic video of the one scene its subclass names in `_scene`."""

    _scene: ClassVar[Scene]

    def __init__(
        self,
        *,
        width: int = 640,
        height: int = 480,
        fps: float = 15.0,
        quality: VideoQuality | None = None,
        realtime: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(
            self._scene,
            width=width,
            height=height,
            fps=fps,
            quality=quality,
            realtime=realtime,
            clock=clock,
            sleep=sleep,
        )


class OtoscopeTrack(_OneSceneTrack):
    """Synthetic otoscope video: a drifting eardrum with its light reflex and a frame counter."""

    _scene = staticmethod(otoscope_image)


class RoomCameraTrack(_OneSceneTrack):
    """Synthetic room camera: the patient seated in the consultation room, breathing."""

    _scene = staticmethod(room_image)


class OpusAudioModeTrack(MediaStreamTrack):
    """Re-encodes an audio track to Opus in "audio" application mode; yields `av.Packet`s."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, *, bit_rate: int = 128_000) -> None:
        super().__init__()
        self.source = source
        self.codec = CodecContext.create("libopus", "w")
        self.codec.bit_rate = bit_rate
        self.codec.format = "s16"
        self.codec.layout = "mono"
        self.codec.sample_rate = SAMPLE_RATE
        self.codec.time_base = AUDIO_TIME_BASE
        self.codec.options = {"application": "audio"}
        self._resampler = AudioResampler(
            format="s16", layout="mono", rate=SAMPLE_RATE, frame_size=SAMPLES_PER_FRAME
        )
        self._packets: deque[Packet[Any]] = deque()
        self._first_pts: int | None = None

    async def recv(self) -> Packet[Any]:
        while not self._packets:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self.source.recv()
            if not isinstance(frame, AudioFrame):
                raise MediaStreamError("the source of an Opus encoder must yield audio frames")
            for chunk in self._resampler.resample(frame):
                self._packets.extend(self.codec.encode(chunk))
        packet = self._packets.popleft()
        if self._first_pts is None:
            self._first_pts = packet.pts or 0
        packet.pts = (packet.pts or 0) - self._first_pts
        packet.time_base = AUDIO_TIME_BASE
        return packet

    def stop(self) -> None:
        self.source.stop()
        super().stop()
