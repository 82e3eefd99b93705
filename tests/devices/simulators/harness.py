"""Helpers shared by the driver and simulator tests: waiting on conditions, fast backoff."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from devices.drivers.bleak_link import BleakFinder
from devices.simulators.bumble_backend import (
    BumbleBleakClient,
    BumbleBleakScanner,
    EmulatedAir,
)

WAIT_LIMIT = 5.0


async def wait_for(condition: Callable[[], bool], what: str, limit: float = WAIT_LIMIT) -> None:
    """Poll `condition` on the event loop until true; fail the test after `limit` seconds."""
    try:
        async with asyncio.timeout(limit):
            while not condition():  # noqa: ASYNC110 - conditions on plain state
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def quick_sleep(_seconds: float) -> None:
    """A backoff sleep that only yields, so reconnection tests do not wait for real."""
    await asyncio.sleep(0.001)


def emulated_finder(air: EmulatedAir) -> BleakFinder:
    """A finder using bleak's public API with the bumble backends on `air`."""
    return BleakFinder(
        client_backend=BumbleBleakClient,
        scanner_backend=BumbleBleakScanner,
        backend_kwargs={"air": air},
    )


@asynccontextmanager
async def running(coroutine_task: asyncio.Task[None]) -> AsyncIterator[asyncio.Task[None]]:
    """Cancel and await a background task when the block ends."""
    try:
        yield coroutine_task
    finally:
        coroutine_task.cancel()
        await asyncio.gather(coroutine_task, return_exceptions=True)
