"""The weight scale end to end: its simulator on the emulated radio → the agent (--simulate)
→ the hub's stored observation → the nurse's trolley, the doctor's console, the report."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from sqlalchemy import select

from cabin_agent.agent import CabinAgent
from cabin_agent.config import AgentConfig
from hub import db
from hub.config import Settings
from hub.demo import DemoSeed
from hub.records.observations import Observation
from hub.reports.gather import session_measurements
from hub.reports.pdf import render_report_pdf
from tests.conftest import csrf_from, login, text
from tests.support.live import LiveHub
from tests.support.reports import pdf_pages, sample_facts
from tests.support.scenario import agent_config, booking_now, in_consultation
from tests.support.waiting import eventually

SCALE = "Pèse-personne"


@contextlib.asynccontextmanager
async def running(agent: CabinAgent) -> AsyncIterator[None]:
    task = asyncio.create_task(agent.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def with_scale(config: AgentConfig) -> AgentConfig:
    """The test trolley plus a GATT weight scale."""
    data = config.model_dump(mode="json")
    data["hub"]["token"] = config.hub.resolved_token()
    data["devices"].append(
        {
            "name": SCALE,
            "kind": "weight_scale",
            "model": "generic_gatt_weight_scale",
            "transport": "ble",
        }
    )
    return AgentConfig.model_validate(data)


def words(page: httpx.Response) -> str:
    """The page's visible words, one space apart."""
    return " ".join(re.sub(r"<[^>]+>", " ", text(page)).split())


async def weights(settings: Settings) -> list[Observation]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        rows = list(
            await session.scalars(select(Observation).where(Observation.kind == "body_weight"))
        )
    await engine.dispose()
    return rows


async def scale_state(client: httpx.AsyncClient) -> str:
    [cabin] = (await client.get("/api/v1/cabines")).json()
    return next((d["state"] for d in cabin["devices"] if d["name"] == SCALE), "")


async def test_the_nurse_weighs_and_the_doctor_and_the_report_read_it_in_kg(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    agent = CabinAgent(with_scale(agent_config(live_hub, demo, tmp_path)), simulate=True)
    async with running(agent), httpx.AsyncClient(base_url=live_hub.url) as client:
        await login(client, "infirmiere")

        async def ready() -> bool:
            return await scale_state(client) == "ready"

        await eventually(ready, timeout=30)
        page = await client.get("/infirmier")
        scale_item = re.search(rf'<li data-device="{SCALE}">(.*?)</li>', page.text, re.S)
        assert scale_item is not None and "Mesurer" in scale_item.group(1)
        answers: list[dict[str, object]] = []

        async def measure() -> bool:
            """Press "Mesurer" (again if the emulated link was just dropping, as a nurse would)."""
            response = await client.post(
                f"/api/v1/cabines/{demo.cabin_id}/commandes",
                json={"device": SCALE, "action": "measure"},
                headers={"X-CSRF-Token": csrf_from(page.text)},
                timeout=30,
            )
            answers.append(response.json())
            return response.json()["ok"] is True

        await eventually(measure, timeout=30)
        assert answers[-1]["message"] == "Pesée lancée : le poids arrive dans quelques secondes."

        async def weighed() -> bool:
            return bool(await weights(settings))

        await eventually(weighed, timeout=30)
        [cabin] = (await client.get("/api/v1/cabines")).json()
        [scale] = [d for d in cabin["devices"] if d["name"] == SCALE]
        assert scale["last_unit"] == "kg" and 50 <= scale["last_value"] <= 100

        client.cookies.clear()
        await login(client, "medecin")
        console = words(await client.get(f"/medecin/consultations/{cid}"))
        vitals = (await client.get(f"/api/v1/consultations/{cid}/mesures")).json()

    [weight] = await weights(settings)
    assert (weight.unit, weight.loinc, weight.booking_id) == ("kg", "29463-7", booking_id)
    assert weight.device_name == SCALE and 50 <= weight.value <= 100
    assert f"Poids {weight.value:g} kg {SCALE}" in console
    assert [(v["label"], v["value"], v["unit_display"]) for v in vitals] == [
        ("Poids", weight.value, "kg")
    ]
    [row] = session_measurements([weight])
    assert (row.label, row.unit, row.loinc) == ("Poids", "kg", "29463-7")
    report = " ".join(pdf_pages(render_report_pdf(sample_facts(measurements=(row,)))))
    assert f"Poids {weight.value:g}".replace(".", ",") + " kg" in report
