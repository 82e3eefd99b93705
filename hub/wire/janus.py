"""Janus's HTTP API, as values: the requests the hub and the cabin agent send to Janus (the SFU
of consultations with more than two parties) and the reading of its replies. No I/O here:
both sides post these with their own HTTP client.

Janus answers a request with ``success`` (synchronous plugin requests such as the VideoRoom's
``create`` carry the plugin's answer in ``plugindata``), ``ack`` (asynchronous ones, whose
result comes later as an ``event`` on the session's long poll) or ``error``; a plugin refuses
with ``error_code``/``error`` inside its data.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

VIDEOROOM = "janus.plugin.videoroom"

JanusJson = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SfuGrant:
    """What one party needs to join a consultation's room: Janus's address (its HTTP API),
    the room, the room's pin and the party's own token (given by the hub)."""

    url: str
    room: int
    pin: str
    token: str


class JanusError(Exception):
    """Janus or its VideoRoom plugin refused a request; `code` is Janus's own error code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


#: VideoRoom error codes a caller acts on (janus_videoroom.c).
NO_SUCH_ROOM = 426
ROOM_EXISTS = 427
NO_SUCH_FEED = 428
UNAUTHORIZED = 433
#: Janus core: the request lacked the right token or secret.
CORE_UNAUTHORIZED = 403


def request(kind: str, *, token: str | None = None, **fields: Any) -> JanusJson:
    """Return a Janus request of type `kind` with a fresh transaction (and `token`, if any)."""
    message: JanusJson = {"janus": kind, "transaction": secrets.token_hex(8), **fields}
    if token is not None:
        message["token"] = token
    return message


def admin_request(kind: str, *, admin_secret: str, **fields: Any) -> JanusJson:
    """Return a request for Janus's admin API (e.g. ``add_token``)."""
    return request(kind, admin_secret=admin_secret, **fields)


def check(reply: JanusJson, *, expected: frozenset[str] = frozenset({"success"})) -> JanusJson:
    """Return `reply` when its type is one of `expected`; raise JanusError otherwise."""
    kind = reply.get("janus")
    if kind == "error":
        error = reply.get("error") or {}
        raise JanusError(int(error.get("code", 0)), str(error.get("reason", "unknown error")))
    if kind not in expected:
        raise JanusError(0, f"unexpected reply {kind!r}")
    return reply


def created_id(reply: JanusJson) -> int:
    """Return the id a ``create`` (session) or ``attach`` (handle) reply carries."""
    return int(check(reply)["data"]["id"])


def plugin_data(reply: JanusJson) -> JanusJson:
    """Return the VideoRoom's answer in `reply` (a ``success`` or an ``event``); raise
    JanusError when the plugin refused."""
    check(reply, expected=frozenset({"success", "event"}))
    data: JanusJson = (reply.get("plugindata") or {}).get("data") or {}
    if "error_code" in data or data.get("videoroom") == "error":
        raise JanusError(int(data.get("error_code", 0)), str(data.get("error", "refused")))
    return data


def jsep(sdp: str, kind: str) -> JanusJson:
    """Return a JSEP session description for Janus (`kind`: "offer" or "answer")."""
    return {"type": kind, "sdp": sdp}
