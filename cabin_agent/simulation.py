"""``--simulate``: a simulator behind every configured device, speaking its real protocol.

The cuff and the thermometer measure when asked (the hub's "Mesurer", standing for the nurse
pressing the device's button); an oximeter streams for half a minute when asked (a finger in
the clip). BLE simulators share one emulated radio; serial ones each get a pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from cabin_agent.config import DeviceSection
from devices.catalogue import DeviceModel
from devices.drivers.bleak_link import BleakFinder
from devices.serialproto.contec import Cms50Protocol
from devices.simulators.ble_devices import SimulatedCuff, SimulatedOximeter, SimulatedThermometer
from devices.simulators.ble_peripheral import SimulatedPeripheral
from devices.simulators.bumble_backend import BumbleBleakClient, BumbleBleakScanner, EmulatedAir
from devices.simulators.serial_devices import SerialModel, SerialOximeterSimulator

SERIAL_SIMULATORS = {
    "contec_cms50d_plus": (SerialModel.CONTEC_CMS50D_PLUS, Cms50Protocol.FRAMED),
    "contec_cms50d_plus_legacy": (SerialModel.CONTEC_CMS50D_PLUS, Cms50Protocol.LEGACY),
    "nonin_df2": (SerialModel.NONIN_DF2, Cms50Protocol.LEGACY),
}
BLE_SIMULATORS = {
    "generic_gatt_cuff": SimulatedCuff,
    "generic_gatt_thermometer": SimulatedThermometer,
    "generic_gatt_oximeter": SimulatedOximeter,
}


class SimulationUnavailable(ValueError):
    """No simulator exists for this device model."""


@dataclass
class BleSimulation:
    peripheral: SimulatedPeripheral
    reading_seconds: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self) -> None:
        await self.peripheral.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.peripheral.stop()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def take(self) -> str:
        p = self.peripheral
        if isinstance(p, SimulatedCuff):
            self._spawn(
                p.measure(
                    self.rng.randint(110, 150),
                    self.rng.randint(65, 95),
                    self.rng.randint(58, 95),
                    step_seconds=0.15,
                )
            )
            return "Mesure de la tension lancée : le résultat arrive dans quelques secondes."
        if isinstance(p, SimulatedThermometer):
            self._spawn(p.measure(round(self.rng.uniform(36.4, 38.6), 1)))
            return "Prise de température lancée."
        assert isinstance(p, SimulatedOximeter)
        p.start_streaming(self.rng.randint(94, 99), self.rng.randint(60, 95))

        async def stop_later() -> None:
            await asyncio.sleep(self.reading_seconds)
            await p.stop_streaming()

        self._spawn(stop_later())
        return f"Oxymètre en place : mesure continue pendant {self.reading_seconds:g} secondes."


@dataclass
class SerialSimulation:
    simulator: SerialOximeterSimulator
    reading_seconds: float = 30.0
    _run: asyncio.Task[None] | None = None
    _finger: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.simulator.finger_out = True
        self._run = asyncio.create_task(self.simulator.run())
        await asyncio.sleep(0)

    async def stop(self) -> None:
        for task in (self._finger, self._run):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def take(self) -> str:
        self.simulator.finger_out = False
        if self._finger is not None:
            self._finger.cancel()

        async def finger_out_later() -> None:
            await asyncio.sleep(self.reading_seconds)
            self.simulator.finger_out = True

        self._finger = asyncio.create_task(finger_out_later())
        return f"Doigt dans l'oxymètre : mesure continue pendant {self.reading_seconds:g} secondes."


@dataclass
class MediaSimulation:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def take(self) -> str:
        return "Source simulée."


@dataclass
class SimulatedTrolley:
    """The simulators of a trolley and what the drivers need to reach them."""

    air: EmulatedAir = field(default_factory=EmulatedAir)
    reading_seconds: float = 30.0
    simulations: dict[str, BleSimulation | SerialSimulation | MediaSimulation] = field(
        default_factory=dict
    )
    tty_paths: dict[str, str] = field(default_factory=dict)

    def finder(self) -> BleakFinder:
        return BleakFinder(
            client_backend=BumbleBleakClient,
            scanner_backend=BumbleBleakScanner,
            backend_kwargs={"air": self.air},
        )

    async def add(self, section: DeviceSection, model: DeviceModel, index: int) -> None:
        """Start the simulator of one device (inside the running event loop)."""
        simulation: BleSimulation | SerialSimulation | MediaSimulation
        if model.model_id in BLE_SIMULATORS:
            cls = BLE_SIMULATORS[model.model_id]
            simulation = BleSimulation(
                cls(
                    self.air,
                    address=f"F1:5E:00:00:00:{index + 1:02X}",
                    serial_number=f"SIM-{index + 1:04d}",
                )
            )
        elif model.model_id in SERIAL_SIMULATORS:
            serial_model, protocol = SERIAL_SIMULATORS[model.model_id]
            simulator = SerialOximeterSimulator(serial_model, contec_protocol=protocol, seed=index)
            simulation = SerialSimulation(simulator, reading_seconds=self.reading_seconds)
            self.tty_paths[section.name] = simulator.path
        elif model.transport.value in ("audio", "video"):
            simulation = MediaSimulation()
        else:
            raise SimulationUnavailable(
                f"no simulator for device model {model.model_id!r} ({section.name})"
            )
        await simulation.start()
        self.simulations[section.name] = simulation

    async def stop(self) -> None:
        for simulation in self.simulations.values():
            await simulation.stop()
