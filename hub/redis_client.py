"""The hub's Redis clients (``HUB_REDIS_URL``): one pool of connections per client, of a
bounded size, where a command waits for a free connection instead of failing.

redis-py's default pool refuses a command at once ("Too many connections") when 100 are in
use; 2,000 agents reconnecting together (each hello, heartbeat and goodbye touches its cabin's
presence) made a worker lose presence refreshes that way (measured by bench/hub_capacity.py,
two workers). Each Redis connection serves one command at a time, so the pool's size bounds
the commands in flight; the rest queue on the pool for up to ``WAIT_SECONDS``."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

POOL_SIZE = 64  # connections per client (Redis accepts 10,000 clients by default)
WAIT_SECONDS = 10.0  # a command waits this long for a free connection, then fails


def connect(url: str) -> Redis:
    """A Redis client for ``url`` (no connection is made before the first command)."""
    pool = BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=WAIT_SECONDS)
    client: Redis = Redis.from_pool(pool)  # the client owns its pool: closing it closes both
    return client
