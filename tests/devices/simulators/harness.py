"""Helpers shared by the driver and simulator tests: the emulated finder, fast backoff."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from devices.drivers.bleak_link import BleakFinder
from devices.simulators.bumble_backend import (
    BumbleBleakClient,
    BumbleBleakScanner,
    EmulatedAir,
)


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
