"""A periodic job runs on one worker at a time: the job locks, on Redis and on PostgreSQL."""

from __future__ import annotations

import pytest

from hub import db
from hub.joblock import AdvisoryJobLock, LocalJobLock, RedisJobLock
from tests.conftest import BACKEND
from tests.support.waiting import eventually


async def test_a_job_held_by_one_worker_is_skipped_by_the_other_until_released(
    redis_url: str,
) -> None:
    first, second = RedisJobLock(redis_url), RedisJobLock(redis_url)
    try:
        async with first.try_hold("expire-offers") as held:
            assert held
            async with second.try_hold("expire-offers") as other:
                assert not other
            async with second.try_hold("seal-audit") as another_job:
                assert another_job
        async with second.try_hold("expire-offers") as after:
            assert after
    finally:
        await first.close()
        await second.close()


async def test_a_dead_workers_redis_lock_lapses_after_its_time_to_live(redis_url: str) -> None:
    dead, alive = RedisJobLock(redis_url, ttl_seconds=0.3), RedisJobLock(redis_url)
    try:
        holder = dead.try_hold("sync-slots")
        assert await holder.__aenter__()  # never released: the worker died holding it

        async def free() -> bool:
            async with alive.try_hold("sync-slots") as held:
                return held

        assert not await free()
        await eventually(free, "the lock of the dead worker to lapse", timeout=10)
    finally:
        await dead.close()
        await alive.close()


async def test_one_process_runs_a_job_once_at_a_time() -> None:
    lock = LocalJobLock()
    async with lock.try_hold("seal-audit") as held:
        assert held
        async with lock.try_hold("seal-audit") as again:
            assert not again


@pytest.mark.skipif(BACKEND != "postgresql", reason="advisory locks are PostgreSQL's")
async def test_postgres_workers_take_turns_on_a_job(database_url: str) -> None:
    one, two = db.make_engine(database_url), db.make_engine(database_url)
    try:
        first, second = AdvisoryJobLock(one), AdvisoryJobLock(two)
        async with first.try_hold("expire-offers") as held:
            assert held
            async with second.try_hold("expire-offers") as other:
                assert not other
            async with second.try_hold("sync-slots") as another_job:
                assert another_job
        async with second.try_hold("expire-offers") as after:
            assert after
    finally:
        await one.dispose()
        await two.dispose()
