"""The coordinator's journal shows their own CPTS only: a hub may serve several CPTS."""

from __future__ import annotations

import httpx

from hub.audit.service import record_event
from hub.config import Settings
from hub.identity.models import Role
from tests.conftest import login, text
from tests.support import factories as make
from tests.support.factories import Cpts, session_for


async def test_the_journal_leaves_out_another_cpts(
    client: httpx.AsyncClient, settings: Settings, cpts: Cpts
) -> None:
    async with session_for(settings) as session:
        other = await make.organisation(session, name="CPTS voisine", slug="cpts-voisine")
        far_site = await make.site(session, organisation=other, name="Maison de santé voisine")
        stranger = await make.user(
            session, organisation=other, username="voisine", role=Role.NURSE, sites=[far_site]
        )
        await session.flush()
        record_event(
            session=session,
            action="patient.read",
            actor_kind="user",
            actor_id=stranger.id,
            site_id=far_site.id,
            ip="198.51.100.77",
        )
        record_event(  # a login tried on the other CPTS's account
            session=session,
            action="login.failed",
            actor_kind="anonymous",
            outcome="refused",
            target="user:voisine",
            ip="198.51.100.78",
        )
        record_event(  # and one tried on ours
            session=session,
            action="login.failed",
            actor_kind="anonymous",
            outcome="refused",
            target="user:coordination",
            ip="198.51.100.79",
        )
        await session.commit()

    await login(client, "coordination")
    page = text(await client.get("/coordination"))
    assert "198.51.100.79" in page  # our account's failed login is in our journal
    assert "198.51.100.77" not in page and "198.51.100.78" not in page
