"""Wire messages between agent and hub: versioned, strict, with readable refusals."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.measurements import (
    ALLOWED_UNITS,
    DeviceIdentity,
    Measurement,
    MeasurementKind,
    StatusFlag,
    Unit,
)
from hub.records.observations import Refusal, check_incoming
from hub.wire import (
    MAX_FRAME_CHARS,
    WIRE_VERSION,
    Heartbeat,
    HelloAck,
    MeasurementAck,
    MeasurementBatch,
    MeasurementItem,
    Rejected,
    RejectionCode,
    SfuPublish,
    SfuStop,
    UnreadableMeasurement,
    UnsupportedVersion,
    WireError,
    WireMeasurement,
    encode,
    parse_agent_message,
    parse_hub_message,
    understood_by,
)
from hub.wire.janus import SfuGrant

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
THERMOMETER_READING = Measurement(
    MeasurementKind.BODY_TEMPERATURE,
    37.2,
    Unit.CELSIUS,
    NOW,
    DeviceIdentity("generic_gatt_thermometer", "T-9", None, "ACME"),
    device_time=dt.datetime(2026, 11, 22, 10, 59),
    status=frozenset({StatusFlag.QUESTIONABLE}),
)
# The measurement exactly as agents of wire versions 1 and 2 have always written it.
AS_AGENTS_SEND_IT: dict[str, object] = {
    "kind": "body_temperature",
    "value": 37.2,
    "unit": "Cel",
    "loinc": "8310-5",
    "device_time": "2026-11-22T10:59:00",
    "received_at": "2026-11-22T10:00:00+00:00",
    "device": {
        "model": "generic_gatt_thermometer",
        "serial": "T-9",
        "firmware": None,
        "manufacturer": "ACME",
    },
    "status": ["questionable"],
}


def _frame(*measurements: object, version: int = 2) -> str:
    items = [
        {"seq": seq, "device": "Thermomètre", "measurement": m}
        for seq, m in enumerate(measurements, start=1)
    ]
    return json.dumps({"v": version, "type": "measurements", "items": items})


@pytest.mark.parametrize("version", [1, 2])
def test_a_measurement_travels_typed_and_comes_back_the_same(version: int) -> None:
    """Agent: measurement → typed wire item → frame; hub: frame → the same measurement."""
    batch = MeasurementBatch(
        items=(
            MeasurementItem(
                seq=1,
                device="Thermomètre",
                measurement=WireMeasurement.from_measurement(THERMOMETER_READING),
            ),
        )
    )
    parsed = parse_agent_message(encode(batch, version))
    assert isinstance(parsed, MeasurementBatch) and parsed.v == version
    [item] = parsed.items
    assert isinstance(item.measurement, WireMeasurement)
    assert item.measurement.to_measurement() == THERMOMETER_READING
    assert item.measurement.kind is MeasurementKind.BODY_TEMPERATURE
    assert item.measurement.unit is Unit.CELSIUS


@pytest.mark.parametrize("version", [1, 2])
def test_the_hub_reads_the_measurement_older_agents_send(version: int) -> None:
    parsed = parse_agent_message(_frame(AS_AGENTS_SEND_IT, version=version))
    assert isinstance(parsed, MeasurementBatch)
    [item] = parsed.items
    assert isinstance(item.measurement, WireMeasurement)
    assert item.measurement.to_measurement() == THERMOMETER_READING
    # and what the agent sends now reads the same in every version
    sent = WireMeasurement.from_measurement(THERMOMETER_READING).model_dump(mode="json")
    assert WireMeasurement.model_validate(sent) == WireMeasurement.model_validate(AS_AGENTS_SEND_IT)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": "weight"}, "kind: Input should be"),
        ({"value": "37"}, "value: Value error, value must be a number"),
        ({"value": True}, "value: Value error, value must be a number"),
        ({"value": 10**400}, "value: Input should be a valid number"),
        ({"value": float("inf")}, "value: Input should be a finite number"),
        ({"unit": "g"}, "unit: Input should be"),
        ({"unit": "kg"}, "body_temperature cannot be in kg"),
        ({"received_at": "2026-11-22T10:00:00"}, "received_at: Input should have timezone info"),
        ({"received_at": 1764000000}, "received_at: Value error, a time must be an ISO 8601 text"),
        ({"received_at": "0001-01-01T00:00:00+14:00"}, "received_at is out of range"),
        ({"status": "questionable"}, "status: Input should be a valid"),
        ({"loinc": "5" * 50}, "loinc: String should have at most 20 characters"),
        ({"device": {"model": "m" * 81}}, "device.model: String should have at most 80"),
        ({"device": None}, "device: Input should be"),
    ],
)
def test_a_malformed_measurement_spoils_its_item_only(
    change: dict[str, object], reason: str
) -> None:
    frame = _frame({**AS_AGENTS_SEND_IT, **change}, AS_AGENTS_SEND_IT)
    parsed = parse_agent_message(frame)  # no WireError: the frame itself is sound
    assert isinstance(parsed, MeasurementBatch)
    bad, good = parsed.items
    assert isinstance(bad.measurement, UnreadableMeasurement)
    assert reason in bad.measurement.reason
    assert isinstance(good.measurement, WireMeasurement)
    refusal = check_incoming(bad)
    assert isinstance(refusal, Refusal) and refusal.code is RejectionCode.INVALID_MEASUREMENT
    assert isinstance(check_incoming(good), WireMeasurement)


def test_an_unreadable_measurement_is_sent_on_as_it_came() -> None:
    """An agent forwards a corrupt outbox row unchanged, for the hub to refuse it."""
    item = MeasurementItem(seq=4, device="Oxymètre", measurement={"kind": "spo2"})
    assert isinstance(item.measurement, UnreadableMeasurement)
    assert json.loads(item.model_dump_json())["measurement"] == {"kind": "spo2"}


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


def test_the_sfu_grant_travels_to_the_agent_and_back_the_same() -> None:
    grant = SfuGrant(url="http://127.0.0.1:8088/janus", room=42, pin="p1n", token="t0k")
    publish = SfuPublish.of(42, grant)
    received = parse_hub_message(encode(publish))
    assert isinstance(received, SfuPublish) and received.grant() == grant
    assert parse_hub_message(encode(SfuStop(consultation_id=42))) == SfuStop(consultation_id=42)
    with pytest.raises(WireError, match="token"):
        parse_hub_message(publish.model_dump_json().replace('"t0k"', '""'))


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
        UnsupportedVersion, match="unsupported wire version 4; this side speaks 1, 2, 3"
    ):
        parse_agent_message('{"v": 4, "type": "heartbeat", "seq": 1}')


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


def test_an_agent_from_before_the_sfu_is_never_sent_its_messages() -> None:
    """A version 2 agent fails on a message type it does not know (and reconnects): the hub
    does not send it the SFU's messages, which it can tell before encoding."""
    publish = SfuPublish(consultation_id=7, url="http://janus", room=7, pin="p", token="t")
    assert not understood_by(publish, 2) and not understood_by(SfuStop(consultation_id=7), 2)
    assert understood_by(publish, WIRE_VERSION)
    assert understood_by(MeasurementAck(seqs=(1,)), 1)
    with pytest.raises(ValueError, match="sfu_publish does not exist in wire version 2"):
        encode(publish, 2)
    assert parse_hub_message(encode(publish, 3)) == publish


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
    st.integers(-(2**40), 2**40),
    st.dictionaries(
        st.sampled_from(["kind", "value", "unit", "loinc", "received_at", "device", "status"]),
        _JSON | st.sampled_from(["spo2", "%", "2026-12-02T08:00:00+01:00", {"model": "m"}]),
    ),
)
def test_the_hub_refuses_or_accepts_any_measurement_item_without_failing(
    seq: int, payload: dict[str, object]
) -> None:
    """Whatever an item's measurement holds, the frame parses and the item is judged alone."""
    frame = json.dumps(
        {
            "v": 2,
            "type": "measurements",
            "items": [{"seq": seq, "device": "Oxymètre", "measurement": payload}],
        },
        allow_nan=True,
    )
    parsed = parse_agent_message(frame)
    assert isinstance(parsed, MeasurementBatch)
    checked = check_incoming(parsed.items[0])
    assert isinstance(checked, WireMeasurement | Refusal)


@FUZZ
@given(
    kind=st.sampled_from(MeasurementKind),
    value=st.floats(-1e6, 1e6, allow_nan=False),
    serial=st.one_of(st.none(), st.text(max_size=8)),
    flags=st.frozensets(st.sampled_from(StatusFlag)),
    offset_minutes=st.integers(-720, 720),
)
def test_any_device_measurement_survives_the_wire(
    kind: MeasurementKind,
    value: float,
    serial: str | None,
    flags: frozenset[StatusFlag],
    offset_minutes: int,
) -> None:
    unit = sorted(ALLOWED_UNITS[kind])[0]
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    measurement = Measurement(
        kind,
        value,
        unit,
        dt.datetime(2026, 11, 22, 10, 0, tzinfo=zone),
        DeviceIdentity("model", serial),
        status=flags,
    )
    wire = WireMeasurement.from_measurement(measurement)
    assert WireMeasurement.model_validate_json(wire.model_dump_json()).to_measurement() == (
        measurement
    )
