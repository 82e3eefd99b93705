"""Locks that make a periodic job run on one hub worker at a time.

Three kinds, chosen by ``job_lock_for``:

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection of its own,
  held while the job runs. A worker that dies closes its connection, and the server lets the
  lock go at once: a crashed worker never blocks the job.
- Redis (``HUB_REDIS_URL`` set, database not PostgreSQL): ``SET key token NX PX ttl``, released
  only by its holder (compare-and-delete). A worker that dies holds it until the time to live.
- Otherwise (SQLite, one process): an asyncio lock per job name.

``try_hold(name)`` yields whether this worker got the lock; a job that did not get it is
skipped this round (another worker is running it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import redis_client

logger = logging.getLogger(__name__)

REDIS_LOCK_TTL_SECONDS = 300.0
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class JobLock(Protocol):
    """Whether this worker may run a job now."""

    def try_hold(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]: ...

    async def close(self) -> None: ...


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a job name (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(f"hub-job:{name}".encode()).digest()[:8], signed=True)


class LocalJobLock:
    """One process: an asyncio lock per job (two runners in one process still alternate)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def try_hold(self, name: str) -> AsyncIterator[bool]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    async def close(self) -> None:
        return None


class AdvisoryJobLock:
    """PostgreSQL session advisory locks, each on a connection held for the job's duration."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @contextlib.asynccontextmanager
    async def try_hold(self, name: str) -> AsyncIterator[bool]:
        key = advisory_key(name)
        async with self._engine.connect() as conn:
            got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
            await conn.commit()
            try:
                yield got
            finally:
                if got:
                    await conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await conn.commit()

    async def close(self) -> None:
        return None


class RedisJobLock:
    """A Redis lock per job with a time to live, released only by the worker holding it."""

    def __init__(self, url: str, *, ttl_seconds: float = REDIS_LOCK_TTL_SECONDS) -> None:
        self._redis: Redis = redis_client.connect(url)
        self._ttl_ms = int(ttl_seconds * 1000)

    @contextlib.asynccontextmanager
    async def try_hold(self, name: str) -> AsyncIterator[bool]:
        key, token = f"hub:job-lock:{name}", secrets.token_hex(16)
        got = bool(await self._redis.set(key, token, nx=True, px=self._ttl_ms))
        try:
            yield got
        finally:
            if got:
                await self._redis.eval(_RELEASE, 1, key, token)

    async def close(self) -> None:
        await self._redis.aclose()


def job_lock_for(engine: AsyncEngine, redis_url: str) -> JobLock:
    """The lock that fits the deployment: PostgreSQL's, else Redis's, else in-process."""
    if engine.dialect.name == "postgresql":
        return AdvisoryJobLock(engine)
    if redis_url:
        return RedisJobLock(redis_url)
    return LocalJobLock()
