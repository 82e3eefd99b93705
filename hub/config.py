"""Hub settings, read from the environment (``HUB_…`` variables)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-only-secret-key-change-me-in-production"  # noqa: S105 - refused outside development
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Everything the hub needs to run; nothing is read at import time."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite+aiosqlite:///var/hub.sqlite3"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    cookie_secure: bool = False
    session_idle_minutes: int = 12 * 60
    login_max_failures: int = 5
    login_window_minutes: int = 15
    agent_heartbeat_seconds: float = 10.0
    agent_offline_after_seconds: float = 30.0
    log_format: str = "json"
    log_level: str = "INFO"
    jobs_enabled: bool = True
    jobs_interval_seconds: float = 30.0
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True
    smtp_sender: str = "CPTS <noreply@cpts.example>"
    # The CPTS's secure-messaging (MSSanté) mailbox reports are relayed from; smtp_sender if empty.
    mssante_sender: str = ""
    # The product reference the ANS gives the software (X-MSS-NIL header), once registered.
    mssante_product_reference: str = ""
    sms_gateway_url: str = ""
    sms_gateway_token: SecretStr = SecretStr("")
    sms_sender: str = "CPTS"
    stun_urls: str = ""  # comma-separated, e.g. "stun:turn.example.org:3478"
    turn_urls: str = ""  # comma-separated, e.g. "turn:turn.example.org:3478?transport=udp"
    turn_secret: SecretStr = SecretStr("")  # coturn's static-auth-secret (REST API scheme)
    turn_ttl_seconds: int = 3600

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment is Environment.DEVELOPMENT:
            return self
        secret = self.secret_key.get_secret_value()
        if secret == DEFAULT_SECRET_KEY or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                "HUB_SECRET_KEY must be set to a random value of at least "
                f"{MIN_SECRET_LENGTH} characters outside development"
            )
        if self.agent_offline_after_seconds <= self.agent_heartbeat_seconds:
            raise ValueError("HUB_AGENT_OFFLINE_AFTER_SECONDS must exceed the heartbeat interval")
        return self

    @property
    def base_url(self) -> str:
        """The URL people type to reach the hub."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    def sqlite_path(self) -> Path | None:
        """The database file when the hub runs on embedded SQLite."""
        prefix = "sqlite+aiosqlite:///"
        if self.database_url.startswith(prefix):
            return Path(self.database_url.removeprefix(prefix))
        return None
