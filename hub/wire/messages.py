"""Wire message models (version 1)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

WIRE_VERSION = 1
AGENT_WS_PATH = "/agent/ws"

# WebSocket close codes (4000-4999 are free for applications).
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_MESSAGE = 4400
CLOSE_UNSUPPORTED_VERSION = 4426
CLOSE_HEARTBEAT_TIMEOUT = 4408
CLOSE_REPLACED = 4409


class WireError(ValueError):
    """A frame that is not a valid message of this protocol version."""


class UnsupportedVersion(WireError):
    """A frame of another protocol version."""


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    v: Literal[1] = 1


class DeviceDescription(BaseModel):
    """A device of the trolley as configured on the agent."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    kind: str = Field(min_length=1, max_length=40)
    model: str = Field(default="", max_length=80)
    transport: str = Field(default="", max_length=40)


class Hello(_Message):
    """First message of the agent after connecting."""

    type: Literal["hello"] = "hello"
    cabin_id: int
    agent_version: str = Field(min_length=1, max_length=40)
    devices: tuple[DeviceDescription, ...] = ()


class Heartbeat(_Message):
    type: Literal["heartbeat"] = "heartbeat"
    seq: int = Field(ge=0)
    sent_at: AwareDatetime


class HelloAck(_Message):
    type: Literal["hello_ack"] = "hello_ack"
    cabin_id: int
    cabin_name: str
    site_name: str
    heartbeat_seconds: float = Field(gt=0)
    server_time: AwareDatetime


class HeartbeatAck(_Message):
    type: Literal["heartbeat_ack"] = "heartbeat_ack"
    seq: int = Field(ge=0)


class ErrorMessage(_Message):
    """The hub refuses something the agent sent; ``message`` says why."""

    type: Literal["error"] = "error"
    code: str
    message: str


AgentMessage = Annotated[Hello | Heartbeat, Field(discriminator="type")]
HubMessage = Annotated[HelloAck | HeartbeatAck | ErrorMessage, Field(discriminator="type")]

_agent_adapter: TypeAdapter[Hello | Heartbeat] = TypeAdapter(AgentMessage)
_hub_adapter: TypeAdapter[HelloAck | HeartbeatAck | ErrorMessage] = TypeAdapter(HubMessage)


def _check_version(text: str | bytes) -> None:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise WireError("a message must be a JSON object")
    version = raw.get("v")
    if version != WIRE_VERSION:
        raise UnsupportedVersion(
            f"unsupported wire version {version!r}; this side speaks {WIRE_VERSION}"
        )


def parse_agent_message(text: str | bytes) -> Hello | Heartbeat:
    """Validate a frame sent by an agent."""
    _check_version(text)
    try:
        return _agent_adapter.validate_json(text)
    except ValidationError as exc:
        raise WireError(_summary(exc)) from None


def parse_hub_message(text: str | bytes) -> HelloAck | HeartbeatAck | ErrorMessage:
    """Validate a frame sent by the hub."""
    _check_version(text)
    try:
        return _hub_adapter.validate_json(text)
    except ValidationError as exc:
        raise WireError(_summary(exc)) from None


def _summary(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    return f"{where}: {first['msg']}"
