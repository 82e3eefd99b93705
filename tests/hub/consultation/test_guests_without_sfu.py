"""A hub without Janus (``make demo``): the doctor's « Inviter un tiers » is disabled and says
why; an invitation posted anyway is refused in the same words."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from hub.config import Settings
from hub.consultation.models import Guest
from hub.consultation.sfu import NOT_CONFIGURED
from tests.conftest import csrf_from, login, text
from tests.support.factories import Cpts, session_for
from tests.support.scenario import booking_now, in_consultation


async def test_without_janus_the_invite_button_says_why(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    cid = await in_consultation(settings, await booking_now(settings), "medecin")
    await login(client, "medecin")
    console = await client.get(f"/medecin/consultations/{cid}")
    page = text(console)
    assert NOT_CONFIGURED in page
    assert (
        '<button type="button" disabled aria-describedby="guests-unavailable">Inviter un tiers'
        in page
    )
    refused = await client.post(
        f"/medecin/consultations/{cid}/tiers",
        data={
            "csrf_token": csrf_from(console.text),
            "role": "interpreter",
            "name": "Amina",
            "contact": "amina@interpretes.fr",
        },
    )
    assert refused.status_code == 409 and NOT_CONFIGURED in text(refused)
    async with session_for(settings) as session:
        assert list(await session.scalars(select(Guest))) == []
