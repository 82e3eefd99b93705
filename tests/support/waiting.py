"""The one way tests wait for something that happens in the background: ``eventually``
(``eventually_blocking`` is the same wait for the plain functions that drive real processes).

Tests never sleep for a fixed time. To show that something did NOT happen, wait for a later,
positive event that proves the system got past the point where it would have happened (a later
reading stored, a later acknowledgement, a scan counted), then assert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL_SECONDS = 0.02


async def eventually(
    check: Callable[[], object], what: str = "the condition", *, timeout: float = 15.0
) -> None:
    """Wait until ``check()`` (sync or async) is true; fail naming ``what`` after ``timeout`` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise _timed_out(what, timeout)
        await asyncio.sleep(POLL_SECONDS)


def eventually_blocking(
    check: Callable[[], object], what: str = "the condition", *, timeout: float = 20.0
) -> None:
    """``eventually`` for code without an event loop (a test driving processes over HTTP)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        time.sleep(POLL_SECONDS * 5)


def _timed_out(what: str, timeout: float) -> AssertionError:
    return AssertionError(f"timed out after {timeout:g} s waiting for {what}")
