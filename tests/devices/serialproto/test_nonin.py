"""Nonin data formats #2 and #8: frames, packets, resynchronisation."""

from __future__ import annotations

import pytest

from devices.serialproto.nonin import (
    NoninDf2Frame,
    NoninDf2Framer,
    NoninDf2Packet,
    NoninDf2Status,
    NoninDf8Frame,
    NoninDf8Framer,
    NoninDf8Status,
)


def _packet(heart_rate: int | None = 72, spo2: int | None = 97) -> NoninDf2Packet:
    return NoninDf2Packet.build(
        heart_rate=heart_rate,
        spo2=spo2,
        pleth=list(range(100, 125)),
        status=NoninDf2Status(green_perfusion=True),
    )


def test_df2_frame_bytes() -> None:
    """01 81 40 00 c2: start, status 0x81 (bit 7 + SYNC), pleth 64, DAT 0 (HR MSB),
    checksum 0x01 + 0x81 + 0x40 + 0x00 = 0xc2."""
    frame = NoninDf2Frame(NoninDf2Status(sync=True), 64, 0)
    assert bytes(frame) == bytes.fromhex("01814000c2")


def test_df2_packet_decoding() -> None:
    """Frames 1-2 carry HR MSB 0x02 / LSB 0x2c = 2 << 7 | 44 = 300 /min; frame 3 SpO2."""
    packet = _packet(heart_rate=300, spo2=95)
    data = bytes(packet)
    assert len(data) == 125
    assert data[3] == 0x02 and data[8] == 0x2C and data[13] == 95
    [decoded] = NoninDf2Framer().feed(data)
    assert decoded == packet
    assert (decoded.heart_rate, decoded.spo2) == (300, 95)
    assert decoded.extended_heart_rate == decoded.heart_rate_display == 300
    assert decoded.extended_heart_rate_display == 300
    assert decoded.spo2_display == decoded.spo2_fast == decoded.spo2_beat_to_beat == 95
    assert decoded.extended_spo2 == decoded.extended_spo2_display == 95
    assert decoded.pleth == tuple(range(100, 125))
    assert decoded.flags == {"green_perfusion"}


def test_df2_missing_values() -> None:
    """HR 511 (MSB 0x03, LSB 0x7f) and SpO2 127 are "missing"."""
    [decoded] = NoninDf2Framer().feed(bytes(_packet(heart_rate=None, spo2=None)))
    assert bytes(decoded)[3] == 0x03 and bytes(decoded)[8] == 0x7F
    assert (decoded.heart_rate, decoded.spo2) == (None, None)


def test_df2_status_bits() -> None:
    status = NoninDf2Status.from_int(0xFF)
    assert status.set_flags() == {
        "sync",
        "green_perfusion",
        "red_perfusion",
        "sensor_alarm",
        "out_of_track",
        "artifact",
        "sensor_disconnect",
    }
    assert status.yellow_perfusion
    assert not NoninDf2Status(red_perfusion=True).yellow_perfusion


def test_df2_resynchronises_and_counts() -> None:
    framer = NoninDf2Framer()
    stream = bytes(_packet())
    bad_checksum = bytes.fromhex("01814000c3")
    packets = framer.feed(b"\x7f\x01\x02" + stream[40:] + bad_checksum + stream + stream)
    assert len(packets) == 2
    assert framer.discarded == 3 + 5
    assert framer.dropped_frames == (125 - 40) // 5


def test_df2_garbage_inside_a_packet_drops_it() -> None:
    framer = NoninDf2Framer()
    stream = bytes(_packet())
    packets = framer.feed(stream[:50] + b"\xaa" + stream[50:] + stream)
    assert len(packets) == 1
    assert framer.dropped_frames == 10 + 15
    assert framer.discarded == 1


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 5, 6, 24, 125, 1000])
def test_df2_any_chunk_boundary(chunk_size: int) -> None:
    stream = b"\x00" + bytes(_packet(80, 96)) + bytes(_packet(81, 97))
    framer = NoninDf2Framer()
    packets = []
    for start in range(0, len(stream), chunk_size):
        packets += framer.feed(stream[start : start + chunk_size])
    assert [(p.heart_rate, p.spo2) for p in packets] == [(80, 96), (81, 97)]
    assert framer.discarded == 1


def test_df2_packet_checks_sync() -> None:
    frames = _packet().frames
    with pytest.raises(ValueError, match="SYNC must be set in frame 1 and only there"):
        NoninDf2Packet(frames[1:] + frames[:1])
    with pytest.raises(ValueError, match="a packet has 25 frames, got 24"):
        NoninDf2Packet(frames[:24])


def test_df8_frame() -> None:
    """84 02 2c 7f: status 0x84 (bit 7 + artifact), HR 2 << 7 | 0x2c = 300, SpO2 missing."""
    [frame] = NoninDf8Framer().feed(bytes.fromhex("84022c7f"))
    assert frame == NoninDf8Frame(NoninDf8Status(artifact=True), 300, None)
    assert bytes(frame) == bytes.fromhex("84022c7f")


def test_df8_status_bits() -> None:
    assert NoninDf8Status.from_int(0xFC) == NoninDf8Status(
        artifact=True,
        marginal_perfusion=True,
        low_perfusion=True,
        out_of_track=True,
        sensor_disconnect=True,
    )


def test_df8_missing_heart_rate() -> None:
    [frame] = NoninDf8Framer().feed(bytes.fromhex("80037f60"))
    assert (frame.heart_rate, frame.spo2) == (None, 96)


def test_df8_resynchronises_across_chunks() -> None:
    one = bytes(NoninDf8Frame(NoninDf8Status(), 72, 98))
    two = bytes(NoninDf8Frame(NoninDf8Status(low_perfusion=True), 73, 97))
    stream = b"\x05\x90\x10" + one + b"\x80\x09\x00\x00" + two
    framer = NoninDf8Framer()
    frames = []
    for byte in stream:
        frames += framer.feed(bytes((byte,)))
    assert [(f.heart_rate, f.spo2) for f in frames] == [(72, 98), (73, 97)]
    assert framer.discarded == 3 + 4
