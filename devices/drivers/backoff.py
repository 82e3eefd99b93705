"""Reconnection delays shared by the drivers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnection delays: initial, doubled each failure, capped at maximum."""

    initial: float = 0.5
    maximum: float = 30.0

    def delays(self) -> Callable[[], float]:
        """Return a function giving the next delay each time it is called."""
        current = [self.initial]

        def next_delay() -> float:
            delay = current[0]
            current[0] = min(self.maximum, delay * 2)
            return delay

        return next_delay
