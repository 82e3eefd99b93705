"""With several workers: the cabins of a worker that died show offline on the consoles too.

A worker that stops closes its agents' links and says so itself. One killed says nothing: its
cabins' presence keys expire (`hub.cluster.peers`), and every surviving worker looks, each
heartbeat interval, for cabins that were online and have no key any more; the first to find one
records it offline and tells the site's staff, as the gateway does when a link closes."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from hub.cabins import live
from hub.context import HubContext
from hub.identity import service as identity

logger = logging.getLogger(__name__)


async def watch(ctx: HubContext) -> None:
    """Until cancelled: announce offline the cabins whose worker vanished."""
    assert ctx.peers is not None
    while True:
        await asyncio.sleep(ctx.settings.agent_heartbeat_seconds)  # a periodic look
        try:
            gone = await ctx.peers.vanished()
        except (RedisError, OSError) as exc:
            logger.warning("cabins whose worker died could not be looked for: %s", exc)
            continue
        for cabin_id in gone:
            async with ctx.sessions() as session:
                site_id = await identity.cabin_site_id(session=session, cabin_id=cabin_id)
            if site_id is not None:
                await live.announce_offline(ctx, cabin_id=cabin_id, site_id=site_id)
                logger.info("cabin %s offline: the worker holding it is gone", cabin_id)
