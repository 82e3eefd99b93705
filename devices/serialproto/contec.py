"""Contec CMS50D+ live data over its USB-serial cable, both known framings.

Legacy firmware (19200 baud, streams on its own), 5-byte packets; only byte 0 has bit 7 set::

    byte 0  1 | beep(6) | spo2 dropping(5) | finger out(4) | signal strength(3-0)
    byte 1  0 | pleth (7 bits)
    byte 2  0 | pulse rate bit 7 (6) | searching(5) | probe error(4) | bargraph(3-0)
    byte 3  0 | pulse rate bits 6-0
    byte 4  0 | SpO2 (7 bits)

Firmware 4.6 and later (115200 baud, live data after the start command `LIVE_START_COMMAND`,
kept alive with `KEEPALIVE_COMMAND`): 9-byte packets, a type byte with bit 7 clear (0x01 =
live data), a byte carrying the high bits (bit i = bit 7 of data byte i) and seven data
bytes with bit 7 set; the seven data bytes are the legacy bytes 0-4 (without the pulse rate
high bit in byte 2, since every byte has its own) followed by two reserved bytes.

A SpO2 of 127 and a pulse rate of 255 mean "no value" (finger out, still searching).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from devices.measurements import Measurement, MeasurementKind, ReadingContext, StatusFlag, Unit

__all__ = [
    "KEEPALIVE_COMMAND",
    "LIVE_START_COMMAND",
    "LIVE_STOP_COMMAND",
    "NO_PULSE_RATE",
    "NO_SPO2",
    "Cms50Framer",
    "Cms50LiveFrame",
    "Cms50Protocol",
]

LIVE_START_COMMAND = bytes.fromhex("7d81a1808080808080")
"""Firmware 4.6: ask for real-time data."""
LIVE_STOP_COMMAND = bytes.fromhex("7d81a2808080808080")
"""Firmware 4.6: stop real-time data."""
KEEPALIVE_COMMAND = bytes.fromhex("7d81af808080808080")
"""Firmware 4.6: sent every few seconds, or the device stops streaming."""

NO_SPO2 = 127
NO_PULSE_RATE = 255

_LIVE_DATA = 0x01
_LEGACY_SIZE = 5
_FRAMED_SIZE = 9
_RESERVED_DATA = (0xFF, 0xFF)


class Cms50Protocol(enum.StrEnum):
    """Which framing a frame came in (and is encoded with)."""

    LEGACY = "legacy"
    FRAMED = "framed"


@dataclass(frozen=True, slots=True)
class Cms50LiveFrame:
    """One live sample (60 per second): pleth sample plus the current displayed values."""

    signal_strength: int
    finger_out: bool
    spo2_dropping: bool
    pulse_beep: bool
    pleth: int
    bargraph: int
    probe_error: bool
    searching: bool
    pulse_rate_raw: int
    spo2_raw: int
    protocol: Cms50Protocol = Cms50Protocol.FRAMED

    def __post_init__(self) -> None:
        pleth_max = 127 if self.protocol is Cms50Protocol.LEGACY else 255
        for name, value, top in (
            ("signal_strength", self.signal_strength, 15),
            ("bargraph", self.bargraph, 15),
            ("pleth", self.pleth, pleth_max),
            ("pulse_rate_raw", self.pulse_rate_raw, 255),
            ("spo2_raw", self.spo2_raw, pleth_max),
        ):
            if not 0 <= value <= top:
                raise ValueError(f"{name} {value} out of range 0..{top}")

    @property
    def pulse_rate(self) -> int | None:
        """Beats per minute, or None when the device has no value."""
        return None if self.pulse_rate_raw == NO_PULSE_RATE else self.pulse_rate_raw

    @property
    def spo2(self) -> int | None:
        """Percent, or None when the device has no value."""
        return None if self.spo2_raw == NO_SPO2 else self.spo2_raw

    def to_measurements(self, context: ReadingContext) -> list[Measurement]:
        """SpO2 and pulse rate, flagged when the finger is out, searching or the probe fails."""
        flags = frozenset(
            flag
            for present, flag in (
                (self.finger_out, StatusFlag.FINGER_OUT),
                (self.searching, StatusFlag.SEARCHING),
                (self.probe_error, StatusFlag.SENSOR_ERROR),
            )
            if present
        )
        ctx = replace(context, status=flags)
        return [
            *ctx.make(MeasurementKind.SPO2, self.spo2, Unit.PERCENT),
            *ctx.make(MeasurementKind.PULSE_RATE, self.pulse_rate, Unit.PER_MINUTE),
        ]

    def _data_bytes(self) -> tuple[int, int, int, int, int]:
        return (
            self.signal_strength
            | self.finger_out << 4
            | self.spo2_dropping << 5
            | self.pulse_beep << 6,
            self.pleth,
            self.bargraph | self.probe_error << 4 | self.searching << 5,
            self.pulse_rate_raw,
            self.spo2_raw,
        )

    def __bytes__(self) -> bytes:
        status, pleth, graph, pulse, spo2 = self._data_bytes()
        if self.protocol is Cms50Protocol.LEGACY:
            return bytes((0x80 | status, pleth, graph | (pulse >> 7) << 6, pulse & 0x7F, spo2))
        data = (status, pleth, graph, pulse, spo2, *_RESERVED_DATA)
        high = sum(((value >> 7) & 1) << index for index, value in enumerate(data))
        return bytes((_LIVE_DATA, 0x80 | high, *(0x80 | (value & 0x7F) for value in data)))

    def to_json(self) -> dict[str, object]:
        """A JSON-friendly view, "no value" sentinels as null."""
        return {
            "protocol": str(self.protocol),
            "spo2": self.spo2,
            "pulse_rate": self.pulse_rate,
            "pleth": self.pleth,
            "bargraph": self.bargraph,
            "signal_strength": self.signal_strength,
            "status": {
                "finger_out": self.finger_out,
                "searching": self.searching,
                "probe_error": self.probe_error,
                "pulse_beep": self.pulse_beep,
                "spo2_dropping": self.spo2_dropping,
            },
        }


def _legacy(packet: bytes) -> Cms50LiveFrame:
    return Cms50LiveFrame(
        signal_strength=packet[0] & 0x0F,
        finger_out=bool(packet[0] & 0x10),
        spo2_dropping=bool(packet[0] & 0x20),
        pulse_beep=bool(packet[0] & 0x40),
        pleth=packet[1],
        bargraph=packet[2] & 0x0F,
        probe_error=bool(packet[2] & 0x10),
        searching=bool(packet[2] & 0x20),
        pulse_rate_raw=(packet[2] & 0x40) << 1 | packet[3],
        spo2_raw=packet[4],
        protocol=Cms50Protocol.LEGACY,
    )


def _framed(packet: bytes) -> Cms50LiveFrame:
    high = packet[1]
    status, pleth, graph, pulse, spo2 = (
        (packet[2 + index] & 0x7F) | ((high >> index) & 1) << 7 for index in range(5)
    )
    return Cms50LiveFrame(
        signal_strength=status & 0x0F,
        finger_out=bool(status & 0x10),
        spo2_dropping=bool(status & 0x20),
        pulse_beep=bool(status & 0x40),
        pleth=pleth,
        bargraph=graph & 0x0F,
        probe_error=bool(graph & 0x10),
        searching=bool(graph & 0x20),
        pulse_rate_raw=pulse,
        spo2_raw=spo2,
        protocol=Cms50Protocol.FRAMED,
    )


class Cms50Framer:
    """Incremental decoder of a CMS50D+ byte stream; resynchronises after garbage and counts
    the bytes it had to discard.

    With a `protocol`, only that framing is recognised (what a driver wants: a device speaks
    one). Without, both are recognised by their sync bits, which suits a capture of unknown
    origin; garbage just before a framed packet can then pass for a legacy packet that
    swallows the packet's type byte.
    """

    __slots__ = ("_buffer", "discarded", "frames", "protocol")

    def __init__(self, protocol: Cms50Protocol | None = None) -> None:
        self.protocol = protocol
        self._buffer = bytearray()
        self.discarded = 0
        self.frames = 0

    def _candidate(self, start: int) -> int | None:
        """Return the packet size if bytes from `start` are consistent with a packet (maybe
        incomplete), 0 if they cannot start one."""
        buffer = self._buffer
        first = buffer[start]
        if first == _LIVE_DATA and self.protocol is not Cms50Protocol.LEGACY:
            size, body_bit = _FRAMED_SIZE, 0x80
        elif first & 0x80 and self.protocol is not Cms50Protocol.FRAMED:
            size, body_bit = _LEGACY_SIZE, 0x00
        else:
            return 0
        for byte in buffer[start + 1 : start + size]:
            if byte & 0x80 != body_bit:
                return 0
        return size if len(buffer) - start >= size else None

    def feed(self, chunk: bytes) -> list[Cms50LiveFrame]:
        """Add received bytes; return the complete frames they finish, never waiting."""
        self._buffer += chunk
        frames: list[Cms50LiveFrame] = []
        start = 0
        while start < len(self._buffer):
            size = self._candidate(start)
            if size is None:
                break
            if size == 0:
                self.discarded += 1
                start += 1
                continue
            packet = bytes(self._buffer[start : start + size])
            frames.append(_framed(packet) if size == _FRAMED_SIZE else _legacy(packet))
            start += size
        del self._buffer[:start]
        self.frames += len(frames)
        return frames
