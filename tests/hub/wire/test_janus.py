"""Reading Janus's replies: what Janus and its VideoRoom plugin send (captured from Debian's
janus 1.1.2), and the refusals a caller acts on."""

from __future__ import annotations

import pytest

from hub.wire.janus import (
    CORE_UNAUTHORIZED,
    UNAUTHORIZED,
    JanusError,
    admin_request,
    check,
    created_id,
    plugin_data,
    request,
)


def test_requests_carry_a_fresh_transaction_and_the_token() -> None:
    first = request("attach", token="t0k", plugin="janus.plugin.videoroom")
    second = request("attach", token="t0k", plugin="janus.plugin.videoroom")
    assert first["janus"] == "attach" and first["token"] == "t0k"
    assert first["transaction"] != second["transaction"]
    assert "token" not in request("create")
    assert admin_request("add_token", admin_secret="s", token="x")["admin_secret"] == "s"


def test_a_created_session_gives_its_id() -> None:
    reply = {"janus": "success", "transaction": "a", "data": {"id": 5111232734526778}}
    assert created_id(reply) == 5111232734526778


def test_a_core_refusal_says_why() -> None:
    reply = {
        "janus": "error",
        "transaction": "a",
        "error": {"code": 403, "reason": "Unauthorized request (wrong or missing secret/token)"},
    }
    with pytest.raises(JanusError) as refused:
        created_id(reply)
    assert refused.value.code == CORE_UNAUTHORIZED
    assert str(refused.value) == (
        "Janus error 403: Unauthorized request (wrong or missing secret/token)"
    )


def test_the_videoroom_refusing_a_wrong_pin() -> None:
    event = {
        "janus": "event",
        "sender": 1,
        "transaction": "b",
        "plugindata": {
            "plugin": "janus.plugin.videoroom",
            "data": {"videoroom": "event", "error_code": 433, "error": "Unauthorized (wrong pin)"},
        },
    }
    with pytest.raises(JanusError) as refused:
        plugin_data(event)
    assert (refused.value.code, refused.value.reason) == (UNAUTHORIZED, "Unauthorized (wrong pin)")


def test_the_videoroom_answer_is_returned() -> None:
    reply = {
        "janus": "success",
        "plugindata": {
            "plugin": "janus.plugin.videoroom",
            "data": {"videoroom": "success", "room": 42, "exists": True},
        },
    }
    assert plugin_data(reply)["exists"] is True


def test_an_acknowledgement_is_not_an_answer() -> None:
    with pytest.raises(JanusError, match="unexpected reply 'ack'"):
        check({"janus": "ack", "transaction": "c"})
    assert check({"janus": "ack"}, expected=frozenset({"ack"}))["janus"] == "ack"
