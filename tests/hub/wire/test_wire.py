"""Wire messages between agent and hub: versioned, strict, with readable refusals."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.measurements import Measurement
from hub.records.observations import IncomingMeasurement, Refusal, check_incoming
from hub.wire import (
    MAX_FRAME_CHARS,
    Heartbeat,
    HelloAck,
    MeasurementAck,
    Rejected,
    RejectionCode,
    UnsupportedVersion,
    WireError,
    encode,
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
    with pytest.raises(
        UnsupportedVersion, match="unsupported wire version 3; this side speaks 1, 2"
    ):
        parse_agent_message('{"v": 3, "type": "heartbeat", "seq": 1}')


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ('{"v": 2, "type": "heartbeat", "x": ' + "[" * 17 + "]" * 17 + "}", "nested deeper"),
        ('{"v": 2, "type": "heartbeat", "x": ' + "[" * 10**5 + "]" * 10**5 + "}", "nested deeper"),
        ('{"v": 2, "type": "heartbeat", "x": "' + "x" * MAX_FRAME_CHARS + '"}', "too large"),
        ('{"v": 2, "type": "heartbeat", "seq": 1' + "0" * 5000 + "}", "not JSON"),
        (
            '{"v": 2, "type": "heartbeat", "seq": 1'
            + "0" * 100
            + ', "sent_at": "2026-11-22T08:00:00Z"}',
            "seq",
        ),
    ],
)
def test_hostile_frames_are_refused_as_wire_errors(frame: str, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        parse_agent_message(frame)


def test_a_version_1_agent_is_answered_in_version_1() -> None:
    """A version 1 agent (before refusal codes) can read the hub's acknowledgement."""
    hello = parse_agent_message('{"v": 1, "type": "hello", "cabin_id": 1, "agent_version": "1"}')
    assert hello.v == 1
    ack = MeasurementAck(
        seqs=(1,),
        rejected=(
            Rejected(seq=2, reason="spo2 outside 50..100", code=RejectionCode.IMPLAUSIBLE_VALUE),
        ),
    )
    v1 = json.loads(encode(ack, 1))
    assert v1 == {
        "v": 1,
        "type": "measurements_ack",
        "seqs": [1],
        "rejected": [{"seq": 2, "reason": "spo2 outside 50..100"}],
    }
    assert parse_hub_message(encode(ack)) == ack
    assert parse_hub_message(encode(ack, 1)).rejected[0].code is RejectionCode.INVALID_MEASUREMENT  # type: ignore[union-attr]


FUZZ = settings(
    derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)
_TYPES = st.sampled_from(
    ["hello", "heartbeat", "measurements", "device_status", "command_result", "media_answer"]
)


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_frames_give_a_message_or_a_wire_error(frame: bytes | str) -> None:
    with contextlib.suppress(WireError):
        parse_agent_message(frame)


@FUZZ
@given(_TYPES, st.sampled_from([1, 2]), st.dictionaries(st.text(max_size=12), _JSON, max_size=6))
def test_arbitrary_json_messages_give_a_message_or_a_wire_error(
    kind: str, version: int, fields: dict[str, object]
) -> None:
    frame = json.dumps({**fields, "v": version, "type": kind}, allow_nan=True)
    with contextlib.suppress(WireError):
        parse_agent_message(frame)


@FUZZ
@given(
    st.integers(),
    st.dictionaries(
        st.sampled_from(["kind", "value", "unit", "loinc", "received_at", "device", "status"]),
        _JSON | st.sampled_from(["spo2", "%", "2026-12-02T08:00:00+01:00", {"model": "m"}]),
    ),
)
def test_the_hub_refuses_or_accepts_any_measurement_item_without_failing(
    seq: int, payload: dict[str, object]
) -> None:
    checked = check_incoming(IncomingMeasurement(seq=seq, device="Oxymètre", payload=payload))
    assert isinstance(checked, Measurement | Refusal)
