"""Wire messages between agent and hub: versioned, strict, with readable refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.wire import (
    Heartbeat,
    HelloAck,
    UnsupportedVersion,
    WireError,
    parse_agent_message,
    parse_hub_message,
)


def test_heartbeat_round_trip() -> None:
    beat = Heartbeat(seq=3, sent_at=dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC))
    assert parse_agent_message(beat.model_dump_json()) == beat


def test_hub_message_round_trip() -> None:
    ack = HelloAck(
        cabin_id=1,
        cabin_name="Chariot",
        site_name="Clos Mortier",
        heartbeat_seconds=10,
        server_time=dt.datetime(2026, 11, 22, tzinfo=dt.UTC),
    )
    assert parse_hub_message(ack.model_dump_json()) == ack


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "a message must be a JSON object"),
        ('{"v": 1, "type": "launch"}', "type"),
        ('{"v": 1, "type": "heartbeat", "seq": -1, "sent_at": "2026-11-22T08:00:00Z"}', "seq"),
        ('{"v": 1, "type": "heartbeat", "seq": 1, "sent_at": "2026-11-22T08:00:00"}', "sent_at"),
        ('{"v": 1, "type": "hello", "cabin_id": 1, "agent_version": "1", "extra": 1}', "extra"),
    ],
)
def test_invalid_frames_are_refused_with_the_reason(frame: str, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        parse_agent_message(frame)


def test_another_version_is_refused() -> None:
    with pytest.raises(UnsupportedVersion, match="unsupported wire version 2"):
        parse_agent_message('{"v": 2, "type": "heartbeat", "seq": 1}')
