"""Contec CMS50D+ framer: both framings, resynchronisation, chunk boundaries."""

from __future__ import annotations

import pytest

from devices.serialproto.contec import Cms50Framer, Cms50LiveFrame, Cms50Protocol

LEGACY = bytes.fromhex("c540473461")
FRAMED = bytes.fromhex("01eac5c887b4e1ffff")


def test_legacy_packet() -> None:
    """c5 40 47 34 61.

    c5: sync bit, pulse beep (0x40), signal strength 5; 40: pleth 64; 47: pulse rate bit 7
    (0x40) and bargraph 7; 34: pulse rate bits 6-0 = 52, so 128 + 52 = 180; 61: SpO2 97.
    """
    [frame] = Cms50Framer().feed(LEGACY)
    assert frame == Cms50LiveFrame(
        signal_strength=5,
        finger_out=False,
        spo2_dropping=False,
        pulse_beep=True,
        pleth=64,
        bargraph=7,
        probe_error=False,
        searching=False,
        pulse_rate_raw=180,
        spo2_raw=97,
        protocol=Cms50Protocol.LEGACY,
    )
    assert (frame.pulse_rate, frame.spo2) == (180, 97)
    assert bytes(frame) == LEGACY


def test_framed_packet() -> None:
    """01 ea c5 c8 87 b4 e1 ff ff.

    01: live data; ea: high bits 1110 1010 -> bit 7 of data bytes 1 (pleth), 3 (pulse), 5
    and 6 (reserved 0xff); c5 -> 0x45 beep + signal 5; c8 -> 0x48 | 0x80 = pleth 200;
    87 -> bargraph 7; b4 -> 0x34 | 0x80 = pulse 180; e1 -> SpO2 0x61 = 97.
    """
    [frame] = Cms50Framer().feed(FRAMED)
    assert frame.protocol is Cms50Protocol.FRAMED
    assert (frame.pleth, frame.bargraph, frame.signal_strength) == (200, 7, 5)
    assert frame.pulse_beep and not frame.finger_out
    assert (frame.pulse_rate, frame.spo2) == (180, 97)
    assert bytes(frame) == FRAMED


def test_no_values_when_finger_out() -> None:
    """d0 00 60 7f 7f: finger out (0x10), searching (0x20), pulse 0x40<<1 | 0x7f = 255,
    SpO2 127: both mean "no value"."""
    [frame] = Cms50Framer().feed(bytes.fromhex("d000607f7f"))
    assert frame.finger_out and frame.searching
    assert (frame.pulse_rate, frame.spo2) == (None, None)


def test_resynchronises_after_garbage() -> None:
    framer = Cms50Framer()
    garbage = bytes.fromhex("0033ff807f02")  # no 5 or 9 bytes here look like a packet
    frames = framer.feed(garbage + FRAMED + b"\x10\x20" + LEGACY + LEGACY)
    assert [f.protocol for f in frames] == [
        Cms50Protocol.FRAMED,
        Cms50Protocol.LEGACY,
        Cms50Protocol.LEGACY,
    ]
    assert framer.discarded == len(garbage) + 2
    assert framer.frames == 3


def test_a_broken_packet_is_skipped() -> None:
    framer = Cms50Framer()
    frames = framer.feed(LEGACY[:3] + LEGACY)  # a packet cut short by a new sync byte
    assert frames == Cms50Framer().feed(LEGACY)
    assert framer.discarded == 3


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 4, 5, 7, 8, 9, 10, 64])
def test_any_chunk_boundary_gives_the_same_frames(chunk_size: int) -> None:
    stream = (FRAMED * 3 + b"\x00\x00" + LEGACY * 3) * 2
    expected = Cms50Framer().feed(stream)
    framer = Cms50Framer()
    frames = []
    for start in range(0, len(stream), chunk_size):
        frames += framer.feed(stream[start : start + chunk_size])
    assert frames == expected
    assert len(frames) == 12
    assert framer.discarded == 4


def test_incomplete_tail_waits_for_more_bytes() -> None:
    framer = Cms50Framer()
    assert framer.feed(FRAMED[:8]) == []
    assert framer.discarded == 0
    assert len(framer.feed(FRAMED[8:])) == 1


def test_encoding_checks_ranges() -> None:
    with pytest.raises(ValueError, match=r"pleth 200 out of range 0\.\.127"):
        Cms50LiveFrame(0, False, False, False, 200, 0, False, False, 60, 97, Cms50Protocol.LEGACY)
