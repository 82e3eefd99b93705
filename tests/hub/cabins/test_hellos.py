"""Agents saying hello together (a territory reconnecting after a restart) are written
together: a few statements for the whole batch, each cabin with its own audit event, devices
and last sequence number."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event, select

from devices.measurements import DeviceIdentity, Measurement, MeasurementKind, Unit
from hub.audit.models import AuditEvent
from hub.cabins import hellos
from hub.cabins.presence import CabinDevice
from hub.config import Settings
from hub.context import HubContext
from hub.identity.models import Cabin, Site
from hub.records.observations import store_measurements
from hub.wire import DeviceDescription, MeasurementItem, WireMeasurement
from tests.support import factories
from tests.support.factories import CLOS_MORTIER, Cpts, session_for

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
OXIMETER = DeviceDescription(name="Oxymètre", kind="pulse_oximeter", model="contec-cms50d-plus")
SCALE = DeviceDescription(name="Balance", kind="weight_scale", model="a&d-uc-352ble")


def _reading(seq: int) -> MeasurementItem:
    reading = Measurement(
        MeasurementKind.SPO2,
        97.0,
        Unit.PERCENT,
        NOW - dt.timedelta(minutes=seq),
        DeviceIdentity("contec-cms50d-plus"),
    )
    return MeasurementItem(
        seq=seq, device=OXIMETER.name, measurement=WireMeasurement.from_measurement(reading)
    )


async def test_agents_saying_hello_together_are_written_in_a_few_statements_each_its_own(
    app: FastAPI, settings: Settings, cpts: Cpts
) -> None:
    ctx: HubContext = app.state.hub
    batches: hellos.Batches = app.state.batches
    site_id = cpts.site_ids[CLOS_MORTIER]
    async with session_for(settings) as session:
        site = await session.get_one(Site, site_id)
        cabins = [
            (await factories.cabin(session, site=site, name=f"Chariot {i}"))[0] for i in range(12)
        ]
        ids = [cabin.id for cabin in cabins]
        for i, cabin_id in enumerate(ids[:6]):  # half of them measured before (seq i + 1)
            await store_measurements(
                session=session,
                cabin_id=cabin_id,
                site_id=site_id,
                items=[_reading(seq) for seq in range(1, i + 2)],
                now=NOW,
            )
        session.add(CabinDevice(cabin_id=ids[0], name="Tensiomètre", kind="blood_pressure"))
        await session.commit()

    def hellos_of_all(version: str) -> list[hellos.HelloIn]:
        return [
            hellos.HelloIn(
                cabin_id,
                site_id,
                f"{version}.{i}",
                (OXIMETER, SCALE) if i % 2 else (OXIMETER,),
                "192.0.2.7",
                NOW,
            )
            for i, cabin_id in enumerate(ids)
        ]

    async def together(batch: list[hellos.HelloIn]) -> tuple[list[hellos.HelloOut], list[str]]:
        statements: list[str] = []

        def count(*args: Any) -> None:
            if not args[2].startswith(("BEGIN", "COMMIT")):
                statements.append(args[2])

        event.listen(ctx.engine.sync_engine, "before_cursor_execute", count)
        try:
            done = await asyncio.gather(*(batches.hellos.submit(hello) for hello in batch))
        finally:
            event.remove(ctx.engine.sync_engine, "before_cursor_execute", count)
        return list(done), statements

    # First connections: audit events, cabins' rows, devices read, the device no longer on
    # the trolley deleted, the new ones inserted and read back, last sequence numbers.
    done, statements = await together(hellos_of_all("1"))
    assert len(statements) == 7, statements
    # The same trolleys reconnecting (a hub restart): four statements for the twelve.
    again, statements = await together(hellos_of_all("2"))
    assert len(statements) == 4, statements
    assert [[d.id for d in out.devices] for out in again] == [
        [d.id for d in out.devices] for out in done
    ]

    assert [out.last_seq for out in done] == [i + 1 for i in range(6)] + [0] * 6
    for i, out in enumerate(done):
        names = [device.name for device in out.devices]
        assert names == (["Oxymètre", "Balance"] if i % 2 else ["Oxymètre"])
    async with session_for(settings) as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "agent.connected"))
        ).all()
        assert sorted((e.actor_id, e.detail, e.ip, e.site_id) for e in events) == sorted(
            (cabin_id, f"agent {v}.{i}", "192.0.2.7", site_id)
            for v in "12"
            for i, cabin_id in enumerate(ids)
        )
        rows = {c.id: c for c in await session.scalars(select(Cabin).where(Cabin.id.in_(ids)))}
        assert all(rows[cid].connected and rows[cid].last_seen_at == NOW for cid in ids)
        assert [rows[cid].agent_version for cid in ids] == [f"2.{i}" for i in range(12)]
        left = await session.scalars(select(CabinDevice.name).where(CabinDevice.cabin_id == ids[0]))
        assert list(left) == ["Oxymètre"]  # the trolley as the agent describes it now
