"""Running Alembic migrations programmatically (``python -m hub migrate``), and the check
every other command makes first (`database_problem`), which reads the schema's revision with
SQLAlchemy alone: Alembic is loaded only by the commands that migrate, so the hub starts
(and restarts) sooner."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "alembic_version"  # where Alembic keeps the schema's revision

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    from alembic import command

    _ensure_parent(database_url)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Take the database schema down to ``revision`` (``base`` empties it)."""
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str) -> None:
    """Autogenerate a new migration from the models (developers only)."""
    from alembic import command

    command.revision(alembic_config(database_url), message=message, autogenerate=True)


def database_problem(database_url: str) -> str | None:
    """What stops a command from using this database, in French (None: it exists and is
    migrated). Creates nothing: a SQLite file that does not exist is not opened."""
    shown = make_url(database_url).render_as_string(hide_password=True)
    path = _sqlite_path(database_url)
    if path is not None and not path.is_file():
        return f"la base de données {path} n'existe pas."
    try:
        revision = asyncio.run(_current_revision(database_url))
    except Exception as exc:  # any driver's refusal: unreachable, unknown database, bad login
        return f"la base de données {shown} ne répond pas ({type(exc).__name__} : {exc})."
    if revision is None:
        return (
            f"la base de données {shown} n'est pas initialisée : lancez d'abord "
            "« python -m hub migrate » avec le même HUB_DATABASE_URL."
        )
    return None


async def _current_revision(database_url: str) -> str | None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_revision_of)
    finally:
        await engine.dispose()


def _revision_of(connection: Connection) -> str | None:
    """The schema's revision as Alembic recorded it (None: never migrated)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608


def _sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    return Path(url.database or ":memory:")


def _ensure_parent(database_url: str) -> None:
    prefix = "sqlite+aiosqlite:///"
    if database_url.startswith(prefix):
        Path(database_url.removeprefix(prefix)).parent.mkdir(parents=True, exist_ok=True)
