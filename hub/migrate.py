"""Running Alembic migrations programmatically (``python -m hub migrate``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    _ensure_parent(database_url)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Take the database schema down to ``revision`` (``base`` empties it)."""
    command.downgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str) -> None:
    """Autogenerate a new migration from the models (developers only)."""
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
    return MigrationContext.configure(connection).get_current_revision()


def _sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    return Path(url.database or ":memory:")


def _ensure_parent(database_url: str) -> None:
    prefix = "sqlite+aiosqlite:///"
    if database_url.startswith(prefix):
        Path(database_url.removeprefix(prefix)).parent.mkdir(parents=True, exist_ok=True)
