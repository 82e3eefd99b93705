"""One source read once for several consumers (`devices.media.fanout`), on the simulated
stethoscope and otoscope, not paced (frames as fast as asked)."""

from __future__ import annotations

import pytest
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from devices.media.adapt import AdaptedVideoTrack
from devices.media.fanout import FanOut
from devices.media.quality import LATE_FRAMES_TO_STEP_DOWN, VideoQuality, video_ladder
from devices.media.tracks import OtoscopeTrack, StethoscopeTrack


async def test_every_consumer_hears_the_same_sounds_and_the_last_one_closes_the_source() -> None:
    """Two paths send the stethoscope: both get the same frames in order, from one reading
    of the device; the source stops with its last consumer, not before."""
    source = StethoscopeTrack(realtime=False)
    ended: list[FanOut] = []
    fanout = FanOut(source, on_ended=ended.append)
    first, second = fanout.subscribe(), fanout.subscribe()
    heard: list[tuple[object, object]] = [
        (await first.recv(), await second.recv()) for _ in range(10)
    ]
    assert all(isinstance(a, AudioFrame) for a, _ in heard)
    assert all(a is b for a, b in heard), "one reading of the source, the same frames for both"
    first.stop()
    assert source.readyState == "live" and not ended
    await second.recv()
    second.stop()
    assert source.readyState == "ended" and ended == [fanout]
    with pytest.raises(MediaStreamError):
        await second.recv()
    with pytest.raises(MediaStreamError):
        fanout.subscribe()


async def test_a_consumer_that_falls_behind_steps_its_own_video_down() -> None:
    """A consumer whose frames wait longer than a frame period (its encoder cannot keep up)
    steps its own quality down; the other consumer's quality stays at the top."""
    now = [0.0]
    fanout = FanOut(OtoscopeTrack(fps=15, realtime=False), clock=lambda: now[0])
    slow_quality = VideoQuality(video_ladder(640, 480, 15, min_width=320, min_fps=5))
    fast_quality = VideoQuality(video_ladder(640, 480, 15, min_width=320, min_fps=5))
    slow = AdaptedVideoTrack(fanout.subscribe(), slow_quality)
    fast = AdaptedVideoTrack(fanout.subscribe(), fast_quality)
    try:
        for _ in range(LATE_FRAMES_TO_STEP_DOWN + 2):
            await fast.recv()
            now[0] += 1.0  # the slow consumer's frame waits a second (15 frame periods)
            await slow.recv()
        assert slow_quality.steps_down >= 1
        assert fast_quality.index == 0
    finally:
        slow.stop()
        fast.stop()
