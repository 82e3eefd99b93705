"""The cabin agent: the hub link, the durable outbox and one runner per device, supervised."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from cabin_agent import __version__
from cabin_agent.config import AgentConfig
from cabin_agent.connection import AuthRefused, Backoff, HubLink
from cabin_agent.media_boundary import IsolatedMedia
from cabin_agent.outbox import Outbox
from cabin_agent.simulation import SimulatedTrolley
from cabin_agent.trolley import DeviceRunner, model_of, run_forever
from devices.transports import DriverStatus
from hub.wire import Command, DeviceDescription

logger = logging.getLogger(__name__)


class CabinAgent:
    """Runs a trolley for as long as ``run`` runs; ``AuthRefused`` stops everything."""

    def __init__(self, config: AgentConfig, *, simulate: bool = False) -> None:
        self.config = config
        self.simulate = simulate
        data_dir = Path(config.agent.data_dir)
        #: Media runs in its own process (`cabin_agent.media_boundary`), started on demand.
        self.media = IsolatedMedia(config, simulate=simulate)
        self.outbox = Outbox(data_dir / f"outbox-cabin-{config.hub.cabin_id}.sqlite3")
        self.link = HubLink(
            ws_url=config.ws_url,
            cabin_id=config.hub.cabin_id,
            token=config.hub.resolved_token(),
            agent_version=__version__,
            devices=tuple(
                DeviceDescription(name=d.name, kind=d.kind, model=d.model, transport=d.transport)
                for d in config.devices
            ),
            heartbeat_seconds=config.agent.heartbeat_seconds,
            backoff=Backoff(
                initial=config.agent.backoff_initial_seconds,
                maximum=config.agent.backoff_max_seconds,
            ),
            outbox=self.outbox,
            on_command=self.command,
            media=self.media,
        )
        self.trolley = (
            SimulatedTrolley(reading_seconds=config.agent.simulated_reading_seconds)
            if simulate
            else None
        )
        self.runners: dict[str, DeviceRunner] = {}

    def _live(self, values: dict[str, str | float]) -> None:
        """Live values for the doctor's screen, handed to the media process without waiting."""
        self.media.send_vitals(values)

    def _status(self, name: str, status: DriverStatus) -> None:
        self.link.report_status(name, status.state.value, battery_low=status.battery_low)

    async def _build_runners(self) -> None:
        for index, section in enumerate(self.config.devices):
            model = model_of(section)
            runner = DeviceRunner(
                section=section,
                model=model,
                outbox=self.outbox,
                on_status=self._status,
                on_stored=self.link.measurements_waiting,
                live=self._live,
            )
            if self.trolley is not None:
                await self.trolley.add(section, model, index)
                runner.simulation = self.trolley.simulations[section.name]
                runner.tty_path = self.trolley.tty_paths.get(section.name, "")
                if model.transport.value == "ble":
                    runner.finder = self.trolley.finder()
            self.runners[section.name] = runner

    async def command(self, command: Command) -> tuple[bool, str]:
        runner = self.runners.get(command.device)
        if runner is None:
            return False, f"Appareil « {command.device} » inconnu sur cette cabine."
        return await runner.command(command)

    async def run(self) -> None:
        try:
            await self._build_runners()
            async with asyncio.TaskGroup() as group:
                for runner in self.runners.values():
                    group.create_task(run_forever(runner), name=f"device-{runner.name}")
                await self.link.run()  # returns only by raising (AuthRefused, cancellation)
        except BaseExceptionGroup as errors:
            refused = [e for e in errors.exceptions if isinstance(e, AuthRefused)]
            if refused:
                raise refused[0] from None
            raise
        finally:
            await self.media.close_all()
            if self.trolley is not None:
                await self.trolley.stop()
            self.outbox.close()
