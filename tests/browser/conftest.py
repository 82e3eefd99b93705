"""Debian's Chromium driven by Playwright (executablePath; never `playwright install`)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from hub.config import Settings
from tests.support.live import LiveHub

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium not found: run tests/support/system-deps.sh (make test does)")
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(locale="fr-FR")
    p = await context.new_page()
    try:
        yield p
    finally:
        await context.close()


@pytest.fixture
async def media_hub(settings: Settings) -> AsyncIterator[LiveHub]:
    """One event loop runs the hub and the agent (which encodes video): production heartbeats."""
    hub = LiveHub(
        settings.model_copy(
            update={"agent_heartbeat_seconds": 3.0, "agent_offline_after_seconds": 15.0}
        )
    )
    await hub.start()
    yield hub
    await hub.stop()
