"""What several hub workers share through Redis (``HUB_REDIS_URL``): the consoles' events
(``bus``: `RedisEventBus`), and this worker among its peers (``peers``: a channel per worker
for requests to the worker that holds a cabin's WebSocket and their replies, and each online
cabin's presence with a time to live). Without Redis none of this runs: one process, in memory.

It knows nothing of cabins or consoles: ``hub.cabins.routing`` says what the requests mean."""

from __future__ import annotations

from hub.redis_client import connect

__all__ = ["connect"]
