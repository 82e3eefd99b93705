"""``--simulate``: a simulator behind every configured device, speaking its real protocol.

Each model's simulator comes from the device registry (`DeviceModel.simulator`). BLE devices
measure when asked (the hub's "Mesurer", standing for the patient and the device's button:
`take_reading`); a serial oximeter streams for half a minute when asked (a finger in the
clip). BLE simulators share one emulated radio; serial ones each get a pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cabin_agent.config import DeviceSection
from devices.catalogue import DeviceModel, Transport
from devices.drivers.bleak_link import BleakFinder
from devices.simulators.bumble_backend import BumbleBleakClient, BumbleBleakScanner, EmulatedAir
from devices.simulators.serial_devices import SerialOximeterSimulator


class SimulationUnavailable(ValueError):
    """No simulator exists for this device model."""


@runtime_checkable
class OnDemandPeripheral(Protocol):
    """A simulated BLE device of `devices.simulators` that measures when asked."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def take_reading(self, rng: random.Random, seconds: float) -> str: ...


@dataclass
class BleSimulation:
    peripheral: OnDemandPeripheral
    reading_seconds: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    async def start(self) -> None:
        await self.peripheral.start()

    async def stop(self) -> None:
        await self.peripheral.stop()

    async def take(self) -> str:
        return self.peripheral.take_reading(self.rng, self.reading_seconds)


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
        made: object = None
        if model.simulator is not None and model.transport is Transport.BLE:
            made = model.simulator(
                self.air,
                address=f"F1:5E:00:00:00:{index + 1:02X}",
                serial_number=f"SIM-{index + 1:04d}",
            )
        elif model.simulator is not None and model.transport is Transport.SERIAL:
            made = model.simulator(seed=index)
        if isinstance(made, OnDemandPeripheral):
            simulation = BleSimulation(made, reading_seconds=self.reading_seconds)
        elif isinstance(made, SerialOximeterSimulator):
            simulation = SerialSimulation(made, reading_seconds=self.reading_seconds)
            self.tty_paths[section.name] = made.path
        elif model.transport in (Transport.AUDIO, Transport.VIDEO):
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
