"""Incremental framers for serial pulse oximeters (Contec CMS50D+, Nonin formats #2 and #8).

Every framer has `feed(chunk: bytes) -> list[frame]` (never blocks, keeps the unfinished
tail for the next call, resynchronises after garbage) and a `discarded` byte counter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["Framer"]


class Framer(Protocol):
    """What a serial driver needs from a framer."""

    discarded: int

    def feed(self, chunk: bytes) -> Sequence[object]:
        """Add received bytes; return the frames they complete."""
        ...
