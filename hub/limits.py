"""Failure counts that several hub workers share (login throttling), kept in Redis.

A ``FailureLog`` records when something failed, per key, and answers "when was the n-th most
recent failure since…": enough for a sliding-window limit. ``RedisFailureLog`` keeps one sorted
set per key (score: the time of the failure, on the hub's clock), trimmed to the window and
expiring with it. Without Redis the hub keeps its failures in its database (``identity``).
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from collections.abc import Iterable
from typing import Protocol

from redis.asyncio import Redis

from hub import redis_client


class FailureLog(Protocol):
    """Recent failures per key, shared by every worker."""

    async def nth_latest(self, key: str, n: int, since: dt.datetime) -> dt.datetime | None: ...

    async def add(self, keys: Iterable[str], at: dt.datetime, window: dt.timedelta) -> None: ...

    async def clear(self, key: str) -> None: ...

    async def close(self) -> None: ...


class RedisFailureLog:
    """Failures in Redis sorted sets, ``hub:failures:<key>``."""

    def __init__(self, url: str) -> None:
        self._redis: Redis = redis_client.connect(url)

    @staticmethod
    def _name(key: str) -> str:
        return f"hub:failures:{key}"

    async def nth_latest(self, key: str, n: int, since: dt.datetime) -> dt.datetime | None:
        """The time of the n-th most recent failure at or after ``since``, if there are n."""
        found = await self._redis.zrevrangebyscore(
            self._name(key), "+inf", since.timestamp(), start=n - 1, num=1, withscores=True
        )
        if not found:
            return None
        score = found[0][1]
        return dt.datetime.fromtimestamp(float(score), dt.UTC)

    async def add(self, keys: Iterable[str], at: dt.datetime, window: dt.timedelta) -> None:
        """One failure at ``at`` for each key; what is older than the window is dropped."""
        stamp = at.timestamp()
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys:
                name = self._name(key)
                pipe.zadd(name, {f"{stamp}:{secrets.token_hex(4)}": stamp})
                pipe.zremrangebyscore(name, "-inf", f"({stamp - window.total_seconds()}")
                pipe.expire(name, max(1, math.ceil(window.total_seconds())))
            await pipe.execute()

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._name(key))

    async def close(self) -> None:
        await self._redis.aclose()


def failure_log_for(redis_url: str) -> FailureLog | None:
    """The shared failure log when the hub has Redis; None: the database keeps them."""
    return RedisFailureLog(redis_url) if redis_url else None
