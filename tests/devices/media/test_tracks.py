"""Synthetic stethoscope, otoscope and room-camera tracks (pre-rendered, adapting to the load),
the Opus "audio"-mode encoder, capture errors."""

from __future__ import annotations

import asyncio
import fractions

import av
import numpy as np
import numpy.typing as npt
import pytest
from aiortc.mediastreams import MediaStreamError

from devices.media.adapt import AdaptedVideoTrack
from devices.media.capture import AlsaStethoscopeTrack, V4l2OtoscopeTrack
from devices.media.quality import LATE_FRAMES_TO_STEP_DOWN, VideoQuality, video_ladder
from devices.media.synth import AuscultationSite
from devices.media.tracks import (
    OpusAudioModeTrack,
    OtoscopeTrack,
    RoomCameraTrack,
    StethoscopeTrack,
)
from devices.transports import DeviceLinkError

SAMPLE_RATE = 48_000


async def collect(track: StethoscopeTrack, seconds: float) -> npt.NDArray[np.float64]:
    frames = [await track.recv() for _ in range(int(seconds / 0.02))]
    return np.concatenate([f.to_ndarray()[0] for f in frames]).astype(np.float64)


def band_fraction(signal: npt.NDArray[np.float64], low: float, high: float) -> float:
    power = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / SAMPLE_RATE)
    return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())


async def test_stethoscope_frames_are_20_ms_of_48_khz_mono() -> None:
    track = StethoscopeTrack(realtime=False)
    first, second = await track.recv(), await track.recv()
    assert (first.sample_rate, first.samples, first.format.name, first.layout.name) == (
        48_000,
        960,
        "s16",
        "mono",
    )
    assert first.time_base == fractions.Fraction(1, 48_000)
    assert (first.pts, second.pts) == (0, 960)


async def test_heart_sounds_have_their_energy_below_150_hz() -> None:
    signal = await collect(StethoscopeTrack(heart_rate=60, realtime=False), 3.0)
    assert band_fraction(signal, 20, 150) > 0.9
    assert band_fraction(signal, 500, 24_000) < 0.01


async def test_heart_rate_sets_the_beat_period() -> None:
    signal = await collect(StethoscopeTrack(heart_rate=90, realtime=False), 4.0)
    envelope = np.abs(signal).reshape(-1, 480).max(axis=1)  # 10 ms bins
    centred = envelope - envelope.mean()
    lags = range(40, 150)  # 0.4–1.5 s: one whole S1-S2-S1 cycle
    correlation = [float(np.dot(centred[:-lag], centred[lag:])) for lag in lags]
    period = lags[int(np.argmax(correlation))] * 0.01
    assert period == pytest.approx(60 / 90, abs=0.02)


async def test_murmur_adds_systolic_energy_above_120_hz() -> None:
    plain = await collect(StethoscopeTrack(heart_rate=70, realtime=False), 2.0)
    murmur = await collect(StethoscopeTrack(heart_rate=70, murmur=True, realtime=False), 2.0)
    assert band_fraction(murmur, 120, 300) > 3 * band_fraction(plain, 120, 300)


async def test_lung_sounds_are_low_frequency_breath_noise() -> None:
    signal = await collect(StethoscopeTrack(AuscultationSite.LUNG, realtime=False), 4.0)
    assert band_fraction(signal, 80, 400) > 0.7
    assert band_fraction(signal, 1000, 24_000) < 0.05
    # Louder on inspiration than at the end of expiration.
    assert np.abs(signal[:SAMPLE_RATE]).mean() > 3 * np.abs(signal[-SAMPLE_RATE // 4 :]).mean()


async def test_realtime_pacing_uses_the_injected_clock() -> None:
    now = [100.0]
    waits: list[float] = []

    async def fake_sleep(delay: float) -> None:
        waits.append(delay)
        now[0] += delay

    track = StethoscopeTrack(clock=lambda: now[0], sleep=fake_sleep)
    for _ in range(4):
        await track.recv()
    assert waits == pytest.approx([0.02, 0.02, 0.02])


async def test_otoscope_frames_are_640x480_and_move() -> None:
    track = OtoscopeTrack(fps=15, realtime=False)
    frames = [await track.recv() for _ in range(8)]
    assert (frames[0].width, frames[0].height) == (640, 480)
    assert [f.pts for f in frames[:3]] == [0, 6000, 12000]
    first, last = frames[0].to_ndarray(format="rgb24"), frames[-1].to_ndarray(format="rgb24")
    assert first.shape == (480, 640, 3)
    # The membrane drifts: the image changes outside the frame counter too.
    assert np.abs(first[100:, :].astype(int) - last[100:, :].astype(int)).mean() > 1.0
    # Bright cone of light and a reddish canal are both there.
    assert (first.min(axis=2) > 240).sum() > 500
    assert first[470, 5, 0] > first[470, 5, 2]


async def test_the_room_camera_shows_a_patient_in_a_room_and_moves() -> None:
    track = RoomCameraTrack(realtime=False)
    frames = [(await track.recv()).to_ndarray(format="rgb24") for _ in range(20)]
    first, last = frames[0].astype(int), frames[-1].astype(int)
    assert first.shape == (480, 640, 3)
    wall, floor, shirt = first[200, 600], first[440, 600], first[300, 256]
    assert wall.mean() > 180 and floor.mean() < wall.mean() - 40  # a lit wall above the floor
    assert shirt[2] > shirt[0] + 40  # the patient's blue shirt in the middle
    assert np.abs(first[60:] - last[60:]).mean() > 0.05  # breathing and swaying


async def test_synthetic_video_draws_each_picture_once_and_keeps_counting() -> None:
    track = OtoscopeTrack(fps=15, realtime=False)
    frames = [await track.recv() for _ in range(90)]  # six seconds
    assert track.frames.rendered == track.frames.length == 30  # a two-second loop
    counters = [f.to_ndarray(format="rgb24")[10:60, 10:190] for f in frames[:31:15]]
    assert len({c.tobytes() for c in counters}) == 3  # the frame counter still moves
    track.stop()
    assert not track.frames._pictures  # pictures dropped with the track


async def test_frames_falling_behind_make_both_videos_smaller_and_slower() -> None:
    """An injected clock that jumps ahead between frames plays an encoder that cannot keep up."""
    now = [0.0]

    async def no_sleep(delay: float) -> None:
        now[0] += delay

    quality = VideoQuality(video_ladder(640, 480, 15, min_width=320, min_fps=5))
    room = RoomCameraTrack(quality=quality, clock=lambda: now[0], sleep=no_sleep)
    otoscope = OtoscopeTrack(quality=quality, clock=lambda: now[0], sleep=no_sleep)
    for _ in range(3):
        await room.recv(), await otoscope.recv()
    assert (room.level.fps, otoscope.level.fps) == (15, 15)
    while quality.index < 2:
        now[0] += 0.5  # each frame asked for half a second late
        await room.recv()
    frame = await otoscope.recv()
    assert (frame.width, frame.height) == (320, 240) and otoscope.level.fps == 10
    assert quality.steps_down == 2
    # Once the pace is met again, frames are on time at the lower level: no further step.
    for _ in range(3 * LATE_FRAMES_TO_STEP_DOWN):
        await room.recv()
    assert quality.index == 2
    pts = [(await room.recv()).pts for _ in range(2)]
    assert pts[1] - pts[0] == 9000  # 10 frames a second on a 90 kHz clock


async def test_drawing_the_loop_once_is_not_taken_for_a_machine_that_cannot_keep_up() -> None:
    now = [0.0]

    async def no_sleep(delay: float) -> None:
        now[0] += delay

    quality = VideoQuality(video_ladder(640, 480, 15, min_width=320, min_fps=5))
    track = OtoscopeTrack(quality=quality, clock=lambda: now[0], sleep=no_sleep)
    for _ in range(track.frames.length):  # every picture drawn for the first time, slowly
        now[0] += 0.5
        await track.recv()
    assert quality.steps_down == 0
    for _ in range(LATE_FRAMES_TO_STEP_DOWN):  # replays, still late: the machine is behind
        now[0] += 0.5
        await track.recv()
    assert quality.steps_down == 1


async def test_ended_track_raises() -> None:
    track = OtoscopeTrack(realtime=False)
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


def mono(frame: av.AudioFrame) -> npt.NDArray[np.float64]:
    samples: npt.NDArray[np.float64] = frame.to_ndarray().astype(np.float64)
    if frame.format.is_planar:
        first: npt.NDArray[np.float64] = samples[0]
        return first
    interleaved: npt.NDArray[np.float64] = samples.reshape(-1)[:: len(frame.layout.channels)]
    return interleaved


def band_rms(signal: npt.NDArray[np.float64], low: float, high: float) -> float:
    spectrum = np.fft.rfft(signal)
    freqs = np.fft.rfftfreq(len(signal), 1 / SAMPLE_RATE)
    spectrum[(freqs < low) | (freqs >= high)] = 0
    return float(np.sqrt(np.mean(np.fft.irfft(spectrum, len(signal)) ** 2)))


async def test_opus_audio_mode_keeps_the_heart_sound_band_that_voip_mode_cuts() -> None:
    """20 ms packets that decode back to heart sounds with 20–60 Hz intact, where aiortc's
    default (voip) encoder loses most of it."""
    from aiortc.codecs.opus import OpusEncoder

    source = StethoscopeTrack(heart_rate=60, realtime=False)
    frames = [await source.recv() for _ in range(150)]
    reference = np.concatenate([f.to_ndarray()[0].astype(np.float64) for f in frames])

    track = OpusAudioModeTrack(StethoscopeTrack(heart_rate=60, realtime=False))
    assert track.codec.options.get("application") == "audio"
    packets = [await track.recv() for _ in range(150)]
    assert all(isinstance(p, av.Packet) for p in packets)
    assert [p.pts for p in packets[:3]] == [0, 960, 1920]
    assert packets[0].time_base == fractions.Fraction(1, 48_000)
    decoder = av.CodecContext.create("libopus", "r")
    audio_mode = np.concatenate([mono(f) for p in packets for f in decoder.decode(p)])

    voip_encoder, voip_decoder = OpusEncoder(), av.CodecContext.create("libopus", "r")
    voip_parts = [
        mono(f)
        for frame in frames
        for payload in voip_encoder.encode(frame)[0]
        for f in voip_decoder.decode(av.Packet(payload))
    ]
    voip_mode = np.concatenate(voip_parts)

    low_reference = band_rms(reference, 20, 60)
    assert band_rms(audio_mode, 20, 60) == pytest.approx(low_reference, rel=0.15)
    assert band_rms(voip_mode, 20, 60) < 0.6 * low_reference
    track.stop()
    assert track.source.readyState == "ended"


def test_missing_video_device_is_a_clear_error() -> None:
    with pytest.raises(DeviceLinkError, match="/dev/video-otoscope-missing"):
        V4l2OtoscopeTrack("/dev/video-otoscope-missing")


def test_missing_audio_device_is_a_clear_error() -> None:
    with pytest.raises(DeviceLinkError, match="hw:CARD=NoStethoscope"):
        AlsaStethoscopeTrack("hw:CARD=NoStethoscope,DEV=0")


async def test_aiortc_sends_the_pre_encoded_stethoscope_packets() -> None:
    """A peer connection carries the Opus packets as they are and the far end decodes them."""
    from aiortc import RTCPeerConnection
    from aiortc.mediastreams import MediaStreamTrack

    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    arrived: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if not arrived.done():
            arrived.set_result(track)

    try:
        sender.addTrack(OpusAudioModeTrack(StethoscopeTrack(heart_rate=60)))
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        async with asyncio.timeout(10):
            remote = await arrived
            frames = [await remote.recv() for _ in range(10)]
        assert all(isinstance(f, av.AudioFrame) for f in frames)
        assert {(f.sample_rate, f.samples) for f in frames} == {(48_000, 960)}  # type: ignore[union-attr]
    finally:
        await sender.close()
        await receiver.close()


async def test_a_captured_video_follows_the_quality_in_rate_and_size() -> None:
    """A camera giving 640×480 at 15 fps (played here by the synthetic otoscope) is passed on
    whole at the top level, then at 320×240 and 10 fps once the browser reports loss."""
    quality = VideoQuality(video_ladder(640, 480, 15, min_width=320, min_fps=5))
    track = AdaptedVideoTrack(OtoscopeTrack(fps=15, realtime=False), quality)
    first = [await track.recv() for _ in range(15)]
    assert {(f.width, f.height) for f in first} == {(640, 480)} and track.dropped == 0
    quality.remote_loss(0.5)
    quality.remote_loss(0.5)
    later = [await track.recv() for _ in range(30)]
    assert {(f.width, f.height) for f in later} == {(320, 240)}
    seconds = float((later[-1].pts - later[0].pts) * later[0].time_base)
    assert (len(later) - 1) / seconds == pytest.approx(10, rel=0.1)
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()
