"""Versioned messages exchanged between the cabin agent and the hub over the WebSocket.

Shared by both sides; depends on pydantic only. Every message carries ``type`` and the
protocol version ``v``; the hub refuses a version it does not speak with a clear reason.
"""

from hub.wire.messages import (
    AGENT_WS_PATH,
    CLOSE_BAD_MESSAGE,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_REPLACED,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNSUPPORTED_VERSION,
    WIRE_VERSION,
    AgentMessage,
    DeviceDescription,
    ErrorMessage,
    Heartbeat,
    HeartbeatAck,
    Hello,
    HelloAck,
    HubMessage,
    UnsupportedVersion,
    WireError,
    parse_agent_message,
    parse_hub_message,
)

__all__ = [
    "AGENT_WS_PATH",
    "CLOSE_BAD_MESSAGE",
    "CLOSE_HEARTBEAT_TIMEOUT",
    "CLOSE_REPLACED",
    "CLOSE_UNAUTHORIZED",
    "CLOSE_UNSUPPORTED_VERSION",
    "WIRE_VERSION",
    "AgentMessage",
    "DeviceDescription",
    "ErrorMessage",
    "Heartbeat",
    "HeartbeatAck",
    "Hello",
    "HelloAck",
    "HubMessage",
    "UnsupportedVersion",
    "WireError",
    "parse_agent_message",
    "parse_hub_message",
]
