"""Wire message models (version 1)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
)

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


class MeasurementItem(BaseModel):
    """One measurement of the agent's durable outbox, numbered by the agent (``seq``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seq: int = Field(ge=1)
    device: str = Field(min_length=1, max_length=80)
    measurement: dict[str, JsonValue]


class MeasurementBatch(_Message):
    """Measurements to store; the hub acknowledges every ``seq`` it stored or already had."""

    type: Literal["measurements"] = "measurements"
    items: tuple[MeasurementItem, ...] = Field(min_length=1, max_length=500)


class DeviceStatus(_Message):
    """A device of the trolley changed state (searching, connecting, ready, measuring, lost)."""

    type: Literal["device_status"] = "device_status"
    device: str = Field(min_length=1, max_length=80)
    state: str = Field(min_length=1, max_length=20)
    battery_low: bool | None = None
    detail: str = Field(default="", max_length=200)


class CommandResult(_Message):
    """The outcome of a command; ``message`` is shown to the person who asked (French)."""

    type: Literal["command_result"] = "command_result"
    command_id: str = Field(min_length=1, max_length=40)
    ok: bool
    message: str = Field(default="", max_length=300)


class MediaAnswer(_Message):
    """The agent's SDP answer to a media offer (``error`` says why there is none)."""

    type: Literal["media_answer"] = "media_answer"
    session_id: str = Field(min_length=1, max_length=40)
    sdp: str = Field(default="", max_length=200_000)
    error: str = Field(default="", max_length=300)


class HelloAck(_Message):
    type: Literal["hello_ack"] = "hello_ack"
    cabin_id: int
    cabin_name: str
    site_name: str
    heartbeat_seconds: float = Field(gt=0)
    server_time: AwareDatetime
    last_seq: int = Field(default=0, ge=0)  # highest measurement seq stored for this cabin


class HeartbeatAck(_Message):
    type: Literal["heartbeat_ack"] = "heartbeat_ack"
    seq: int = Field(ge=0)


class Rejected(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    seq: int
    reason: str


class MeasurementAck(_Message):
    """Stored (or already stored) ``seqs``, and the ones refused for good with the reason."""

    type: Literal["measurements_ack"] = "measurements_ack"
    seqs: tuple[int, ...] = ()
    rejected: tuple[Rejected, ...] = ()


class CommandAction(StrEnum):
    MEASURE = "measure"
    IDENTIFY = "identify"
    START_MEDIA = "start_media"
    STOP_MEDIA = "stop_media"


class Command(_Message):
    """Something the hub asks the agent to do with a device of the trolley."""

    type: Literal["command"] = "command"
    command_id: str = Field(min_length=1, max_length=40)
    action: CommandAction
    device: str = Field(min_length=1, max_length=80)


class IceServer(BaseModel):
    """A STUN/TURN server for WebRTC (TURN credentials are short-lived)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    urls: tuple[str, ...]
    username: str = ""
    credential: str = ""


class MediaOffer(_Message):
    """The doctor's browser offers a media session; the agent answers with the trolley's
    tracks (room camera, otoscope, stethoscope) and a "vitals" data channel."""

    type: Literal["media_offer"] = "media_offer"
    session_id: str = Field(min_length=1, max_length=40)
    sdp: str = Field(min_length=1, max_length=200_000)
    ice_servers: tuple[IceServer, ...] = ()
    # "doctor": the doctor's console receives the trolley; "room": the room's screen (the
    # nurse's console) receives the doctor's camera and microphone.
    purpose: Literal["doctor", "room"] = "doctor"


class MediaClose(_Message):
    """The media session is over (the doctor hung up or the consultation ended)."""

    type: Literal["media_close"] = "media_close"
    session_id: str = Field(min_length=1, max_length=40)


class ErrorMessage(_Message):
    """The hub refuses something the agent sent; ``message`` says why."""

    type: Literal["error"] = "error"
    code: str
    message: str


AgentMessageT = Hello | Heartbeat | MeasurementBatch | DeviceStatus | CommandResult | MediaAnswer
HubMessageT = (
    HelloAck | HeartbeatAck | MeasurementAck | Command | MediaOffer | MediaClose | ErrorMessage
)
AgentMessage = Annotated[AgentMessageT, Field(discriminator="type")]
HubMessage = Annotated[HubMessageT, Field(discriminator="type")]

_agent_adapter: TypeAdapter[AgentMessageT] = TypeAdapter(AgentMessage)
_hub_adapter: TypeAdapter[HubMessageT] = TypeAdapter(HubMessage)


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


def parse_agent_message(text: str | bytes) -> AgentMessageT:
    """Validate a frame sent by an agent."""
    _check_version(text)
    try:
        return _agent_adapter.validate_json(text)
    except ValidationError as exc:
        raise WireError(_summary(exc)) from None


def parse_hub_message(text: str | bytes) -> HubMessageT:
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
