"""The hub's connection pool on PostgreSQL: a connection that died while idle in the pool is
replaced before a request uses it, so a database restart shows no error to the next user."""

from __future__ import annotations

import pytest
from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import db
from tests.support.postgres import ThrowawayPostgres


async def _answer(engine: AsyncEngine) -> int:
    """What a request does: a session from the factory, one query, its answer (the server
    process that served it)."""
    async with db.make_session_factory(engine)() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_pooled_connections_survive_a_database_restart(
    postgres: ThrowawayPostgres | None,
) -> None:
    if postgres is None:
        pytest.skip("PostgreSQL only: SQLite has no server to restart")
    url = postgres.create_database("pool_restart")
    checked, unchecked = db.make_engine(url), db.make_engine(url)
    event.remove(unchecked.sync_engine, "checkout", db._check_alive)
    try:
        await _answer(unchecked)  # a connection opened, used and back in each pool
        served_by = await _answer(checked)
        assert await _answer(checked) == served_by  # a live connection is kept, not reopened
        postgres.restart()
        assert await _answer(checked) != served_by  # its dead connection replaced, silently
        # Without the check, the dead connection reaches the request: what users would see.
        with pytest.raises(exc.DBAPIError):
            await _answer(unchecked)
    finally:
        await checked.dispose()
        await unchecked.dispose()
