"""Migrations: empty → head → base → head, and the models match the migrations."""

from __future__ import annotations

import asyncio
import gc

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.util import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from hub import db, migrate
from hub.models import identity_models  # noqa: F401
from hub.reporting import facts
from tests.support.postgres import ThrowawayPostgres


def _fresh_url(postgres: ThrowawayPostgres | None, tmp_path: object, name: str) -> str:
    if postgres is not None:
        return postgres.create_database(name)
    return f"sqlite+aiosqlite:///{tmp_path}/{name}.sqlite3"


async def _tables(url: str) -> set[str]:
    engine = db.make_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def _diff(url: str) -> list[object]:
    engine = db.make_engine(url)

    def compare(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, db.Base.metadata))

    async with engine.connect() as conn:
        diff = await conn.run_sync(compare)
    await engine.dispose()
    return diff


def test_upgrade_downgrade_upgrade(postgres: ThrowawayPostgres | None, tmp_path: object) -> None:
    url = _fresh_url(postgres, tmp_path, "cpts_migrations")
    migrate.upgrade(url)
    expected = {t.name for t in db.Base.metadata.sorted_tables}
    assert asyncio.run(_tables(url)) == expected
    migrate.downgrade(url, "base")
    assert asyncio.run(_tables(url)) == set()
    migrate.upgrade(url)
    assert asyncio.run(_tables(url)) == expected


def test_models_and_migrations_agree(postgres: ThrowawayPostgres | None, tmp_path: object) -> None:
    url = _fresh_url(postgres, tmp_path, "cpts_drift")
    migrate.upgrade(url)
    assert asyncio.run(_diff(url)) == []


async def _triggers(url: str) -> set[str]:
    engine = db.make_engine(url)
    if engine.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    async with engine.connect() as conn:
        names = {str(n) for n in (await conn.exec_driver_sql(query)).scalars()}
    await engine.dispose()
    return names


def test_the_indicators_facts_are_kept_by_every_trigger_at_head(
    postgres: ThrowawayPostgres | None, tmp_path: object
) -> None:
    """On SQLite a later migration that copies a table (batch mode) drops its triggers: the
    indicators would silently stop following it."""
    url = _fresh_url(postgres, tmp_path, "cpts_facts")
    migrate.upgrade(url)
    dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
    assert set(facts.trigger_names(dialect)) <= asyncio.run(_triggers(url))


def test_a_table_copied_by_a_later_migration_keeps_its_facts_triggers(tmp_path: object) -> None:
    """SQLite's batch mode copies a table and renames the copy into place: inside
    ``facts.lifted``, as a later migration of a watched table must run it, the rename is
    accepted and the triggers are back afterwards."""
    url = _fresh_url(None, tmp_path, "cpts_batch")
    migrate.upgrade(url)
    engine = sa.create_engine(url.replace("+aiosqlite", ""))
    with engine.begin() as conn:
        op = Operations(MigrationContext.configure(conn))
        with facts.lifted(conn), op.batch_alter_table("reports", recreate="always") as batch:
            batch.alter_column("reason", nullable=True)
    engine.dispose()
    assert set(facts.trigger_names("sqlite")) <= asyncio.run(_triggers(url))


def test_a_failed_migration_leaves_no_database_connection_open(
    postgres: ThrowawayPostgres | None, tmp_path: object
) -> None:
    url = _fresh_url(postgres, tmp_path, "cpts_failed_migration")
    with pytest.raises(CommandError):
        migrate.upgrade(url, "9999")  # no such version: fails inside the migration environment
    migrate.upgrade(url)  # the next command replaces the failed one's context...
    # ...and a connection the failed one left open is garbage now: the collector would find it,
    # its ResourceWarning failing this test (it once failed a later test instead).
    gc.collect()
