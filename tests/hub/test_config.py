"""Settings: defaults for development, default secrets refused elsewhere."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.config import DEFAULT_SECRET_KEY, Environment, Settings


def test_development_runs_on_embedded_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUB_ENVIRONMENT", "HUB_DATABASE_URL", "HUB_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.database_url.startswith("sqlite+aiosqlite:///")


def test_production_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_ENVIRONMENT", "production")
    monkeypatch.delenv("HUB_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="HUB_SECRET_KEY must be set"):
        Settings()
    monkeypatch.setenv("HUB_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings()
    monkeypatch.setenv("HUB_SECRET_KEY", "x" * 40)
    assert Settings().secret_key.get_secret_value() != DEFAULT_SECRET_KEY


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PORT", "9100")
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql+asyncpg://hub@db/hub")
    settings = Settings()
    assert settings.port == 9100
    assert settings.base_url == "http://127.0.0.1:9100"
    assert settings.sqlite_path() is None
