"""A third party in the consultation, in two Chromium contexts and through a real Janus: the
doctor invites an interpreter; the cabin agent (simulated trolley) is told to publish into the
consultation's room; the interpreter opens the link in a browser of their own, checks their
camera, joins and receives the room's camera through Janus (frames advancing); the doctor sees
them there and removes them; the interpreter's page says it is over for them."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from pydantic import SecretStr
from sqlalchemy import select

from cabin_agent.agent import CabinAgent
from hub.config import Settings
from hub.notify.models import OutboundMessage
from tests.support.factories import PASSWORDS, Cpts, session_for
from tests.support.janus import ThrowawayJanus
from tests.support.live import LiveHub
from tests.support.scenario import agent_config, booking_now, in_consultation
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser


@pytest.fixture
async def sfu_hub(settings: Settings, janus_server: ThrowawayJanus) -> AsyncIterator[LiveHub]:
    hub = LiveHub(
        settings.model_copy(
            update={
                "agent_heartbeat_seconds": 3.0,
                "agent_offline_after_seconds": 15.0,
                "janus_url": janus_server.url,
                "janus_admin_url": janus_server.admin_url,
                "janus_admin_secret": SecretStr(janus_server.admin_secret),
            }
        )
    )
    await hub.start()
    yield hub
    await hub.stop()


async def _login(page: Page, hub: LiveHub, username: str = "medecin") -> None:
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill(username)
    await page.get_by_label("Mot de passe").fill(PASSWORDS[username])
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(lambda url: "/connexion" not in url)


async def _publishing(agent: CabinAgent, consultation_id: int) -> bool:
    publication = (await agent.media.publications()).get(consultation_id)
    return publication is not None and publication.connection_state == "connected"


async def _invitation_link(settings: Settings) -> str:
    async with session_for(settings) as session:
        messages = list(await session.scalars(select(OutboundMessage)))
    found = [m for m in messages if "/invitation/" in m.body_text]
    assert found, "no invitation in the outbox"
    match = re.search(r"https?://\S+/invitation/[A-Za-z0-9_-]+", found[0].body_text)
    assert match
    return match.group(0)


async def test_an_interpreter_joins_sees_the_room_and_is_removed(
    browser: Browser, sfu_hub: LiveHub, cpts: Cpts, settings: Settings, tmp_path: Path
) -> None:
    hub = sfu_hub
    cid = await in_consultation(settings, await booking_now(settings), "medecin")
    agent = CabinAgent(agent_config(hub, cpts, tmp_path), simulate=True)
    task = asyncio.create_task(agent.run())
    doctor_context = await browser.new_context(locale="fr-FR", permissions=["camera", "microphone"])
    guest_context = await browser.new_context(locale="fr-FR", permissions=["camera", "microphone"])
    room_context = await browser.new_context(locale="fr-FR")
    try:
        await asyncio.wait_for(agent.link.online.wait(), 15)
        doctor = await doctor_context.new_page()
        await _login(doctor, hub)
        await doctor.goto(f"{hub.url}/medecin/consultations/{cid}")
        tiers = doctor.locator("#tiers")
        await tiers.get_by_label("Qui invitez-vous ?").select_option(label="interprète")
        await tiers.get_by_label("Nom").fill("Amina Haddad")
        await tiers.get_by_label("E-mail ou portable").fill("amina@interpretes.fr")
        await tiers.get_by_role("button", name="Inviter un tiers").click()
        await expect(doctor.locator("#tiers")).to_contain_text("Amina Haddad")
        link = await _invitation_link(settings)

        # The hub told the cabin to publish its trolley into the room.
        await eventually(
            lambda: _publishing(agent, cid),
            "the cabin publishing into the room",
            timeout=30,
        )

        guest = await guest_context.new_page()
        await guest.goto(link)
        await expect(guest.get_by_role("heading", level=1)).to_have_text(
            "Téléconsultation en cours"
        )
        await guest.get_by_role("button", name="Vérifier ma caméra et mon micro").click()
        join = guest.get_by_role("button", name="Rejoindre la consultation")
        await expect(join).to_be_enabled(timeout=10_000)
        await guest.get_by_label("Votre nom").fill("Amina Haddad")
        await join.click()
        await expect(guest.get_by_text("Vous êtes dans la consultation.")).to_be_visible(
            timeout=20_000
        )
        room_video = guest.locator('figure[data-description="room"] video')
        await guest.wait_for_function(
            """() => Number(document.querySelector('figure[data-description="room"] video')
                       ?.dataset.frames || 0) >= 10""",
            timeout=30_000,
        )
        first = int(await room_video.get_attribute("data-frames") or 0)
        await guest.wait_for_function(
            f"""() => Number(document.querySelector('figure[data-description="room"] video')
                        .dataset.frames) > {first}""",
            timeout=10_000,
        )

        # The doctor sees the interpreter there (live) and receives their camera through
        # Janus; the interpreter receives the doctor's.
        entry = doctor.locator("#tiers li", has_text="Amina Haddad")
        await expect(entry).to_contain_text("présent", timeout=15_000)
        await doctor.wait_for_function(
            """() => Number(document.querySelector('#tiers [data-field="guest-feeds"] video')
                       ?.dataset.frames || 0) >= 10""",
            timeout=30_000,
        )
        await expect(
            guest.locator('[data-field="feeds"] figure', has_text="Médecin")
        ).to_be_visible(timeout=20_000)
        # The room's screen shows the interpreter to the patient.
        room = await room_context.new_page()
        await _login(room, hub, "infirmiere")
        await room.goto(f"{hub.url}/salle/consultations/{cid}")
        await expect(room.locator("#tiers")).to_contain_text("Amina Haddad")
        await room.wait_for_function(
            """() => Number(document.querySelector('#tiers [data-field="guest-feeds"] video')
                       ?.dataset.frames || 0) >= 10""",
            timeout=30_000,
        )
        # …and removes them.
        await entry.get_by_role("button", name="Retirer Amina Haddad").click()
        await expect(doctor.locator("#tiers li", has_text="Amina Haddad")).to_contain_text("retiré")
        await expect(guest.get_by_role("alert")).to_contain_text(
            "Le médecin a mis fin à votre participation", timeout=15_000
        )
        await eventually(
            lambda: guest.evaluate(
                """() => document.querySelectorAll('[data-field="feeds"] figure').length === 0"""
            ),
            "the guest's page hung up the room's feeds",
        )
    finally:
        await room_context.close()
        await guest_context.close()
        await doctor_context.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
