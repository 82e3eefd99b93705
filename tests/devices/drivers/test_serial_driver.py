"""The serial driver on pseudo-terminals fed by the simulated Contec and Nonin oximeters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from devices.drivers.backoff import Backoff
from devices.drivers.serial import (
    Framer,
    LineSettings,
    SerialByteLink,
    SerialDriver,
    serial_driver_for_model,
)
from devices.errors import UnknownDeviceModel
from devices.serialproto.contec import Cms50Framer, Cms50LiveFrame, Cms50Protocol
from devices.serialproto.nonin import NoninDf2Framer, NoninDf2Packet
from devices.simulators.serial_devices import SerialModel, SerialOximeterSimulator
from devices.transports import DeviceLinkError, DriverState, DriverStatus
from tests.devices.simulators.harness import quick_sleep, running
from tests.support.waiting import eventually

Frame = Cms50LiveFrame | NoninDf2Packet
BAUD = {SerialModel.CONTEC_CMS50D_PLUS: 19200, SerialModel.NONIN_DF2: 9600}
FRAMERS: dict[SerialModel, Callable[[], Framer[Frame]]] = {
    SerialModel.CONTEC_CMS50D_PLUS: Cms50Framer,
    SerialModel.NONIN_DF2: NoninDf2Framer,
}


@dataclass
class Session:
    simulator: SerialOximeterSimulator
    driver: SerialDriver[Frame]
    frames: list[Frame] = field(default_factory=list)
    states: list[DriverState] = field(default_factory=list)
    backoffs: int = 0  # the driver's sleeps between attempts to reopen the port

    async def wait_frames(self, count: int) -> None:
        target = len(self.frames) + count
        await eventually(lambda: len(self.frames) >= target, f"{count} more frames")

    async def wait_state(self, state: DriverState, after: int) -> None:
        await eventually(lambda: state in self.states[after:], f"state {state}")


@pytest.fixture(params=list(SerialModel))
async def session(request: pytest.FixtureRequest) -> AsyncIterator[Session]:
    model: SerialModel = request.param
    simulator = SerialOximeterSimulator(model, tick=0.02)
    box: list[Session] = []

    async def on_frame(frame: Frame) -> None:
        box[0].frames.append(frame)

    def on_state(status: DriverStatus) -> None:
        box[0].states.append(status.state)

    async def backoff(seconds: float) -> None:
        box[0].backoffs += 1
        await quick_sleep(seconds)

    driver: SerialDriver[Frame] = SerialDriver(
        SerialByteLink(simulator.path, LineSettings(BAUD[model])),
        FRAMERS[model],
        on_frame,
        on_state=on_state,
        is_measuring=lambda frame: frame.spo2 is not None,
        no_data_timeout=0.3,
        sleep=backoff,
    )
    box.append(Session(simulator, driver))
    async with running(asyncio.create_task(simulator.run())):
        await eventually(lambda: simulator.pty.plugged, "the pty")
        async with running(asyncio.create_task(driver.run())):
            yield box[0]


async def test_frames_are_decoded_with_realistic_values(session: Session) -> None:
    await session.wait_frames(6)
    values = [
        (f.spo2, f.pulse_rate if isinstance(f, Cms50LiveFrame) else f.heart_rate)
        for f in session.frames
    ]
    assert all(spo2 is not None and 95 <= spo2 <= 99 for spo2, _ in values)
    assert all(pulse is not None and 60 <= pulse <= 90 for _, pulse in values)
    assert session.states[:3] == [DriverState.CONNECTING, DriverState.READY, DriverState.MEASURING]


async def test_garbage_is_survived(session: Session) -> None:
    await session.wait_frames(2)
    session.simulator.inject_garbage(bytes(range(256)) * 2)
    await session.wait_frames(6)
    assert session.frames[-1].spo2 is not None
    assert DriverState.LOST not in session.states


async def test_finger_out_leaves_measuring(session: Session) -> None:
    await session.wait_frames(2)
    session.simulator.finger_out = True
    await eventually(lambda: session.frames[-1].spo2 is None, "a finger-out frame")
    assert session.states[-1] is DriverState.READY
    session.simulator.finger_out = False
    await eventually(lambda: session.states[-1] is DriverState.MEASURING, "measuring again")


async def test_unplug_is_lost_and_replug_is_ready_again(session: Session) -> None:
    await session.wait_frames(2)
    seen = len(session.states)
    session.simulator.unplug()
    await session.wait_state(DriverState.LOST, after=seen)
    attempts = session.backoffs
    await eventually(lambda: session.backoffs >= attempts + 3, "several failed reopen attempts")
    assert DriverState.READY not in session.states[seen:]

    session.simulator.replug()
    await session.wait_state(DriverState.READY, after=seen)
    await session.wait_frames(3)
    assert session.frames[-1].spo2 is not None


async def test_silence_means_lost() -> None:
    """A device that stops sending (switched off, cable half out) is lost after the timeout."""
    simulator = SerialOximeterSimulator(
        SerialModel.CONTEC_CMS50D_PLUS, contec_protocol=Cms50Protocol.FRAMED, tick=0.02
    )
    states: list[DriverState] = []

    async def ignore(_frame: Cms50LiveFrame) -> None:
        return None

    driver: SerialDriver[Cms50LiveFrame] = SerialDriver(
        SerialByteLink(simulator.path),
        Cms50Framer,
        ignore,
        on_state=lambda status: states.append(status.state),
        no_data_timeout=0.1,
        sleep=quick_sleep,
    )
    async with running(asyncio.create_task(simulator.run())):
        await eventually(lambda: simulator.pty.plugged, "the pty")
        async with running(asyncio.create_task(driver.run())):
            # No start command: a framed CMS50D+ stays silent.
            await eventually(lambda: DriverState.LOST in states, "lost on silence")


async def test_catalogue_model_sends_start_command_and_keepalives() -> None:
    """The CMS50D+ (firmware 4.6) streams only after the live-start command and wants
    keepalives; the catalogue record gives both, with the line settings and framer."""
    simulator = SerialOximeterSimulator(
        SerialModel.CONTEC_CMS50D_PLUS, contec_protocol=Cms50Protocol.FRAMED, tick=0.02
    )
    frames: list[object] = []
    now = [0.0]

    async def keep(frame: object) -> None:
        frames.append(frame)
        now[0] += 1.0  # each frame "takes" a second on the injected clock

    states: list[DriverState] = []
    driver = serial_driver_for_model(
        "contec_cms50d_plus",
        simulator.path,
        keep,
        on_state=lambda status: states.append(status.state),
        no_data_timeout=1.0,
        sleep=quick_sleep,
        clock=lambda: now[0],
    )
    async with running(asyncio.create_task(simulator.run())):
        await eventually(lambda: simulator.pty.plugged, "the pty")
        async with running(asyncio.create_task(driver.run())):
            await eventually(lambda: len(frames) >= 12, "framed live data")
            await eventually(lambda: simulator.keepalives_received >= 1, "a keepalive")
    first = frames[0]
    assert isinstance(first, Cms50LiveFrame) and first.protocol is Cms50Protocol.FRAMED
    assert DriverState.MEASURING in states


def test_a_non_serial_model_has_no_serial_driver() -> None:
    async def ignore(_frame: object) -> None:
        return None

    with pytest.raises(UnknownDeviceModel, match="usb_otoscope"):
        serial_driver_for_model("usb_otoscope", "/dev/null", ignore)


async def test_absent_device_backs_off_exponentially(tmp_path: object) -> None:
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)
        if len(delays) >= 5:
            raise asyncio.CancelledError

    async def ignore(_frame: object) -> None:
        return None

    driver: SerialDriver[object] = SerialDriver(
        SerialByteLink("/nonexistent/ttyUSB9"),
        Cms50Framer,
        ignore,
        backoff=Backoff(initial=0.5, maximum=3.0),
        sleep=record,
    )
    with pytest.raises(asyncio.CancelledError):
        await driver.run()
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert driver.state is DriverState.LOST


async def test_opening_a_missing_path_says_which() -> None:
    with pytest.raises(DeviceLinkError, match="/nonexistent/ttyUSB9"):
        await SerialByteLink("/nonexistent/ttyUSB9").open()
