"""The command lines speak French: their help, their settings and file errors, and what to set when
the database is missing —
in which case they create nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from cabin_agent.__main__ import main as agent_main
from devices.cli import main as devices_main
from hub.__main__ import main as hub_main
from hub.config import Settings
from hub.demo import DEMO_ORG_SLUG, DemoSeed

NEEDS_DATABASE = {
    "serve": ["serve"],
    "create-user": [
        "create-user",
        "--organisation",
        DEMO_ORG_SLUG,
        "--username",
        "x",
        "--full-name",
        "X",
        "--role",
        "nurse",
        "--password-stdin",
    ],
    "create-api-client": ["create-api-client", "--organisation", DEMO_ORG_SLUG],
    "indicators": ["indicators", "--from", "2025-01-01", "--to", "2025-12-31"],
    "verify-audit": ["verify-audit"],
    "export-consultation": ["export-consultation", "1", "--out", "export"],
}


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder and no HUB_DATABASE_URL: the default database does not exist."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    return tmp_path


@pytest.mark.parametrize("argv", NEEDS_DATABASE.values(), ids=NEEDS_DATABASE.keys())
def test_without_a_database_the_command_says_what_to_set_and_creates_nothing(
    elsewhere: Path, argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        hub_main(argv)
    message = str(stopped.value.code)
    assert message.startswith(
        "Impossible de continuer : HUB_DATABASE_URL n'est pas défini, et la base de données "
        "var/hub.sqlite3 n'existe pas."
    )
    assert "HUB_DATABASE_URL=sqlite+aiosqlite:///var/demo/hub.sqlite3" in message
    assert "python -m hub migrate" in message
    assert list(elsewhere.iterdir()) == []  # no empty database file left behind


def test_a_database_never_migrated_is_named_and_left_as_it_was(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = elsewhere / "vide.sqlite3"
    sqlite3.connect(empty).close()
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite+aiosqlite:///{empty}")
    with pytest.raises(SystemExit) as stopped:
        hub_main(NEEDS_DATABASE["create-api-client"])
    assert "n'est pas initialisée : lancez d'abord « python -m hub migrate »" in str(
        stopped.value.code
    )
    with sqlite3.connect(empty) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


async def test_with_its_database_the_command_runs(
    settings: Settings,
    demo: DemoSeed,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", settings.database_url)
    code = await asyncio.to_thread(hub_main, NEEDS_DATABASE["create-api-client"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Client d'API n° " in out and "Jeton (affiché une seule fois" in out


@pytest.mark.parametrize(
    ("main", "argv"),
    [
        (hub_main, ["-h"]),
        (hub_main, ["create-user", "-h"]),
        (hub_main, ["indicators", "-h"]),
        (agent_main, ["run", "-h"]),
        (devices_main, ["-h"]),
    ],
    ids=["hub", "hub create-user", "hub indicators", "cabin_agent run", "devices"],
)
def test_help_is_in_french(
    main: object, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)  # type: ignore[operator]
    assert stopped.value.code == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith("Utilisation : ")
    assert "afficher cette aide et s'arrêter" in help_text
    for english in ("usage:", "show this help", "positional arguments"):
        assert english not in help_text


def test_a_missing_option_is_said_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        hub_main(["create-api-client"])
    assert "erreur : à indiquer : --organisation" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("database_url", "redis_url", "said"),
    [
        ("", "redis://127.0.0.1:6379/0", ["base SQLite", "PostgreSQL dans HUB_DATABASE_URL"]),
        (
            "postgresql+asyncpg://hub:motdepasse@127.0.0.1:1/hub",
            "",
            ["HUB_REDIS_URL (redis://serveur:6379/0)"],
        ),
        ("", "", ["base SQLite", "HUB_REDIS_URL"]),
    ],
    ids=["sqlite", "no-redis", "neither"],
)
def test_several_workers_refuse_sqlite_or_no_redis_and_create_nothing(
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    redis_url: str,
    said: list[str],
) -> None:
    if database_url:
        monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_REDIS_URL", redis_url)
    with pytest.raises(SystemExit) as stopped:
        hub_main(["serve", "--workers", "2"])
    message = str(stopped.value.code)
    assert message.startswith("Impossible de lancer plusieurs processus (--workers) : ")
    for words in said:
        assert words in message
    assert list(elsewhere.iterdir()) == []  # no database file, nothing else


def test_a_wrong_setting_is_named_and_said_in_french(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_PORT", "huit-mille")
    monkeypatch.setenv("HUB_TRUSTED_PROXIES", "proxy.local")
    with pytest.raises(SystemExit) as stopped:
        hub_main(NEEDS_DATABASE["verify-audit"])
    assert str(stopped.value.code) == (
        "Erreur de configuration : HUB_PORT : un nombre entier est attendu (« huit-mille »)"
    )
    monkeypatch.setenv("HUB_PORT", "8000")
    with pytest.raises(SystemExit) as stopped:
        hub_main(NEEDS_DATABASE["verify-audit"])
    assert str(stopped.value.code) == (
        "Erreur de configuration : HUB_TRUSTED_PROXIES : « proxy.local » n'est ni une adresse "
        "IP ni un réseau"
    )


def test_migrate_without_a_url_says_which_database_it_made(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub_main(["migrate"]) == 0
    said = capsys.readouterr().out
    assert "Base de données var/hub.sqlite3 mise à jour à la version head." in said
    assert "HUB_DATABASE_URL n'est pas défini : c'est la base SQLite par défaut" in said
    assert "HUB_DATABASE_URL=sqlite+aiosqlite:///var/hub.sqlite3" in said
    assert (elsewhere / "var" / "hub.sqlite3").exists()


def test_migrating_to_a_version_that_does_not_exist_is_said_in_french(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite+aiosqlite:///{elsewhere / 'hub.sqlite3'}")
    with pytest.raises(SystemExit) as stopped:
        hub_main(["migrate", "upgrade", "9999"])
    assert str(stopped.value.code).startswith(
        "Erreur : la version « 9999 » n'existe pas (les versions sont les fichiers de "
        "hub/migrations/versions"
    )


def test_the_cabin_agent_says_what_is_wrong_in_its_file_in_french(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cabine.toml"
    path.write_text('[hub]\nurl = "http://127.0.0.1:8000"\ncabin_id = 0\ntoken = "x"\n')
    assert agent_main(["run", "--config", str(path)]) != 0
    assert capsys.readouterr().err == (
        f"Erreur de configuration : {path} : hub.cabin_id : doit être supérieur à 0 (« 0 »)\n"
    )
