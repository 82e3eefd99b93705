"""How much video the cabin sends: a ladder of sizes and frame rates, and the rule that moves
along it (pure: it is told what happened, it never looks at a clock).

The cabin steps down a level when its frames fall behind their schedule (the machine or the
encoder cannot keep up: aiortc asks for the next frame later than its time) or when the
doctor's browser reports losing packets (RTCP receiver reports); it steps back up after a
calm stretch of reports with no frame late, a stretch that doubles each time a step up has to
be taken back (so it does not swing between two levels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Frames in a row at least one frame period late before stepping down.
LATE_FRAMES_TO_STEP_DOWN = 10
#: Fraction of packets lost, in one receiver report, that steps down.
LOSS_TO_STEP_DOWN = 0.05
#: Loss at or under which a receiver report counts as calm.
CALM_LOSS = 0.02
#: Calm receiver reports in a row, with no frame late meanwhile, before stepping up.
CALM_REPORTS_TO_STEP_UP = 5
#: A step up that had to be taken back doubles the calm asked before the next, up to this.
MAX_CALM_REPORTS_TO_STEP_UP = 8 * CALM_REPORTS_TO_STEP_UP


@dataclass(frozen=True, slots=True)
class VideoLevel:
    """One rung of the ladder: frame size in pixels and frames per second."""

    width: int
    height: int
    fps: float

    @property
    def frame_seconds(self) -> float:
        return 1.0 / self.fps


def _even(value: int) -> int:
    return max(2, value - value % 2)


def video_ladder(
    width: int, height: int, fps: float, *, min_width: int = 320, min_fps: float = 5.0
) -> tuple[VideoLevel, ...]:
    """Return the levels from the configured one down: fewer frames, then half the size."""
    lower_fps = max(min_fps, min(fps, round(fps * 2 / 3)))
    half = (_even(width // 2), _even(height // 2))
    candidates = [VideoLevel(width, height, fps), VideoLevel(width, height, lower_fps)]
    if half[0] >= min_width:
        candidates += [VideoLevel(*half, lower_fps), VideoLevel(*half, min(lower_fps, min_fps))]
    else:
        candidates.append(VideoLevel(width, height, min(lower_fps, min_fps)))
    levels: list[VideoLevel] = []
    for level in candidates:
        if level not in levels:
            levels.append(level)
    return tuple(levels)


class VideoQuality:
    """The level the cabin's videos are sent at, shared by its video tracks."""

    def __init__(
        self,
        levels: tuple[VideoLevel, ...],
        *,
        on_change: Callable[[VideoLevel], None] | None = None,
    ) -> None:
        if not levels:
            raise ValueError("a video ladder needs at least one level")
        self.levels = levels
        self.index = 0
        self._on_change = on_change
        self._late = 0
        self._late_since_report = False
        self._calm = 0
        self._last_step = 0
        #: Calm receiver reports needed before the next step up.
        self.calm_needed = CALM_REPORTS_TO_STEP_UP
        #: Steps taken down and up so far.
        self.steps_down = 0
        self.steps_up = 0

    @classmethod
    def fixed(cls, width: int, height: int, fps: float) -> VideoQuality:
        """Return a quality that stays at one level (no adaptation)."""
        return cls((VideoLevel(width, height, fps),))

    @property
    def level(self) -> VideoLevel:
        return self.levels[self.index]

    def frame_lag(self, seconds: float) -> None:
        """A frame was asked for `seconds` after its time (0 when on time)."""
        if seconds < self.level.frame_seconds:
            self._late = 0
            return
        self._late += 1
        self._late_since_report = True
        if self._late >= LATE_FRAMES_TO_STEP_DOWN:
            self._step(+1)

    def remote_loss(self, fraction: float) -> None:
        """The doctor's browser reported losing this fraction of packets (RTCP)."""
        if fraction > LOSS_TO_STEP_DOWN:
            self._step(+1)
        elif fraction <= CALM_LOSS and not self._late_since_report:
            self._calm += 1
            if self._calm >= self.calm_needed:
                self._step(-1)
        else:
            self._calm = 0
        self._late_since_report = False

    def _step(self, direction: int) -> None:
        self._late = 0
        self._calm = 0
        index = min(len(self.levels) - 1, max(0, self.index + direction))
        if index == self.index:
            return
        self.index = index
        if direction > 0:
            self.steps_down += 1
            if self._last_step < 0:  # the level tried could not be held
                self.calm_needed = min(2 * self.calm_needed, MAX_CALM_REPORTS_TO_STEP_UP)
        else:
            self.steps_up += 1
        self._last_step = direction
        if self._on_change is not None:
            self._on_change(self.level)
