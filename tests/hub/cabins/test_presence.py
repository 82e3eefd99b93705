"""A cabin's online status with one hub process: its agent's open link is the truth."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI

from hub.cabins.presence import seen_in_cluster, status_of
from hub.config import Settings
from hub.context import AgentConnection, HubContext
from hub.identity import service as identity
from tests.support.factories import Cpts, session_for


async def test_a_cabin_whose_link_is_open_stays_online_however_late_last_seen_was_written(
    app: FastAPI, settings: Settings, cpts: Cpts
) -> None:
    ctx: HubContext = app.state.hub
    written = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    async with session_for(settings) as session:
        await identity.set_cabin_link(
            session=session, cabin_id=cpts.cabin_id, connected=True, seen_at=written
        )
        await session.commit()
        cabin = await identity.get_cabin(session=session, cabin_id=cpts.cabin_id)
    # A busy machine: the clock is well past the offline delay since last-seen was written,
    # but the gateway holds the agent's link open (it closes a link only once it is silent).
    ctx.clock = lambda: written + dt.timedelta(seconds=10 * settings.agent_offline_after_seconds)
    offline_after = dt.timedelta(seconds=settings.agent_offline_after_seconds)
    link = AgentConnection(cabin_id=cpts.cabin_id, heard_at=written)
    ctx.agents[cpts.cabin_id] = link
    seen = await seen_in_cluster(ctx, [cpts.cabin_id])
    assert status_of(cabin, now=ctx.clock(), offline_after=offline_after, seen=seen).online

    link.closed.set()  # the link closed: offline at once, whatever the row says
    seen = await seen_in_cluster(ctx, [cpts.cabin_id])
    assert not status_of(cabin, now=ctx.clock(), offline_after=offline_after, seen=seen).online
