"""The whole agent on simulated devices: states, measurements on command, faults."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cabin_agent.agent import CabinAgent
from cabin_agent.config import AgentConfig
from cabin_agent.simulation import BleSimulation, SerialSimulation
from devices.simulators.ble_devices import SimulatedCuff
from hub import db
from hub.config import Settings
from hub.demo import DemoSeed
from hub.records.observations import Observation
from tests.conftest import csrf_from, login
from tests.support.live import LiveHub
from tests.support.scenario import agent_config as config
from tests.support.waiting import eventually


@contextlib.asynccontextmanager
async def running(agent: CabinAgent) -> AsyncIterator[None]:
    task = asyncio.create_task(agent.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def observations(settings: Settings) -> list[Observation]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        rows = list(await session.scalars(select(Observation).order_by(Observation.seq)))
    await engine.dispose()
    return rows


async def device_states(client: httpx.AsyncClient) -> dict[str, str]:
    [cabin] = (await client.get("/api/v1/cabines")).json()
    return {d["name"]: d["state"] for d in cabin["devices"]}


async def test_nurse_measures_blood_pressure_from_the_hub(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    agent = CabinAgent(config(live_hub, demo, tmp_path), simulate=True)
    async with running(agent), httpx.AsyncClient(base_url=live_hub.url) as client:
        await login(client, "infirmiere")
        await eventually(lambda: _all_ready(client))
        page = await client.get("/infirmier")
        response = await client.post(
            f"/api/v1/cabines/{demo.cabin_id}/commandes",
            json={"device": "Tensiomètre", "action": "measure"},
            headers={"X-CSRF-Token": csrf_from(page.text)},
            timeout=30,
        )
        assert response.json()["ok"] is True
        assert "tension lancée" in response.json()["message"]

        async def pressure_stored() -> bool:
            kinds = {o.kind for o in await observations(settings)}
            return {"blood_pressure_systolic", "pulse_rate"} <= kinds

        await eventually(pressure_stored)
        [cabin] = (await client.get("/api/v1/cabines")).json()
        cuff = next(d for d in cabin["devices"] if d["name"] == "Tensiomètre")
    rows = await observations(settings)
    systolic = [o for o in rows if o.kind == "blood_pressure_systolic"]
    # The cuff's card shows the pressure, not the pulse it gave with it.
    assert (cuff["last_kind"], cuff["last_value"], cuff["last_unit_display"]) == (
        "blood_pressure_systolic",
        systolic[0].value,
        "mmHg",
    )
    assert len(systolic) == 1 and 110 <= systolic[0].value <= 150
    assert systolic[0].device_name == "Tensiomètre" and systolic[0].device_serial == "SIM-0001"


async def _all_ready(client: httpx.AsyncClient) -> bool:
    states = await device_states(client)
    return set(states.values()) == {"ready"} and len(states) == 3


async def test_a_cuff_vanishing_mid_measurement_comes_back_with_its_reading(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    agent = CabinAgent(config(live_hub, demo, tmp_path), simulate=True)
    async with running(agent), httpx.AsyncClient(base_url=live_hub.url) as client:
        await login(client, "infirmiere")
        await eventually(lambda: _all_ready(client))
        assert agent.trolley is not None
        simulation = agent.trolley.simulations["Tensiomètre"]
        assert isinstance(simulation, BleSimulation)
        cuff = simulation.peripheral
        assert isinstance(cuff, SimulatedCuff)
        await cuff.measure(135, 85, 70, vanish_midway=True)
        await eventually(lambda: _state_is(client, "Tensiomètre", "lost"))
        await cuff.come_back()
        await eventually(lambda: _state_is(client, "Tensiomètre", "ready"))

        async def recovered() -> bool:
            return any(o.kind == "blood_pressure_systolic" for o in await observations(settings))

        await eventually(recovered)
        # A later reading is stored after anything the reconnection could have sent twice.
        await cuff.measure(122, 76, 64)

        async def next_stored() -> bool:
            systolic = [
                o for o in await observations(settings) if o.kind == "blood_pressure_systolic"
            ]
            return len(systolic) >= 2

        await eventually(next_stored, "the next reading stored")
    systolic = [
        o.value for o in await observations(settings) if o.kind == "blood_pressure_systolic"
    ]
    assert systolic == [135.0, 122.0]


async def _state_is(client: httpx.AsyncClient, name: str, state: str) -> bool:
    return (await device_states(client)).get(name) == state


async def test_an_unplugged_oximeter_is_lost_then_ready_again(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    agent = CabinAgent(config(live_hub, demo, tmp_path), simulate=True)
    async with running(agent), httpx.AsyncClient(base_url=live_hub.url) as client:
        await login(client, "infirmiere")
        await eventually(lambda: _all_ready(client))
        assert agent.trolley is not None
        simulation = agent.trolley.simulations["Oxymètre"]
        assert isinstance(simulation, SerialSimulation)
        await simulation.take()  # finger in: a reading a second

        async def spo2_stored() -> bool:
            return any(o.kind == "spo2" for o in await observations(settings))

        await eventually(spo2_stored)
        simulation.simulator.unplug()
        await eventually(lambda: _state_is(client, "Oxymètre", "lost"))
        simulation.simulator.replug()

        async def back() -> bool:
            return (await device_states(client)).get("Oxymètre") in ("ready", "measuring")

        await eventually(back)
    rows = [o for o in await observations(settings) if o.kind == "spo2"]
    assert all(90 <= o.value <= 100 for o in rows)
    stamps = [o.measured_at for o in rows]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert all(g >= 0.9 for g in gaps)  # sampled once a second, not 60 frames a second


@pytest.mark.parametrize("bad", ["nonin_df8"])
def test_simulation_refuses_a_model_without_simulator(tmp_path: Path, bad: str) -> None:
    from cabin_agent.simulation import SimulatedTrolley, SimulationUnavailable
    from cabin_agent.trolley import model_of

    cfg = AgentConfig.model_validate(
        {
            "hub": {"url": "http://127.0.0.1:1", "cabin_id": 1, "token": "cab_x"},
            "devices": [
                {"name": "Oxy", "kind": "pulse_oximeter", "model": bad, "transport": "serial"}
            ],
        }
    )

    async def scenario() -> None:
        trolley = SimulatedTrolley()
        with pytest.raises(
            SimulationUnavailable, match="no simulator for device model 'nonin_df8'"
        ):
            await trolley.add(cfg.devices[0], model_of(cfg.devices[0]), 0)

    asyncio.run(scenario())
