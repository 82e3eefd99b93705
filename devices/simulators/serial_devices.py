"""Simulated serial pulse oximeters on pseudo-terminals: Contec CMS50D+ and Nonin format #2.

They stream realistic values (SpO2 95–99 %, pulse 60–90 /min drifting slowly, a pleth
waveform with its dicrotic notch) in the real framing, and take faults on demand: finger
out, garbage bytes, unplug and replug (see `UnpluggablePty`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import random
from collections.abc import Awaitable, Callable

from devices.serialproto.contec import (
    KEEPALIVE_COMMAND,
    LIVE_START_COMMAND,
    LIVE_STOP_COMMAND,
    NO_PULSE_RATE,
    NO_SPO2,
    Cms50LiveFrame,
    Cms50Protocol,
)
from devices.serialproto.nonin import DF2_FRAMES_PER_PACKET, NoninDf2Packet, NoninDf2Status
from devices.simulators.pty import UnpluggablePty

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class SerialModel(enum.StrEnum):
    """The serial oximeters that can be simulated."""

    CONTEC_CMS50D_PLUS = "contec-cms50d-plus"
    NONIN_DF2 = "nonin-df2"


def pleth_shape(phase: float) -> float:
    """Return a photoplethysmogram sample in [0, 1] at `phase` (0..1) of a cardiac cycle."""
    systolic = math.exp(-(((phase - 0.18) / 0.07) ** 2))
    dicrotic = 0.35 * math.exp(-(((phase - 0.45) / 0.08) ** 2))
    return min(1.0, systolic + dicrotic)


class _Physiology:
    """Slowly drifting SpO2 and pulse rate within normal ranges, and the pleth phase."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self.spo2 = 97.0
        self.pulse = 72.0
        self._phase = 0.0

    def step(self, seconds: float) -> None:
        self.spo2 = min(99.0, max(95.0, self.spo2 + self._rng.uniform(-0.3, 0.3) * seconds))
        self.pulse = min(90.0, max(60.0, self.pulse + self._rng.uniform(-2.0, 2.0) * seconds))

    def pleth(self, rate_hz: float) -> float:
        self._phase = (self._phase + self.pulse / 60.0 / rate_hz) % 1.0
        return pleth_shape(self._phase)


class SerialOximeterSimulator:
    """One simulated oximeter streaming on a pty; `run()` until cancelled."""

    def __init__(
        self,
        model: SerialModel = SerialModel.CONTEC_CMS50D_PLUS,
        *,
        path: str | None = None,
        contec_protocol: Cms50Protocol = Cms50Protocol.LEGACY,
        tick: float = 1 / 3,
        seed: int = 0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.model = model = SerialModel(model)  # the catalogue names it by value
        self.pty = UnpluggablePty(path)
        self.contec_protocol = contec_protocol
        self.finger_out = False
        self.tick = tick
        self.physiology = _Physiology(seed)
        self._sleep = sleep
        self._garbage = b""
        self._streaming = not (
            model is SerialModel.CONTEC_CMS50D_PLUS and contec_protocol is Cms50Protocol.FRAMED
        )
        self._commands = b""
        self.keepalives_received = 0

    @property
    def path(self) -> str:
        """The tty path the host opens (a link to the pty slave while plugged)."""
        return self.pty.path

    @property
    def sample_rate(self) -> int:
        """Frames per second on the wire: 60 for the Contec, 75 for the Nonin."""
        return 60 if self.model is SerialModel.CONTEC_CMS50D_PLUS else 75

    def inject_garbage(self, data: bytes | None = None) -> None:
        """Send noise before the next frames (line noise, a half-written frame)."""
        self._garbage += (
            data if data is not None else bytes(random.Random(1).randrange(256) for _ in range(37))
        )

    def unplug(self) -> None:
        self.pty.unplug()

    def replug(self) -> None:
        self.pty.plug()

    def close(self) -> None:
        self.pty.close()

    async def run(self) -> None:
        """Plug in and stream until cancelled."""
        self.pty.plug()
        try:
            while True:
                if self.pty.plugged:
                    self._handle_commands()
                    if self._streaming:
                        self.pty.write(self._garbage + self.next_chunk())
                        self._garbage = b""
                await self._sleep(self.tick)
        finally:
            self.pty.close()

    def _handle_commands(self) -> None:
        self._commands = (self._commands + self.pty.read())[-64:]
        while KEEPALIVE_COMMAND in self._commands:
            self.keepalives_received += 1
            self._commands = self._commands.replace(KEEPALIVE_COMMAND, b"", 1)
        if LIVE_START_COMMAND in self._commands:
            self._streaming = True
            self._commands = b""
        elif LIVE_STOP_COMMAND in self._commands:
            self._streaming = False
            self._commands = b""

    def next_chunk(self) -> bytes:
        """Return the bytes of the next `tick` seconds of streaming."""
        self.physiology.step(self.tick)
        if self.model is SerialModel.CONTEC_CMS50D_PLUS:
            count = max(1, round(self.tick * self.sample_rate))
            return b"".join(bytes(self._contec_frame()) for _ in range(count))
        packets = max(1, round(self.tick * self.sample_rate / DF2_FRAMES_PER_PACKET))
        return b"".join(bytes(self._nonin_packet()) for _ in range(packets))

    def _contec_frame(self) -> Cms50LiveFrame:
        legacy = self.contec_protocol is Cms50Protocol.LEGACY
        top = 127 if legacy else 255
        if self.finger_out:
            return Cms50LiveFrame(
                0,
                True,
                False,
                False,
                0,
                0,
                False,
                True,
                NO_PULSE_RATE,
                NO_SPO2,
                protocol=self.contec_protocol,
            )
        wave = self.physiology.pleth(self.sample_rate)
        return Cms50LiveFrame(
            signal_strength=8,
            finger_out=False,
            spo2_dropping=False,
            pulse_beep=wave > 0.98,
            pleth=int(wave * (top - 10)) + 5,
            bargraph=int(wave * 15),
            probe_error=False,
            searching=False,
            pulse_rate_raw=round(self.physiology.pulse),
            spo2_raw=round(self.physiology.spo2),
            protocol=self.contec_protocol,
        )

    def _nonin_packet(self) -> NoninDf2Packet:
        if self.finger_out:
            return NoninDf2Packet.build(
                heart_rate=None,
                spo2=None,
                pleth=[0] * DF2_FRAMES_PER_PACKET,
                status=NoninDf2Status(sensor_alarm=True, out_of_track=True),
            )
        pleth = [
            int(self.physiology.pleth(self.sample_rate) * 250) for _ in range(DF2_FRAMES_PER_PACKET)
        ]
        return NoninDf2Packet.build(
            heart_rate=round(self.physiology.pulse),
            spo2=round(self.physiology.spo2),
            pleth=pleth,
            status=NoninDf2Status(green_perfusion=True),
        )
