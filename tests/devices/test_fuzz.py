"""Seeded fuzzing: arbitrary bytes give a value or a DeviceError, never another exception;
whatever decodes re-encodes to bytes that decode to the same value."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.catalogue import CATALOGUE, GATT_PARSERS
from devices.errors import DeviceError
from devices.gatt.device_information import decode_string
from devices.gatt.time import CurrentTime, DateTime
from devices.ieee11073 import Float11073, Sfloat
from devices.measurements import (
    ALLOWED_UNITS,
    DeviceIdentity,
    PlausibilityFilter,
    Reading,
    to_measurements,
)
from devices.serialproto import Framer
from devices.serialproto.contec import Cms50Framer, Cms50LiveFrame, Cms50Protocol
from devices.serialproto.nonin import (
    NoninDf2Framer,
    NoninDf2Packet,
    NoninDf2Status,
    NoninDf8Frame,
    NoninDf8Status,
)

FUZZ_TIME = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
FUZZ = settings(
    derandomize=True, max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _wire(frame: object) -> bytes:
    assert isinstance(frame, Cms50LiveFrame | NoninDf2Packet | NoninDf8Frame)
    return bytes(frame)


PARSERS: dict[str, Callable[[bytes], object]] = {
    "sfloat": Sfloat.parse,
    "float": Float11073.parse,
    **GATT_PARSERS,  # every characteristic of the registry's BLE models
    "date_time": DateTime.parse,
    "current_time": CurrentTime.parse,
    "device_information_string": decode_string,
}

# Values with flags first: fuzz mostly around valid flag combinations and lengths.
payloads = st.one_of(
    st.binary(max_size=40),
    st.tuples(st.integers(0, 0x1F), st.binary(min_size=4, max_size=30)).map(
        lambda pair: bytes((pair[0],)) + pair[1]
    ),
)


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(data=payloads)
def test_parsers_give_a_value_or_a_device_error(name: str, data: bytes) -> None:
    parse = PARSERS[name]
    try:
        value = parse(data)
    except DeviceError:
        return
    if isinstance(value, str):
        return
    assert parse(bytes(value)) == value  # type: ignore[call-overload]


@pytest.mark.parametrize("name", sorted(GATT_PARSERS))
@FUZZ
@given(data=payloads)
def test_decoded_readings_convert_to_measurements_or_to_none(name: str, data: bytes) -> None:
    """Whatever a registry parser decodes either is no reading (features, RACP) or gives
    measurements of finite values in allowed units, never an exception."""
    try:
        value = GATT_PARSERS[name](data)
    except DeviceError:
        return
    if not isinstance(value, Reading):
        return
    for m in to_measurements(
        value,
        device=DeviceIdentity("fuzz"),
        received_at=FUZZ_TIME,
        plausibility=PlausibilityFilter(),
    ):
        assert m.unit in ALLOWED_UNITS[m.kind]


FRAMERS: dict[str, Callable[[], Framer]] = {
    "cms50dplus": Cms50Framer,  # detects the framing
    # the framer of every serial model of the registry
    **{m.model_id: m.serial.framer for m in CATALOGUE.values() if m.serial is not None},
}


@pytest.mark.parametrize("name", sorted(FRAMERS))
@FUZZ
@given(chunks=st.lists(st.binary(max_size=30), max_size=12))
def test_framers_never_raise_and_account_for_every_byte(name: str, chunks: list[bytes]) -> None:
    framer = FRAMERS[name]()
    frames: list[object] = []
    for chunk in chunks:
        frames += framer.feed(chunk)
    total = sum(len(chunk) for chunk in chunks)
    encoded = sum(len(_wire(frame)) for frame in frames)
    dropped = 5 * framer.dropped_frames if isinstance(framer, NoninDf2Framer) else 0
    pending = 5 * 24 if isinstance(framer, NoninDf2Framer) else 0
    assert 0 <= total - framer.discarded - encoded - dropped < 9 + pending
    for frame in frames:
        assert FRAMERS[name]().feed(_wire(frame)) == [frame]


@pytest.mark.parametrize("name", sorted(FRAMERS))
@FUZZ
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=10))
def test_framers_ignore_chunk_boundaries(name: str, data: bytes, cuts: list[int]) -> None:
    whole = FRAMERS[name]()
    expected = whole.feed(data)
    split = FRAMERS[name]()
    got: list[object] = []
    points = sorted({0, len(data), *(cut for cut in cuts if cut <= len(data))})
    for start, end in itertools.pairwise(points):
        got += split.feed(data[start:end])
    assert got == expected
    assert split.discarded == whole.discarded


def _is_subsequence(needles: list[object], haystack: list[object]) -> bool:
    remaining = iter(haystack)
    return all(any(item == needle for item in remaining) for needle in needles)


def cms50_frames(protocol: Cms50Protocol) -> st.SearchStrategy[Cms50LiveFrame]:
    return st.builds(
        Cms50LiveFrame,
        signal_strength=st.integers(0, 15),
        finger_out=st.booleans(),
        spo2_dropping=st.booleans(),
        pulse_beep=st.booleans(),
        pleth=st.integers(0, 127),
        bargraph=st.integers(0, 15),
        probe_error=st.booleans(),
        searching=st.booleans(),
        pulse_rate_raw=st.integers(0, 255),
        spo2_raw=st.integers(0, 127),
        protocol=st.just(protocol),
    )


df8_frames = st.builds(
    NoninDf8Frame,
    status=st.integers(0, 0x7F).map(NoninDf8Status.from_int),
    heart_rate=st.one_of(st.none(), st.integers(0, 510)),
    spo2=st.one_of(st.none(), st.integers(0, 126)),
)
df2_packets = st.builds(
    lambda hr, spo2, pleth, flags: NoninDf2Packet.build(
        heart_rate=hr, spo2=spo2, pleth=pleth, status=NoninDf2Status.from_int(flags)
    ),
    st.one_of(st.none(), st.integers(0, 510)),
    st.one_of(st.none(), st.integers(0, 126)),
    st.lists(st.integers(0, 255), min_size=25, max_size=25),
    st.integers(0, 0x7F),
)


@pytest.mark.parametrize(
    ("name", "frames", "garbage"),
    [
        # A device speaks one framing, and the catalogue's framers are locked to it.
        ("contec_cms50d_plus", cms50_frames(Cms50Protocol.FRAMED), st.binary(max_size=12)),
        ("contec_cms50d_plus_legacy", cms50_frames(Cms50Protocol.LEGACY), st.binary(max_size=12)),
        ("nonin_df8", df8_frames, st.binary(max_size=12)),
        # A START byte in garbage can, once in 256, fake a checksum over a real frame.
        ("nonin_df2", df2_packets, st.binary(max_size=12).map(lambda b: b.replace(b"\x01", b""))),
    ],
)
@FUZZ
@given(data=st.data())
def test_framers_find_every_real_frame_among_garbage(
    name: str,
    frames: st.SearchStrategy[object],
    garbage: st.SearchStrategy[bytes],
    data: st.DataObject,
) -> None:
    sent = data.draw(st.lists(frames, min_size=1, max_size=6))
    stream = b"".join(data.draw(garbage) + _wire(frame) for frame in sent)
    chunk = data.draw(st.integers(1, 40))
    framer = FRAMERS[name]()
    received: list[object] = []
    for start in range(0, len(stream), chunk):
        received += framer.feed(stream[start : start + chunk])
    assert _is_subsequence(list(sent), received)


@FUZZ
@given(hundredths=st.integers(-8_000_000, 8_000_000))
def test_float_from_float_is_exact_for_two_decimals(hundredths: int) -> None:
    number = hundredths / 100
    assert Float11073.from_float(number).value == number


@FUZZ
@given(tenths=st.integers(-2045, 2045))
def test_sfloat_from_float_is_exact_for_one_decimal(tenths: int) -> None:
    number = tenths / 10
    encoded = Sfloat.from_float(number)
    assert encoded.value == number
    assert Sfloat.parse(bytes(encoded)) == encoded
