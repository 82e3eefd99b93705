"""What the scenario walks share: staff and patients in their own browser contexts, a
screenshot at each key step (tests/artifacts/scenarios/<n>-<step>.png), the outbox delivered
to real transports, and the links patients receive."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from playwright.async_api import Browser, Page

from hub.config import Settings
from hub.notify.outbox import deliver_due
from hub.notify.sms import HttpSmsGateway
from tests.hub.notify.conftest import SMS_TOKEN, SmsWebhook
from tests.support.factories import PASSWORDS, session_for
from tests.support.live import LiveHub

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "scenarios"
PHONE = {"width": 390, "height": 844}


async def shot(page: Page, scenario: int, step: str) -> None:
    """Keep what the user sees at this step of the scenario (the whole page)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{scenario}-{step}.png"), full_page=True)


async def staff(browser: Browser, hub: LiveHub, username: str) -> Page:
    """A member of staff signed in, in a browser of their own (the tests' CPTS accounts)."""
    context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill(username)
    await page.get_by_label("Mot de passe").fill(PASSWORDS[username])
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(re.compile(r"^(?!.*/connexion).*$"))
    return page


async def on_a_phone(browser: Browser) -> Page:
    """A patient (or their daughter) on a phone."""
    context = await browser.new_context(
        locale="fr-FR", viewport=PHONE, is_mobile=True, has_touch=True
    )
    return await context.new_page()


async def deliver(settings: Settings, sms: SmsWebhook, now: dt.datetime) -> int:
    """Send what the outbox holds due at ``now`` (SMS to the webhook; e-mail stays queued)."""
    async with session_for(settings) as session:
        report = await deliver_due(
            session=session,
            now=now,
            smtp=None,
            sms=HttpSmsGateway(sms.url, SMS_TOKEN, "CPTS"),
        )
    return report.sent


def texts_to(sms: SmsWebhook, number: str) -> list[str]:
    """The SMS the webhook received for that number (+33…), oldest first."""
    return [
        str(body["text"])
        for _, body in sms.received
        if isinstance(body, dict) and body.get("to") == number
    ]


def link_in(text: str) -> str:
    """The link a message carries."""
    found = re.search(r"https?://\S+", text)
    assert found is not None, text
    return found.group(0)
