"""What the hub's commands share: their settings from the environment, and a database that
exists and is migrated before a command touches it — said in French otherwise, so that a
command run without ``HUB_DATABASE_URL`` creates nothing and says what to set."""

from __future__ import annotations

import os

from pydantic import ValidationError

from devices.cli_fr import validation_message
from hub import migrate
from hub.config import Settings

DATABASE_HELP = (
    "Indiquez la base du hub dans HUB_DATABASE_URL, par exemple "
    "HUB_DATABASE_URL=sqlite+aiosqlite:///var/demo/hub.sqlite3 (celle de « make demo ») ou "
    "HUB_DATABASE_URL=postgresql+asyncpg://utilisateur:motdepasse@serveur/base ; une base "
    "neuve se crée avec « python -m hub migrate »."
)


def settings() -> Settings:
    """The hub's settings (``HUB_…`` variables); exits with a French message if they are wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        messages = "; ".join(_problem(dict(e)) for e in exc.errors())
        raise SystemExit(f"Erreur de configuration : {messages}") from None


def _problem(error: dict[str, object]) -> str:
    """One settings error in French, named by its environment variable (HUB_PORT : …)."""
    loc = error.get("loc") or ()
    assert isinstance(loc, tuple)
    where = f"HUB_{str(loc[0]).upper()} : " if loc else ""
    return where + validation_message(error)


def settings_with_database() -> Settings:
    """The settings, once their database is known to exist and be migrated; otherwise exits
    with a French message saying what to set (nothing is created)."""
    result = settings()
    problem = migrate.database_problem(result.database_url)
    if problem is None:
        return result
    unset = "" if os.environ.get("HUB_DATABASE_URL") else "HUB_DATABASE_URL n'est pas défini, et "
    raise SystemExit(f"Impossible de continuer : {unset}{problem}\n{DATABASE_HELP}")


def refuse_several_workers(settings: Settings) -> None:
    """Exits with a French message unless several hub workers can share this configuration:
    PostgreSQL (one truth for every process) and Redis (their events, cabins and presence)."""
    problems = []
    if not settings.database_url.startswith("postgresql"):
        problems.append(
            "plusieurs processus ne peuvent pas partager une base SQLite : indiquez une base "
            "PostgreSQL dans HUB_DATABASE_URL (postgresql+asyncpg://…)"
        )
    if not settings.redis_url:
        problems.append(
            "les processus partagent leurs événements, leurs cabines et leur présence par Redis : "
            "indiquez-le dans HUB_REDIS_URL (redis://serveur:6379/0)"
        )
    if problems:
        raise SystemExit(
            "Impossible de lancer plusieurs processus (--workers) : " + " ; ".join(problems) + "."
        )
