"""The video ladder and the rule that moves along it, told what happened (no clock)."""

from __future__ import annotations

from devices.media.quality import (
    CALM_REPORTS_TO_STEP_UP,
    LATE_FRAMES_TO_STEP_DOWN,
    VideoLevel,
    VideoQuality,
    video_ladder,
)

LADDER = video_ladder(640, 480, 15, min_width=320, min_fps=5)


def test_the_ladder_drops_frames_first_then_halves_the_size() -> None:
    assert (
        VideoLevel(640, 480, 15),
        VideoLevel(640, 480, 10),
        VideoLevel(320, 240, 10),
        VideoLevel(320, 240, 5),
    ) == LADDER
    assert video_ladder(320, 240, 5, min_width=320, min_fps=5) == (VideoLevel(320, 240, 5),)


def test_frames_falling_behind_step_down_one_level_at_a_time() -> None:
    changes: list[VideoLevel] = []
    quality = VideoQuality(LADDER, on_change=changes.append)
    for _ in range(LATE_FRAMES_TO_STEP_DOWN - 1):
        quality.frame_lag(0.2)  # three frames behind at 15 fps
    quality.frame_lag(0.0)  # caught up: the late run is over
    for _ in range(LATE_FRAMES_TO_STEP_DOWN - 1):
        quality.frame_lag(0.2)
    assert quality.level == LADDER[0]
    quality.frame_lag(0.2)
    assert quality.level == LADDER[1] and changes == [LADDER[1]]
    # A lag shorter than one frame is on time.
    for _ in range(3 * LATE_FRAMES_TO_STEP_DOWN):
        quality.frame_lag(0.05)
    assert quality.level == LADDER[1]


def test_reported_loss_steps_down_and_a_calm_stretch_steps_back_up() -> None:
    quality = VideoQuality(LADDER)
    quality.remote_loss(0.10)
    quality.remote_loss(0.10)
    assert quality.level == LADDER[2]
    for _ in range(CALM_REPORTS_TO_STEP_UP - 1):
        quality.remote_loss(0.0)
    assert quality.level == LADDER[2]
    quality.remote_loss(0.0)
    assert quality.level == LADDER[1] and (quality.steps_down, quality.steps_up) == (2, 1)


def test_a_step_up_taken_back_asks_for_a_longer_calm_before_the_next() -> None:
    quality = VideoQuality(LADDER)
    quality.remote_loss(0.5)
    for _ in range(CALM_REPORTS_TO_STEP_UP):
        quality.remote_loss(0.0)
    assert quality.index == 0
    for _ in range(LATE_FRAMES_TO_STEP_DOWN):
        quality.frame_lag(0.5)  # the top level cannot be held
    assert quality.index == 1
    quality.remote_loss(0.0)  # frames were late since the last report: not calm yet
    for _ in range(2 * CALM_REPORTS_TO_STEP_UP - 1):
        quality.remote_loss(0.0)
    assert quality.index == 1
    quality.remote_loss(0.0)
    assert quality.index == 0 and quality.calm_needed == 2 * CALM_REPORTS_TO_STEP_UP


def test_late_frames_keep_it_from_stepping_up() -> None:
    quality = VideoQuality(LADDER)
    quality.remote_loss(0.5)
    for _ in range(3 * CALM_REPORTS_TO_STEP_UP):
        quality.frame_lag(0.5)  # the machine is still behind between reports
        quality.remote_loss(0.0)
    assert quality.index >= 1 and quality.steps_up == 0


def test_it_stays_at_the_floor_and_the_top() -> None:
    quality = VideoQuality(LADDER)
    for _ in range(10):
        quality.remote_loss(1.0)
    assert quality.level == LADDER[-1] and quality.steps_down == len(LADDER) - 1
    for _ in range(10 * CALM_REPORTS_TO_STEP_UP):
        quality.remote_loss(0.0)
    assert quality.level == LADDER[0] and quality.steps_up == len(LADDER) - 1
