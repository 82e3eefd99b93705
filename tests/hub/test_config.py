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
    monkeypatch.setenv("HUB_BEHIND_TLS", "true")
    monkeypatch.delenv("HUB_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="HUB_SECRET_KEY doit être une valeur aléatoire"):
        Settings()
    monkeypatch.setenv("HUB_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="au moins 32 caractères"):
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


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUB_PUBLIC_URL", "HUB_BEHIND_TLS", "HUB_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUB_ENVIRONMENT", "production")
    monkeypatch.setenv("HUB_SECRET_KEY", "x" * 40)


@pytest.mark.usefixtures("production")
def test_production_refuses_to_serve_cookies_over_plain_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="HUB_BEHIND_TLS=true"):
        Settings()
    monkeypatch.setenv("HUB_PUBLIC_URL", "http://hub.example.org")
    with pytest.raises(ValidationError, match="ne se joint qu'en HTTPS"):
        Settings()
    monkeypatch.setenv("HUB_PUBLIC_URL", "https://hub.example.org")
    assert Settings().secure_transport
    monkeypatch.delenv("HUB_PUBLIC_URL")
    monkeypatch.setenv("HUB_BEHIND_TLS", "true")
    assert Settings().secure_transport


def test_development_may_run_over_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUB_ENVIRONMENT", "HUB_PUBLIC_URL", "HUB_BEHIND_TLS", "HUB_COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    assert not Settings().secure_transport and not Settings().secure_cookies
    monkeypatch.setenv("HUB_COOKIE_SECURE", "true")
    assert Settings().secure_cookies and not Settings().secure_transport


@pytest.mark.usefixtures("production")
def test_trusted_proxies_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_BEHIND_TLS", "true")
    monkeypatch.setenv("HUB_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1")
    assert [str(n) for n in Settings().trusted_proxy_networks()] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    monkeypatch.setenv("HUB_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")
    with pytest.raises(ValidationError, match=r"« proxy\.local » n'est ni une adresse IP"):
        Settings()


def test_record_links_last_ninety_days_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_RECORD_LINK_DAYS", raising=False)
    assert Settings().record_link_days == 90
    monkeypatch.setenv("HUB_RECORD_LINK_DAYS", "30")
    assert Settings().record_link_days == 30
