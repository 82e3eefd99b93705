"""Wire message models (version 2; the hub still serves version 1 agents).

Version 2 adds a machine-readable ``code`` to each refused measurement of an acknowledgement.
Everything else is shared by both versions: the hub reads frames of either version and writes
to each agent in the version of its hello (``encode``). The measurement an item carries is
typed (`hub.wire.measurement`); one that does not validate is kept, with the reason, for the
hub to refuse on its own."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)

from hub.wire.janus import SfuGrant
from hub.wire.measurement import (
    UnreadableMeasurement,
    WireMeasurement,
    as_sent,
    read_measurement,
    summary,
)

WIRE_VERSION: Final = 3
SUPPORTED_VERSIONS = frozenset({1, 2, 3})
AGENT_WS_PATH = "/agent/ws"

# WebSocket close codes (4000-4999 are free for applications).
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_MESSAGE = 4400
CLOSE_UNSUPPORTED_VERSION = 4426
CLOSE_HEARTBEAT_TIMEOUT = 4408
CLOSE_REPLACED = 4409

MAX_FRAME_CHARS = 1_000_000  # the largest frame either side reads (an SDP is at most 200 kB)
MAX_JSON_DEPTH = 16  # the deepest nesting of arrays and objects a frame may have
MAX_SEQ = 2**31 - 1  # the largest sequence number a hub stores (a 32-bit database integer)


class WireError(ValueError):
    """A frame that is not a valid message of this protocol version."""


class UnsupportedVersion(WireError):
    """A frame of another protocol version."""


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    v: Literal[1, 2, 3] = WIRE_VERSION


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
    seq: int = Field(ge=0, le=2**53)
    sent_at: AwareDatetime


class MeasurementItem(BaseModel):
    """One measurement of the agent's durable outbox, numbered by the agent (``seq``).

    ``seq`` is any integer here: one outside 1..MAX_SEQ is refused on its own in the
    acknowledgement (``RejectionCode.INVALID_SEQ``), so the rest of its batch is stored; so is
    a ``measurement`` that does not validate (an `UnreadableMeasurement`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seq: int
    device: str = Field(min_length=1, max_length=80)
    measurement: Annotated[
        WireMeasurement | UnreadableMeasurement,
        PlainValidator(read_measurement),
        PlainSerializer(as_sent),
    ]


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
    last_seq: int = Field(default=0, ge=0, le=MAX_SEQ)  # highest seq stored for this cabin


class HeartbeatAck(_Message):
    type: Literal["heartbeat_ack"] = "heartbeat_ack"
    seq: int = Field(ge=0, le=2**53)


class RejectionCode(StrEnum):
    """Why the hub refused a measurement for good (version 2; version 1 has the reason only)."""

    INVALID_MEASUREMENT = "invalid_measurement"  # not a measurement the hub can read
    IMPLAUSIBLE_VALUE = "implausible_value"  # outside devices.measurements.PLAUSIBLE_LIMITS
    INVALID_SEQ = "invalid_seq"  # outside 1..MAX_SEQ
    SEQ_CONFLICT = "seq_conflict"  # the number already holds another measurement


class Rejected(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    seq: int
    reason: str
    code: RejectionCode = RejectionCode.INVALID_MEASUREMENT


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
    # "relay": gather and use TURN relay candidates only (the hub's ICE transport policy).
    ice_transport_policy: Literal["all", "relay"] = "all"
    # "doctor": the doctor's console receives the trolley; "room": the room's screen (the
    # nurse's console) receives the doctor's camera and microphone.
    purpose: Literal["doctor", "room"] = "doctor"


class MediaClose(_Message):
    """The media session is over (the doctor hung up or the consultation ended)."""

    type: Literal["media_close"] = "media_close"
    session_id: str = Field(min_length=1, max_length=40)


class SfuPublish(_Message):
    """The consultation now has more than two parties: publish the trolley's tracks (room
    camera, otoscope, stethoscope) into its Janus room with this grant (`SfuGrant`)."""

    type: Literal["sfu_publish"] = "sfu_publish"
    consultation_id: int = Field(ge=1, le=MAX_SEQ)
    url: str = Field(min_length=1, max_length=500)
    room: int = Field(ge=1, le=MAX_SEQ)
    pin: str = Field(min_length=1, max_length=100)
    token: str = Field(min_length=1, max_length=100)

    @classmethod
    def of(cls, consultation_id: int, grant: SfuGrant) -> SfuPublish:
        return cls(
            consultation_id=consultation_id,
            url=grant.url,
            room=grant.room,
            pin=grant.pin,
            token=grant.token,
        )

    def grant(self) -> SfuGrant:
        """Return the grant this message carries."""
        return SfuGrant(url=self.url, room=self.room, pin=self.pin, token=self.token)


class SfuStop(_Message):
    """The consultation's Janus room is closed: stop publishing into it."""

    type: Literal["sfu_stop"] = "sfu_stop"
    consultation_id: int = Field(ge=1, le=MAX_SEQ)


class ErrorMessage(_Message):
    """The hub refuses something the agent sent; ``message`` says why."""

    type: Literal["error"] = "error"
    code: str
    message: str


AgentMessageT = Hello | Heartbeat | MeasurementBatch | DeviceStatus | CommandResult | MediaAnswer
HubMessageT = (
    HelloAck
    | HeartbeatAck
    | MeasurementAck
    | Command
    | MediaOffer
    | MediaClose
    | SfuPublish
    | SfuStop
    | ErrorMessage
)
AgentMessage = Annotated[AgentMessageT, Field(discriminator="type")]
HubMessage = Annotated[HubMessageT, Field(discriminator="type")]

_agent_adapter: TypeAdapter[AgentMessageT] = TypeAdapter(AgentMessage)
_hub_adapter: TypeAdapter[HubMessageT] = TypeAdapter(HubMessage)


def _check_version(text: str | bytes) -> None:
    if len(text) > MAX_FRAME_CHARS:
        raise WireError(f"frame too large: {len(text)} > {MAX_FRAME_CHARS} characters")
    try:
        raw = json.loads(text)
    except RecursionError:
        raise WireError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise WireError("a message must be a JSON object")
    if _depth(raw) > MAX_JSON_DEPTH:
        raise WireError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    version = raw.get("v")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion(
            f"unsupported wire version {version!r}; this side speaks"
            f" {', '.join(str(v) for v in sorted(SUPPORTED_VERSIONS))}"
        )


def _depth(value: object) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (counted without recursion)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_agent_message(text: str | bytes) -> AgentMessageT:
    """Validate a frame sent by an agent."""
    _check_version(text)
    try:
        return _agent_adapter.validate_json(text)
    except ValidationError as exc:
        raise WireError(summary(exc)) from None


def parse_hub_message(text: str | bytes) -> HubMessageT:
    """Validate a frame sent by the hub."""
    _check_version(text)
    try:
        return _hub_adapter.validate_json(text)
    except ValidationError as exc:
        raise WireError(summary(exc)) from None


#: The first version that has each message type added since version 1.
SINCE_VERSION: Final = {"sfu_publish": 3, "sfu_stop": 3}


def understood_by(message: HubMessageT | AgentMessageT, version: int) -> bool:
    """Whether a side speaking ``version`` knows this message's type (an agent from before
    the SFU does not know ``sfu_publish``: the hub does not send it one)."""
    return version >= SINCE_VERSION.get(message.type, 1)


def encode(message: HubMessageT | AgentMessageT, version: int = WIRE_VERSION) -> str:
    """The frame of a message in a protocol version the other side speaks.

    Version 1 is version 2 without the ``code`` of refused measurements; version 2 is version 3
    without the SFU messages (see `understood_by`). A media offer's ``ice_transport_policy`` is
    left out unless "relay": agents from before it refuse it."""
    if not understood_by(message, version):
        raise ValueError(f"{message.type} does not exist in wire version {version}")
    exclude = (
        {"ice_transport_policy"}
        if isinstance(message, MediaOffer) and message.ice_transport_policy == "all"
        else None
    )
    if version == WIRE_VERSION:
        return message.model_dump_json(exclude=exclude)
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported wire version {version}")
    data = message.model_dump(mode="json", exclude=exclude)
    data["v"] = version
    for rejected in data.get("rejected", ()):
        rejected.pop("code", None)
    return json.dumps(data, ensure_ascii=False)
