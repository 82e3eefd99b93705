"""The trolley: one runner per configured device, turning readings into durable measurements.

A runner owns its driver (BLE or serial, from ``devices``), reports state changes to the hub
link, writes every final reading to the outbox (continuous oximeter streams are sampled once
a second) and answers the hub's commands. With ``simulate``, each device is served by the
simulator of ``devices.simulators`` that speaks its real protocol (BLE peripherals on an
emulated controller, serial oximeters on pseudo-terminals), driven by the same drivers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cabin_agent.config import DeviceSection
from cabin_agent.outbox import Outbox
from devices.catalogue import DeviceModel, get_model
from devices.drivers.ble import BleDriver, BleReading, RecordCursor
from devices.drivers.ble_profiles import profile_for
from devices.drivers.bleak_link import BleakFinder
from devices.drivers.serial import serial_driver_for_model
from devices.errors import DeviceError
from devices.measurements import DeviceIdentity, Measurement, PlausibilityFilter, to_measurements
from devices.transports import DriverState, DriverStatus, GattLinkFinder
from hub.wire import Command, CommandAction

logger = logging.getLogger(__name__)

SAMPLE_SECONDS = 1.0  # continuous streams are stored once a second
PLETH_SCALE = 255.0  # pleth samples are sent to the browser in 0..1

StatusSink = Callable[[str, DriverStatus], None]
Stored = Callable[[], None]
LiveSink = Callable[[dict[str, str | float]], None]
PLETH_PER_SECOND = 25  # waveform samples sent live (the oximeter gives 60 or 75)


class Simulation(Protocol):
    """A device simulator the runner can ask to take a measurement (the patient's part)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def take(self) -> str: ...


@dataclass
class Sampler:
    """Keeps at most one reading per period from a continuous stream."""

    period: float = SAMPLE_SECONDS
    _last: float | None = None

    def admit(self, now: float) -> bool:
        if self._last is not None and now - self._last < self.period:
            return False
        self._last = now
        return True


@dataclass
class DeviceRunner:
    """Drives one device of the trolley until cancelled."""

    section: DeviceSection
    model: DeviceModel
    outbox: Outbox
    on_status: StatusSink
    on_stored: Stored
    simulation: Simulation | None = None
    live: LiveSink | None = None
    finder: GattLinkFinder | None = None
    tty_path: str = ""
    state: DriverState = DriverState.SEARCHING
    plausibility: PlausibilityFilter = field(default_factory=PlausibilityFilter)
    stored: int = 0
    _sampler: Sampler = field(default_factory=Sampler)
    _pleth_sampler: Sampler = field(default_factory=lambda: Sampler(1 / PLETH_PER_SECOND))
    _identity: DeviceIdentity | None = None

    @property
    def name(self) -> str:
        return self.section.name

    def _status(self, status: DriverStatus) -> None:
        self.state = status.state
        self.on_status(self.name, status)

    async def _store(self, measurements: list[Measurement], record: int | None = None) -> None:
        # One disk sync for the reading and the device's record number it came with.
        await self.outbox.add_all(self.name, measurements, record=record)
        self.stored += len(measurements)
        if not measurements:
            return
        self.on_stored()
        if self.live is not None:
            # The doctor's live values once the link, woken just above, has sent the reading
            # to the hub: handing them to the media process is media's work, and the
            # measurement path does not wait for it.
            asyncio.get_running_loop().call_soon(self._show_live, measurements)

    def _show_live(self, measurements: list[Measurement]) -> None:
        assert self.live is not None
        for measurement in measurements:
            self.live(
                {
                    "device": self.name,
                    "kind": str(measurement.kind),
                    "label": measurement.kind.info.label,
                    "value": measurement.value,
                    "unit": measurement.unit.display,
                }
            )

    async def run(self) -> None:
        if self.model.transport.value == "ble":
            await self._run_ble()
        elif self.model.transport.value == "serial":
            await self._run_serial()
        else:
            await self._run_media()

    async def _run_ble(self) -> None:
        profile = profile_for(self.model)
        finder = self.finder or BleakFinder(address=self.section.address or None)
        cursor = RecordCursor(await self.outbox.cursor(self.name))
        driver: BleDriver | None = None

        async def on_reading(reading: BleReading) -> None:
            if reading.intermediate and not self._sampler.admit(asyncio.get_running_loop().time()):
                return
            assert driver is not None
            device = driver.identity(self.model.model_id)
            try:
                measurements = to_measurements(
                    reading.value,
                    device=device,
                    received_at=reading.received_at,
                    plausibility=self.plausibility,
                )
            except (TypeError, DeviceError) as exc:
                logger.warning("%s: unusable reading (%s)", self.name, exc)
                return
            await self._store(measurements, record=reading.sequence)

        driver = BleDriver(profile, finder, on_reading, on_state=self._status, cursor=cursor)
        await driver.run()

    async def _run_serial(self) -> None:
        path = self.tty_path or self.section.address
        # A serial oximeter does not say its serial number; the port it is on is not one.
        device = DeviceIdentity(model=self.model.model_id)

        async def on_frame(frame: object) -> None:
            now = asyncio.get_running_loop().time()
            pleth = getattr(frame, "pleth", None)
            if self.live is not None and isinstance(pleth, int) and self._pleth_sampler.admit(now):
                self.live({"device": self.name, "pleth": pleth / PLETH_SCALE})
            if not self._sampler.admit(now):
                return
            try:
                measurements = to_measurements(
                    frame,
                    device=device,
                    received_at=dt.datetime.now(dt.UTC),
                    plausibility=self.plausibility,
                )
            except (TypeError, DeviceError) as exc:
                logger.warning("%s: unusable frame (%s)", self.name, exc)
                return
            await self._store(measurements)

        driver = serial_driver_for_model(self.model, path, on_frame, on_state=self._status)
        await driver.run()

    async def _run_media(self) -> None:
        """Audio/video sources are opened by the media session; here, only their presence."""
        while True:
            present = self.simulation is not None or await asyncio.to_thread(
                Path(self.section.address).exists
            )
            self._status(DriverStatus(DriverState.READY if present else DriverState.LOST))
            await asyncio.sleep(5)

    async def command(self, command: Command) -> tuple[bool, str]:
        """Carry out a command of the hub; returns (ok, message for the person who asked)."""
        if command.action is CommandAction.IDENTIFY:
            return True, f"{self.name} : {STATE_FR.get(self.state, self.state)}"
        if command.action is not CommandAction.MEASURE:
            return False, "Les flux audio et vidéo se pilotent depuis la téléconsultation."
        if not self.model.measurable:
            return False, f"{self.name} ne prend pas de mesure."
        if self.state in (DriverState.LOST, DriverState.SEARCHING, DriverState.CONNECTING):
            return False, f"{self.name} non connecté : vérifiez qu'il est allumé et à portée."
        if self.simulation is not None:
            return True, await self.simulation.take()
        if self.model.kind.value == "pulse_oximeter":
            return True, "L'oxymètre mesure en continu dès que le doigt est en place."
        return True, f"Lancez la mesure sur {self.name} : elle arrivera automatiquement."


STATE_FR = {
    DriverState.SEARCHING: "recherche",
    DriverState.CONNECTING: "connexion",
    DriverState.READY: "prêt",
    DriverState.MEASURING: "mesure en cours",
    DriverState.LOST: "perdu",
}


def model_of(section: DeviceSection) -> DeviceModel:
    """The catalogue model of a configured device (the config was validated against it)."""
    return get_model(section.model)


async def run_forever(runner: DeviceRunner, *, backoff_max: float = 30.0) -> None:
    """Run a device, restarting it with backoff if its driver ever fails."""
    delay = 1.0
    failing = False
    while True:
        try:
            await runner.run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            if not failing:
                logger.exception("%s stopped unexpectedly; restarting", runner.name)
            failing = True
            runner._status(DriverStatus(DriverState.LOST))
        await asyncio.sleep(delay)
        delay = min(delay * 2, backoff_max)


async def until_cancelled(*awaitables: Awaitable[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*awaitables)
