"""Nonin pulse oximeter serial data formats #2 and #8 (9600 baud, 8N1).

Data format #2: 75 frames a second, 5 bytes each::

    byte 0  START = 0x01
    byte 1  STATUS: 1 | SNSD sensor disconnect(6) | ARTF artifact(5) | OOT out of track(4) |
            SNSA sensor alarm(3) | RPRF red perfusion(2) | GPRF green perfusion(1) | SYNC(0)
            (red and green together = yellow perfusion)
    byte 2  PLETH
    byte 3  DAT: one byte of the packet's data, see below
    byte 4  CHK = (byte 0 + byte 1 + byte 2 + byte 3) mod 256

25 frames make a packet (1/3 s); SYNC is set in frame 1 only. The DAT byte of frame n holds:
1 HR MSB, 2 HR LSB, 3 SpO2, 4 SREV, 8 STAT2, 9 SpO2-D, 10 SpO2 fast, 11 SpO2 beat-to-beat,
14 E-HR MSB, 15 E-HR LSB, 16 E-SpO2, 17 E-SpO2-D, 20 HR-D MSB, 21 HR-D LSB, 22 E-HR-D MSB,
23 E-HR-D LSB; the others are reserved. A heart rate is 9 bits: MSB bits 1-0 are bits 8-7,
LSB bits 6-0 are bits 6-0. "D" values are for display, "E" values are extended averages.

Data format #8: one 4-byte frame a second::

    byte 0  STATUS: 1 | SNSD(6) | OOT(5) | LPRF low perfusion(4) | MPRF marginal perfusion(3) |
            ARTF(2) | reserved(1-0)
    byte 1  HR MSB (bits 1-0 = heart rate bits 8-7), bit 7 clear
    byte 2  HR LSB (bits 6-0), bit 7 clear
    byte 3  SpO2, bit 7 clear

A heart rate of 511 and a SpO2 of 127 mean "missing" (None here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import ClassVar, Self

from devices._bits import BitFlags
from devices.measurements import Measurement, MeasurementKind, ReadingContext, StatusFlag, Unit

__all__ = [
    "DF2_FRAMES_PER_PACKET",
    "MISSING_HEART_RATE",
    "MISSING_SPO2",
    "NoninDf2Frame",
    "NoninDf2Framer",
    "NoninDf2Packet",
    "NoninDf2Status",
    "NoninDf8Frame",
    "NoninDf8Framer",
    "NoninDf8Status",
]

MISSING_HEART_RATE = 511
MISSING_SPO2 = 127
DF2_FRAMES_PER_PACKET = 25
_DF2_START = 0x01
_DF2_SIZE = 5
_DF8_SIZE = 4

_FLAGS = MappingProxyType(
    {
        "sensor_disconnect": StatusFlag.SENSOR_DISCONNECTED,
        "sensor_alarm": StatusFlag.SENSOR_ERROR,
        "out_of_track": StatusFlag.OUT_OF_TRACK,
        "artifact": StatusFlag.ARTIFACT,
        "red_perfusion": StatusFlag.LOW_PERFUSION,
        "low_perfusion": StatusFlag.LOW_PERFUSION,
        "marginal_perfusion": StatusFlag.MARGINAL_PERFUSION,
        "yellow_perfusion": StatusFlag.MARGINAL_PERFUSION,
    }
)


def _nonin_measurements(
    names: frozenset[str], spo2: int | None, heart_rate: int | None, context: ReadingContext
) -> list[Measurement]:
    """SpO2 and pulse rate with the status bits as flags (yellow perfusion wins over red)."""
    if "yellow_perfusion" in names:
        names = names - {"red_perfusion"}
    ctx = replace(context, status=frozenset(_FLAGS[name] for name in names if name in _FLAGS))
    return [
        *ctx.make(MeasurementKind.SPO2, spo2, Unit.PERCENT),
        *ctx.make(MeasurementKind.PULSE_RATE, heart_rate, Unit.PER_MINUTE),
    ]


def _heart_rate(msb: int, lsb: int) -> int | None:
    value = (msb & 0x03) << 7 | (lsb & 0x7F)
    return None if value == MISSING_HEART_RATE else value


def _spo2(raw: int) -> int | None:
    value = raw & 0x7F
    return None if value == MISSING_SPO2 else value


def _split_heart_rate(value: int | None) -> tuple[int, int]:
    value = MISSING_HEART_RATE if value is None else value
    if not 0 <= value <= MISSING_HEART_RATE:
        raise ValueError(f"heart rate {value} out of range 0..511")
    return value >> 7, value & 0x7F


def _spo2_byte(value: int | None) -> int:
    value = MISSING_SPO2 if value is None else value
    if not 0 <= value <= MISSING_SPO2:
        raise ValueError(f"SpO2 {value} out of range 0..127")
    return value


# -- data format #2 ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoninDf2Status(BitFlags):
    """The STATUS byte of a format #2 frame (bit 7 is always set on the wire)."""

    BITS: ClassVar[tuple[str, ...]] = (
        "sync",
        "green_perfusion",
        "red_perfusion",
        "sensor_alarm",
        "out_of_track",
        "artifact",
        "sensor_disconnect",
    )

    sync: bool = False
    green_perfusion: bool = False
    red_perfusion: bool = False
    sensor_alarm: bool = False
    out_of_track: bool = False
    artifact: bool = False
    sensor_disconnect: bool = False

    @property
    def yellow_perfusion(self) -> bool:
        """Yellow (marginal) perfusion is signalled by the red and green bits together."""
        return self.red_perfusion and self.green_perfusion


@dataclass(frozen=True, slots=True)
class NoninDf2Frame:
    """One format #2 frame: status, one pleth sample, one byte of packet data."""

    status: NoninDf2Status
    pleth: int
    data: int

    def __post_init__(self) -> None:
        for name, value in (("pleth", self.pleth), ("data", self.data)):
            if not 0 <= value <= 255:
                raise ValueError(f"{name} {value} out of range 0..255")

    def __bytes__(self) -> bytes:
        head = bytes((_DF2_START, 0x80 | int(self.status), self.pleth, self.data))
        return head + bytes((sum(head) & 0xFF,))


# 1-based frame numbers of the DAT bytes.
_HR_MSB, _HR_LSB, _SPO2, _SREV, _STAT2 = 1, 2, 3, 4, 8
_SPO2_D, _SPO2_FAST, _SPO2_BB = 9, 10, 11
_EHR_MSB, _EHR_LSB, _ESPO2, _ESPO2_D = 14, 15, 16, 17
_HRD_MSB, _HRD_LSB, _EHRD_MSB, _EHRD_LSB = 20, 21, 22, 23


@dataclass(frozen=True, slots=True)
class NoninDf2Packet:
    """25 consecutive format #2 frames, the first with SYNC set (a third of a second)."""

    frames: tuple[NoninDf2Frame, ...]

    def __post_init__(self) -> None:
        if len(self.frames) != DF2_FRAMES_PER_PACKET:
            raise ValueError(f"a packet has 25 frames, got {len(self.frames)}")
        if not self.frames[0].status.sync or any(f.status.sync for f in self.frames[1:]):
            raise ValueError("SYNC must be set in frame 1 and only there")

    @classmethod
    def build(
        cls,
        *,
        heart_rate: int | None,
        spo2: int | None,
        pleth: Sequence[int],
        status: NoninDf2Status | None = None,
        spo2_fast: int | None = None,
        spo2_beat_to_beat: int | None = None,
        software_revision: int = 0,
    ) -> Self:
        """Return a packet carrying these values (display and extended values equal)."""
        if len(pleth) != DF2_FRAMES_PER_PACKET:
            raise ValueError(f"a packet has 25 pleth samples, got {len(pleth)}")
        base = status or NoninDf2Status()
        hr_msb, hr_lsb = _split_heart_rate(heart_rate)
        spo2_byte = _spo2_byte(spo2)
        data = [0] * (DF2_FRAMES_PER_PACKET + 1)  # 1-based
        for msb, lsb in (
            (_HR_MSB, _HR_LSB),
            (_EHR_MSB, _EHR_LSB),
            (_HRD_MSB, _HRD_LSB),
            (_EHRD_MSB, _EHRD_LSB),
        ):
            data[msb], data[lsb] = hr_msb, hr_lsb
        for index in (_SPO2, _SPO2_D, _ESPO2, _ESPO2_D):
            data[index] = spo2_byte
        data[_SPO2_FAST] = _spo2_byte(spo2 if spo2_fast is None else spo2_fast)
        data[_SPO2_BB] = _spo2_byte(spo2 if spo2_beat_to_beat is None else spo2_beat_to_beat)
        data[_SREV] = software_revision
        frames = []
        for number in range(1, DF2_FRAMES_PER_PACKET + 1):
            flags = int(base) & ~1 | (1 if number == 1 else 0)
            frames.append(
                NoninDf2Frame(NoninDf2Status.from_int(flags), pleth[number - 1], data[number])
            )
        return cls(tuple(frames))

    def __bytes__(self) -> bytes:
        return b"".join(bytes(frame) for frame in self.frames)

    def _dat(self, number: int) -> int:
        return self.frames[number - 1].data

    @property
    def heart_rate(self) -> int | None:
        """4-beat average pulse rate, beats per minute."""
        return _heart_rate(self._dat(_HR_MSB), self._dat(_HR_LSB))

    @property
    def spo2(self) -> int | None:
        """4-beat average SpO2, percent."""
        return _spo2(self._dat(_SPO2))

    @property
    def software_revision(self) -> int:
        return self._dat(_SREV)

    @property
    def status2(self) -> int:
        return self._dat(_STAT2)

    @property
    def spo2_display(self) -> int | None:
        return _spo2(self._dat(_SPO2_D))

    @property
    def spo2_fast(self) -> int | None:
        return _spo2(self._dat(_SPO2_FAST))

    @property
    def spo2_beat_to_beat(self) -> int | None:
        return _spo2(self._dat(_SPO2_BB))

    @property
    def extended_heart_rate(self) -> int | None:
        return _heart_rate(self._dat(_EHR_MSB), self._dat(_EHR_LSB))

    @property
    def extended_spo2(self) -> int | None:
        return _spo2(self._dat(_ESPO2))

    @property
    def extended_spo2_display(self) -> int | None:
        return _spo2(self._dat(_ESPO2_D))

    @property
    def heart_rate_display(self) -> int | None:
        return _heart_rate(self._dat(_HRD_MSB), self._dat(_HRD_LSB))

    @property
    def extended_heart_rate_display(self) -> int | None:
        return _heart_rate(self._dat(_EHRD_MSB), self._dat(_EHRD_LSB))

    @property
    def pleth(self) -> tuple[int, ...]:
        """The 25 pleth samples (75 Hz)."""
        return tuple(frame.pleth for frame in self.frames)

    @property
    def flags(self) -> frozenset[str]:
        """Status bits set in any frame of the packet (SYNC excluded)."""
        names: set[str] = set()
        for frame in self.frames:
            names |= frame.status.set_flags()
        names.discard("sync")
        if any(frame.status.yellow_perfusion for frame in self.frames):
            names.add("yellow_perfusion")
        return frozenset(names)

    def to_measurements(self, context: ReadingContext) -> list[Measurement]:
        """SpO2 and pulse rate (4-beat averages), flagged with the packet's status bits."""
        return _nonin_measurements(self.flags, self.spo2, self.heart_rate, context)

    def to_json(self) -> dict[str, object]:
        """A JSON-friendly view of the decoded packet."""
        return {
            "heart_rate": self.heart_rate,
            "spo2": self.spo2,
            "spo2_display": self.spo2_display,
            "spo2_fast": self.spo2_fast,
            "spo2_beat_to_beat": self.spo2_beat_to_beat,
            "extended_heart_rate": self.extended_heart_rate,
            "extended_spo2": self.extended_spo2,
            "extended_spo2_display": self.extended_spo2_display,
            "heart_rate_display": self.heart_rate_display,
            "extended_heart_rate_display": self.extended_heart_rate_display,
            "software_revision": self.software_revision,
            "status2": self.status2,
            "pleth": list(self.pleth),
            "status": sorted(self.flags),
        }


@dataclass(slots=True)
class NoninDf2Framer:
    """Incremental format #2 decoder: bytes in, complete packets out.

    Frames are recognised by the START byte, the status sync bit and the checksum; a frame
    that fails is skipped one byte at a time (`discarded` counts the bytes). Frames outside a
    complete packet (before the first SYNC, or of a packet broken by garbage) are counted in
    `dropped_frames`.
    """

    discarded: int = 0
    dropped_frames: int = 0
    _buffer: bytearray = field(default_factory=bytearray)
    _pending: list[NoninDf2Frame] = field(default_factory=list)

    def feed(self, chunk: bytes) -> list[NoninDf2Packet]:
        """Add received bytes; return the packets they complete, never waiting."""
        self._buffer += chunk
        packets: list[NoninDf2Packet] = []
        buffer = self._buffer
        start = 0
        while start < len(buffer):
            if buffer[start] != _DF2_START or (
                len(buffer) - start > 1 and not buffer[start + 1] & 0x80
            ):
                self._skip_byte()
                start += 1
                continue
            if len(buffer) - start < _DF2_SIZE:
                break
            raw = buffer[start : start + _DF2_SIZE]
            if sum(raw[:4]) & 0xFF != raw[4]:
                self._skip_byte()
                start += 1
                continue
            frame = NoninDf2Frame(NoninDf2Status.from_int(raw[1]), raw[2], raw[3])
            start += _DF2_SIZE
            packet = self._add(frame)
            if packet is not None:
                packets.append(packet)
        del buffer[:start]
        return packets

    def _skip_byte(self) -> None:
        self.discarded += 1
        if self._pending:
            self.dropped_frames += len(self._pending)
            self._pending.clear()

    def _add(self, frame: NoninDf2Frame) -> NoninDf2Packet | None:
        if frame.status.sync:
            self.dropped_frames += len(self._pending)
            self._pending = [frame]
        elif self._pending:
            self._pending.append(frame)
        else:
            self.dropped_frames += 1
            return None
        if len(self._pending) < DF2_FRAMES_PER_PACKET:
            return None
        packet = NoninDf2Packet(tuple(self._pending))
        self._pending = []
        return packet


# -- data format #8 ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoninDf8Status(BitFlags):
    """The STATUS byte of a format #8 frame (bit 7 always set, bits 1-0 reserved)."""

    BITS: ClassVar[tuple[str, ...]] = (
        "",
        "",
        "artifact",
        "marginal_perfusion",
        "low_perfusion",
        "out_of_track",
        "sensor_disconnect",
    )

    artifact: bool = False
    marginal_perfusion: bool = False
    low_perfusion: bool = False
    out_of_track: bool = False
    sensor_disconnect: bool = False


@dataclass(frozen=True, slots=True)
class NoninDf8Frame:
    """One format #8 frame (once a second): status, heart rate and SpO2."""

    status: NoninDf8Status
    heart_rate: int | None
    spo2: int | None

    def __post_init__(self) -> None:
        _split_heart_rate(self.heart_rate)
        _spo2_byte(self.spo2)
        if self.heart_rate == MISSING_HEART_RATE or self.spo2 == MISSING_SPO2:
            raise ValueError("use None, not the sentinel, for a missing value")

    def __bytes__(self) -> bytes:
        msb, lsb = _split_heart_rate(self.heart_rate)
        return bytes((0x80 | int(self.status), msb, lsb, _spo2_byte(self.spo2)))

    def to_measurements(self, context: ReadingContext) -> list[Measurement]:
        """SpO2 and pulse rate, flagged with the frame's status bits."""
        return _nonin_measurements(
            frozenset(self.status.set_flags()), self.spo2, self.heart_rate, context
        )

    def to_json(self) -> dict[str, object]:
        """A JSON-friendly view of the frame."""
        return {
            "heart_rate": self.heart_rate,
            "spo2": self.spo2,
            "status": {name: getattr(self.status, name) for name in NoninDf8Status.BITS if name},
        }


@dataclass(slots=True)
class NoninDf8Framer:
    """Incremental format #8 decoder: a status byte with bit 7 set then three bytes with
    bit 7 clear (and the HR MSB below 4); anything else is skipped one byte at a time."""

    discarded: int = 0
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, chunk: bytes) -> list[NoninDf8Frame]:
        """Add received bytes; return the frames they complete, never waiting."""
        self._buffer += chunk
        frames: list[NoninDf8Frame] = []
        buffer = self._buffer
        start = 0
        while start < len(buffer):
            body = buffer[start + 1 : start + _DF8_SIZE]
            valid = bool(buffer[start] & 0x80) and all(not byte & 0x80 for byte in body)
            if valid and body and body[0] > 0x03:
                valid = False
            if not valid:
                self.discarded += 1
                start += 1
                continue
            if len(body) < _DF8_SIZE - 1:
                break
            status = NoninDf8Status.from_int(buffer[start])
            frames.append(NoninDf8Frame(status, _heart_rate(body[0], body[1]), _spo2(body[2])))
            start += _DF8_SIZE
        del buffer[:start]
        return frames
