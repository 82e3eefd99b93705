"""Hub settings, read from the environment (``HUB_…`` variables)."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
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
    # Several workers share their events, cabins' presence and limits through Redis
    # ("redis://host:6379/0"); empty: one process, everything in memory (the embedded default).
    redis_url: str = ""
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    # TLS ends in a reverse proxy in front of the hub (its own address is plain HTTP).
    behind_tls: bool = False
    # Secure cookies even where HTTPS is not declared (always when it is).
    cookie_secure: bool = False
    # Comma-separated addresses or networks of the reverse proxies whose X-Forwarded-For is
    # believed, e.g. "127.0.0.1,10.0.0.0/8"; empty: the connecting peer is the client.
    trusted_proxies: str = ""
    session_idle_minutes: int = 12 * 60
    # Failed logins tolerated per (account, address), then per address whatever the account.
    login_max_failures: int = 5
    login_address_max_failures: int = 20
    login_window_minutes: int = 15
    # How long the link to their record that a patient receives with a document stays valid.
    record_link_days: int = 90
    agent_heartbeat_seconds: float = 10.0
    agent_offline_after_seconds: float = 30.0
    log_format: str = "json"
    log_level: str = "INFO"
    jobs_enabled: bool = True
    jobs_interval_seconds: float = 30.0
    # A consultation's Janus room with no guest in it for this long is closed by the periodic
    # jobs (the consultation goes on; inviting again opens a new room).
    sfu_room_idle_minutes: float = Field(default=60.0, gt=0)
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
    # The MSSanté trust space ("espace de confiance"): the mail domains reports may be relayed
    # to, comma-separated; an address qualifies when its domain is one of them or under one.
    mssante_domains: str = "mssante.fr"
    # The hub's MSSanté mailbox, read for the relays' delivery and read reports (DSN/MDN):
    # imaps://host[:993][/folder] or imap://host[:143][/folder] (STARTTLS unless disabled).
    mssante_imap_url: str = ""
    mssante_imap_user: str = ""
    mssante_imap_password: SecretStr = SecretStr("")
    mssante_imap_starttls: bool = True
    # The OID the operator registered (ANS or its own arc): local identifiers of patients,
    # users and submissions are named <root>.<organisation id>.<1|2|3> in CDA, XDM and FHIR.
    # Empty: an OID derived under 2.25 from each CPTS's SIRET (stable, needs no registration).
    oid_root: str = ""
    sms_gateway_url: str = ""
    sms_gateway_token: SecretStr = SecretStr("")
    # The SAS platform's FHIR base the hub reports the Appointments booked from its slot links
    # to (POST/PUT [base]/Appointment, bearer token); empty: nothing is reported.
    sas_platform_url: str = ""
    sas_platform_token: SecretStr = SecretStr("")
    sms_sender: str = "CPTS"
    # The national INSi teleservice (SOAP endpoint) and the structure's certificate and private
    # key (PEM paths) for its mutual TLS. Empty URL: INSi unavailable, identities are not
    # "récupérées" and so never "qualifiées" (the screens say so).
    insi_url: str = ""
    insi_cert: str = ""
    insi_key: str = ""
    insi_ca: str = ""  # PEM bundle of the IGC-Santé chain INSi's server certificate is under
    stun_urls: str = ""  # comma-separated, e.g. "stun:turn.example.org:3478"
    turn_urls: str = ""  # comma-separated, e.g. "turn:turn.example.org:3478?transport=udp"
    turn_secret: SecretStr = SecretStr("")  # coturn's static-auth-secret (REST API scheme)
    turn_ttl_seconds: int = 3600
    # Janus (Debian's `janus`, VideoRoom plugin), the SFU of consultations with more than two
    # parties: its HTTP API ("http://127.0.0.1:8088/janus"), its admin API
    # ("http://127.0.0.1:7088/admin") and janus.jcfg's admin_secret. Empty: no SFU (the demo);
    # consultations stay one to one. Janus runs with token_auth: the hub adds each party's token.
    janus_url: str = ""
    janus_admin_url: str = ""
    janus_admin_secret: SecretStr = SecretStr("")
    # "relay": the doctor's browser and the cabin use only TURN relay candidates (networks
    # where direct paths must not be tried, and the tests proving media crosses coturn).
    ice_transport_policy: Literal["all", "relay"] = "all"

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        self.trusted_proxy_networks()  # refuses a malformed list, whatever the environment
        if self.environment is Environment.DEVELOPMENT:
            return self
        secret = self.secret_key.get_secret_value()
        if secret == DEFAULT_SECRET_KEY or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                "HUB_SECRET_KEY doit être une valeur aléatoire d'au moins "
                f"{MIN_SECRET_LENGTH} caractères hors développement"
            )
        if self.janus_url and not (
            self.janus_admin_url and self.janus_admin_secret.get_secret_value()
        ):
            raise ValueError(
                "HUB_JANUS_URL needs HUB_JANUS_ADMIN_URL and HUB_JANUS_ADMIN_SECRET: the hub adds "
                "the tokens of each room's parties through Janus's admin API"
            )
        if self.agent_offline_after_seconds <= self.agent_heartbeat_seconds:
            raise ValueError(
                "HUB_AGENT_OFFLINE_AFTER_SECONDS doit dépasser l'intervalle des battements de "
                "cœur des cabines (HUB_AGENT_HEARTBEAT_SECONDS)"
            )
        if self.environment is Environment.PRODUCTION and not self.secure_transport:
            raise ValueError(
                "en production, le hub ne se joint qu'en HTTPS : indiquez son adresse https:// "
                "dans HUB_PUBLIC_URL, ou HUB_BEHIND_TLS=true quand un proxy inverse termine TLS "
                "devant lui (les cookies sont alors Secure et les réponses portent HSTS)"
            )
        return self

    @property
    def secure_transport(self) -> bool:
        """True when people reach the hub over HTTPS only: Secure cookies and HSTS."""
        return self.behind_tls or self.public_url.lower().startswith("https://")

    @property
    def secure_cookies(self) -> bool:
        """True when the hub's cookies are only sent over HTTPS."""
        return self.cookie_secure or self.secure_transport

    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The networks of HUB_TRUSTED_PROXIES (a bare address is a one-address network)."""
        networks = []
        for item in self.trusted_proxies.split(","):
            if not item.strip():
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"HUB_TRUSTED_PROXIES : « {item.strip()} » n'est ni une adresse IP ni un réseau"
                ) from None
        return tuple(networks)

    def mssante_trust_space(self) -> tuple[str, ...]:
        """The domains of HUB_MSSANTE_DOMAINS, lower case, without a leading "@" or dot."""
        return tuple(
            d.strip().lower().lstrip("@.") for d in self.mssante_domains.split(",") if d.strip()
        )

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

    @field_validator("oid_root")
    @classmethod
    def _an_oid(cls, value: str) -> str:
        value = value.strip()
        if value and not _OID.fullmatch(value):
            raise ValueError(
                f"HUB_OID_ROOT : « {value} » n'est pas un OID (des nombres séparés par des "
                "points, par exemple 1.2.250.1.999)"
            )
        return value


_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
