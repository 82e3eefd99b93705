"""`python -m devices simulate ...`: run device simulators from the command line.

python -m devices simulate serial --model nonin-df2 [--path /tmp/ttyOXI]
    Stream a serial oximeter on a pseudo-terminal; prints the tty path to open
    (e.g. as the cabin agent's device path) and runs until interrupted.
python -m devices simulate ble-demo --device generic_gatt_cuff
    BLE simulators live on an emulated controller inside one process (bumble, no
    BlueZ), so another process cannot reach them; this runs a simulator and the real
    driver together in-process and prints what the driver decodes, as JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Sequence
from typing import Protocol, runtime_checkable

from devices.catalogue import CATALOGUE, Transport
from devices.cli_fr import FrenchArgumentParser
from devices.serialproto.contec import Cms50Protocol
from devices.simulators.serial_devices import SerialModel, SerialOximeterSimulator

EXIT_USAGE = 2
# The registry's BLE models that have a simulator.
_BLE_SIMULATED = sorted(
    m.model_id
    for m in CATALOGUE.values()
    if m.transport is Transport.BLE and m.simulator is not None
)


@runtime_checkable
class _Measures(Protocol):
    """A BLE simulator that takes a final measurement with its default values."""

    def measure(self) -> Awaitable[int]: ...


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `simulate` sub-commands and their options to `parser`."""
    commands = parser.add_subparsers(
        dest="simulator", required=True, metavar="SIMULATEUR", title="simulateurs"
    )
    serial = commands.add_parser(
        "serial",
        help="un oxymètre série sur un pseudo-terminal (affiche le chemin de son terminal)",
    )
    serial.add_argument(
        "--model",
        choices=[m.value for m in SerialModel],
        default=SerialModel.CONTEC_CMS50D_PLUS.value,
        help="modèle simulé (par défaut : %(default)s)",
    )
    serial.add_argument(
        "--protocol",
        choices=[p.value for p in Cms50Protocol],
        default=Cms50Protocol.LEGACY.value,
        help="trames Contec : legacy émet de lui-même, framed attend l'ordre de "
        "démarrage (par défaut : %(default)s)",
    )
    serial.add_argument("--path", help="chemin fixe du terminal (par défaut : un temporaire)")
    serial.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDES",
        help="s'arrêter après ce nombre de secondes (par défaut : jusqu'à Ctrl-C)",
    )
    serial.add_argument(
        "--finger-out-every",
        type=float,
        default=None,
        metavar="SECONDES",
        help="retirer le doigt 5 s toutes les SECONDES",
    )
    serial.add_argument(
        "--unplug-every",
        type=float,
        default=None,
        metavar="SECONDES",
        help="débrancher 3 s toutes les SECONDES",
    )
    demo = commands.add_parser(
        "ble-demo",
        help="un simulateur BLE et le vrai pilote dans un même processus (les simulateurs BLE "
        "tournent sur un contrôleur émulé, injoignable depuis un autre processus)",
    )
    demo.add_argument(
        "--device",
        choices=_BLE_SIMULATED,
        default="generic_gatt_cuff",
        help="un modèle BLE du registre des appareils",
    )


def _parse(args: argparse.Namespace | Sequence[str]) -> argparse.Namespace:
    if isinstance(args, argparse.Namespace):
        return args
    parser = FrenchArgumentParser(
        prog="python -m devices simulate",
        description="Simulateurs d'appareils, parlant le vrai protocole de chaque modèle.",
    )
    add_arguments(parser)
    return parser.parse_args(list(args))


def run(args: argparse.Namespace | Sequence[str]) -> int:
    """Run the simulator the arguments name; return the process exit status."""
    options = _parse(args)
    try:
        if options.simulator == "serial":
            return asyncio.run(_serial(options))
        return asyncio.run(_ble_demo(options.device))
    except KeyboardInterrupt:
        return 0


async def _serial(options: argparse.Namespace) -> int:
    simulator = SerialOximeterSimulator(
        SerialModel(options.model),
        path=options.path,
        contec_protocol=Cms50Protocol(options.protocol),
    )
    task = asyncio.create_task(simulator.run())
    await asyncio.sleep(0)
    print(simulator.path, flush=True)
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        while options.duration is None or loop.time() - start < options.duration:
            await asyncio.sleep(0.5)
            elapsed = loop.time() - start
            if options.finger_out_every:
                simulator.finger_out = elapsed % options.finger_out_every > (
                    options.finger_out_every - 5
                )
            if options.unplug_every:
                should_be_out = elapsed % options.unplug_every > options.unplug_every - 3
                if should_be_out and simulator.pty.plugged:
                    simulator.unplug()
                elif not should_be_out and not simulator.pty.plugged:
                    simulator.replug()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return 0


async def _ble_demo(device: str) -> int:
    # Imported here: bumble and bleak are only needed for this sub-command.
    from devices.cli import to_jsonable
    from devices.drivers.ble import BleDriver, BleReading
    from devices.drivers.ble_profiles import profile_for
    from devices.drivers.bleak_link import BleakFinder
    from devices.simulators.ble_peripheral import SimulatedPeripheral
    from devices.simulators.bumble_backend import (
        BumbleBleakClient,
        BumbleBleakScanner,
        EmulatedAir,
    )
    from devices.transports import DriverState, DriverStatus

    air = EmulatedAir()
    model = CATALOGUE[device]
    assert model.simulator is not None
    simulator = model.simulator(air)
    assert isinstance(simulator, SimulatedPeripheral) and isinstance(simulator, _Measures)
    profile = profile_for(model)
    await simulator.start()
    ready = asyncio.Event()
    done = asyncio.Event()

    async def on_reading(reading: BleReading) -> None:
        print(
            json.dumps(
                {
                    "intermediate": reading.intermediate,
                    "stored": reading.stored,
                    "value": to_jsonable(reading.value),
                }
            ),
            flush=True,
        )
        if not reading.intermediate:
            done.set()

    def on_state(status: DriverStatus) -> None:
        print(json.dumps({"state": str(status.state)}), file=sys.stderr, flush=True)
        if status.state is DriverState.READY:
            ready.set()

    finder = BleakFinder(
        client_backend=BumbleBleakClient,
        scanner_backend=BumbleBleakScanner,
        backend_kwargs={"air": air},
    )
    driver = BleDriver(profile, finder, on_reading, on_state=on_state)
    task = asyncio.create_task(driver.run())
    try:
        async with asyncio.timeout(20):
            await ready.wait()
            await simulator.measure()
            await done.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await simulator.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1:]))
