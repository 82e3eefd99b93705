"""The agent's configuration file (TOML), validated with messages (in French, for whoever
installs the trolley) that name the wrong key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    model_validator,
)

from devices.catalogue import CATALOGUE, DeviceKind, Transport, get_model
from devices.cli_fr import validation_message
from devices.errors import UnknownDeviceModel

DEVICE_KINDS = tuple(kind.value for kind in DeviceKind)
TRANSPORTS = tuple(transport.value for transport in Transport)
_TOML_AT = re.compile(r"at line (\d+), column (\d+)")


def _os_problem(exc: OSError) -> str:
    """Why a file cannot be read, in French."""
    if isinstance(exc, FileNotFoundError):
        return "fichier introuvable"
    if isinstance(exc, PermissionError):
        return "accès refusé"
    if isinstance(exc, IsADirectoryError):
        return "c'est un dossier"
    return f"erreur du système ({exc.strerror})"


class ConfigError(ValueError):
    """The configuration file cannot be used; the message says where and why."""


class HubSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: HttpUrl
    cabin_id: int = Field(gt=0)
    token: SecretStr | None = None
    token_file: Path | None = None

    @model_validator(mode="after")
    def _one_token(self) -> HubSection:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("indiquez soit « token », soit « token_file » (l'un des deux)")
        return self

    def resolved_token(self) -> str:
        if self.token is not None:
            return self.token.get_secret_value()
        assert self.token_file is not None
        try:
            return self.token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"hub.token_file : lecture de {self.token_file} impossible : {_os_problem(exc)}"
            ) from None


class AgentSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    heartbeat_seconds: float = Field(default=10.0, gt=0, le=300)
    backoff_initial_seconds: float = Field(default=1.0, gt=0)
    # Short: when a cut line comes back, the doctor's screen must recover within seconds (a
    # reconnection attempt costs the hub one WebSocket handshake).
    backoff_max_seconds: float = Field(default=2.0, gt=0)
    data_dir: Path = Path("var/agent")
    simulated_reading_seconds: float = Field(default=30.0, gt=0, le=600)
    #: The time slice the measurement path asks of Linux (`cabin_agent.scheduling`): shorter
    #: than the default, so a reading's every wake-up preempts video rather than wait out its
    #: slice, and long enough for a reading's work (about 0.6 ms of CPU) not to be cut in
    #: turns; 0 leaves the kernel's default.
    wakeup_slice_ms: float = Field(default=1.0, ge=0, le=100)


class MediaSection(BaseModel):
    """The videos the cabin sends (room camera, otoscope): the size and frame rate it starts
    at, the floor it may adapt down to when the machine or the network cannot keep up, and
    the media process's priority against the measurements."""

    model_config = ConfigDict(extra="forbid")
    video_width: int = Field(default=640, ge=160, le=1920, multiple_of=2)
    video_height: int = Field(default=480, ge=120, le=1080, multiple_of=2)
    video_fps: float = Field(default=15.0, ge=1, le=30)
    min_video_width: int = Field(default=320, ge=160, le=1920)
    min_video_fps: float = Field(default=5.0, ge=1, le=30)
    adapt: bool = True
    #: How much the media process yields the CPU to the measurements (Unix niceness, added
    #: to the agent's): when both want the processor, readings go first and video adapts.
    niceness: int = Field(default=10, ge=0, le=19)

    @model_validator(mode="after")
    def _floor_below(self) -> MediaSection:
        if self.min_video_fps > self.video_fps:
            raise ValueError("min_video_fps ne peut pas dépasser video_fps")
        if self.min_video_width > self.video_width:
            raise ValueError("min_video_width ne peut pas dépasser video_width")
        return self


class DeviceSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    kind: str
    model: str = Field(min_length=1, max_length=80)
    transport: str
    address: str = ""

    @model_validator(mode="after")
    def _known(self) -> DeviceSection:
        if self.kind not in DEVICE_KINDS:
            raise ValueError(
                f"type d'appareil inconnu « {self.kind} » ; au choix : {', '.join(DEVICE_KINDS)}"
            )
        if self.transport not in TRANSPORTS:
            raise ValueError(
                f"liaison inconnue « {self.transport} » ; au choix : {', '.join(TRANSPORTS)}"
            )
        try:
            model = get_model(self.model)
        except UnknownDeviceModel:
            known = ", ".join(sorted(CATALOGUE))
            raise ValueError(
                f"modèle d'appareil inconnu « {self.model} » ; modèles connus : {known}"
            ) from None
        if model.kind.value != self.kind:
            raise ValueError(
                f"le modèle « {self.model} » est un {model.kind.value}, pas un {self.kind}"
            )
        if model.transport.value != self.transport:
            raise ValueError(
                f"le modèle « {self.model} » se joint en "
                f"{model.transport.value}, pas en {self.transport}"
            )
        return self


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hub: HubSection
    agent: AgentSection = AgentSection()
    media: MediaSection = MediaSection()
    devices: list[DeviceSection] = []

    @property
    def ws_url(self) -> str:
        base = str(self.hub.url).rstrip("/")
        return "ws" + base.removeprefix("http") + "/agent/ws"


def load_config(path: Path) -> AgentConfig:
    """Read and validate a configuration file; raises ConfigError with a precise message."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path} : lecture impossible : {_os_problem(exc)}") from None
    except tomllib.TOMLDecodeError as exc:
        at = _TOML_AT.search(str(exc))
        where = f" (ligne {at.group(1)}, colonne {at.group(2)})" if at else ""
        raise ConfigError(f"{path} : ce n'est pas du TOML valable{where}") from None
    try:
        config = AgentConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(premier niveau)"
        message = validation_message(dict(first))
        raise ConfigError(f"{path} : {where} : {message}") from None
    if not config.hub.token_file:
        return config
    if not config.hub.token_file.is_absolute():
        config.hub.token_file = path.parent / config.hub.token_file
    return config
