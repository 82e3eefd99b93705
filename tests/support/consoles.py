"""The consoles in a real browser: logging in, counting the frames a video has shown."""

from __future__ import annotations

from playwright.async_api import Page

from tests.support.live import LiveHub


async def login(page: Page, hub: LiveHub, username: str, password: str) -> None:
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill(username)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()


async def frames(page: Page, selector: str) -> int:
    """The frames of a video the page has shown so far (its `data-frames` counter)."""
    return int(await page.locator(selector).get_attribute("data-frames") or 0)


async def at_least(page: Page, selector: str, count: int, timeout: float = 20.0) -> None:
    """Wait until the page has shown that many frames of a video (its frame counter)."""
    await page.wait_for_function(
        "([selector, count]) => Number(document.querySelector(selector)?.dataset.frames || 0)"
        " >= count",
        arg=[selector, count],
        timeout=timeout * 1000,
    )
