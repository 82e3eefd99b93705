"""Database plumbing: the declarative base, column types, engine and session factories."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated, Any, ClassVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import DateTime, Dialect, MetaData, String, event, exc, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored in UTC on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: use an aware datetime")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}


IntPk = Annotated[int, mapped_column(primary_key=True)]
Str80 = Annotated[str, mapped_column(String(80))]
Str200 = Annotated[str, mapped_column(String(200))]


def utcnow() -> dt.datetime:
    """Now, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(database_url: str) -> AsyncEngine:
    """An async engine for SQLite (embedded default) or PostgreSQL."""
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    engine = create_async_engine(database_url, pool_size=10, max_overflow=10)
    event.listen(engine.sync_engine, "connect", _mark_fresh)
    event.listen(engine.sync_engine, "checkout", _check_alive)
    return engine


# A pooled PostgreSQL connection may have died while idle (the server restarted, the network
# was cut): it is checked when taken from the pool and replaced before the request uses it.
# SQLAlchemy's pool_pre_ping does that with three round trips on asyncpg (BEGIN, ";",
# ROLLBACK); a simple query outside a transaction is one, and a connection just opened is not
# checked at all.
_FRESH = "hub.db.fresh"


def _mark_fresh(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_FRESH] = True


async def _select_one(connection: Any) -> None:
    await connection.execute("SELECT 1")  # asyncpg, no arguments: a simple query, one round trip


def _check_alive(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Raise DisconnectionError (the pool then discards its connections older than this one and
    hands out a new one) when the connection taken from the pool no longer answers."""
    if record.info.pop(_FRESH, False):
        return
    try:
        dbapi_connection.run_async(_select_one)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as dead:  # not a bug's
        raise exc.InvalidatePoolError(f"pooled connection no longer answers: {dead!r}") from dead


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session per request; rolled back if the request fails before committing."""
    async with factory() as session:
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database does not answer a trivial query."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
