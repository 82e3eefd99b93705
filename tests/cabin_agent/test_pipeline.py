"""The durable path: outbox → WebSocket → database, acknowledged, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import select

from cabin_agent import outbox as outbox_module
from cabin_agent.config import DeviceSection
from cabin_agent.connection import Backoff, HubLink
from cabin_agent.outbox import Outbox
from cabin_agent.trolley import DeviceRunner
from devices.catalogue import get_model
from devices.measurements import DeviceIdentity, Measurement, MeasurementKind, Unit
from hub import db
from hub.config import Settings
from hub.demo import DemoSeed
from hub.records.observations import Observation
from hub.wire import (
    Command,
    CommandAction,
    DeviceDescription,
    Hello,
    HelloAck,
    MeasurementBatch,
    MeasurementItem,
    WireMeasurement,
)
from tests.conftest import csrf_from, login
from tests.support.live import LiveHub
from tests.support.waiting import eventually

OXIMETER = DeviceIdentity(model="contec_cms50d_plus", serial="CMS-1", firmware="4.6")
DEVICES = (
    DeviceDescription(
        name="Oxymètre", kind="pulse_oximeter", model="contec_cms50d_plus", transport="serial"
    ),
    DeviceDescription(
        name="Tensiomètre", kind="blood_pressure_cuff", model="generic_gatt_cuff", transport="ble"
    ),
)


def spo2(value: float, at: dt.datetime | None = None) -> Measurement:
    return Measurement(
        kind=MeasurementKind.SPO2,
        value=value,
        unit=Unit.PERCENT,
        received_at=at or dt.datetime.now(dt.UTC),
        device=OXIMETER,
        loinc="59408-5",
    )


def link_for(hub: LiveHub, seed: DemoSeed, outbox: Outbox, **kwargs: object) -> HubLink:
    return HubLink(
        ws_url=hub.ws_url,
        cabin_id=seed.cabin_id,
        token=seed.cabin_token,
        agent_version="test",
        devices=DEVICES,
        heartbeat_seconds=0.2,
        backoff=Backoff(0.05, 0.2),
        outbox=outbox,
        batch_size=20,
        **kwargs,
    )  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(link: HubLink) -> AsyncIterator[None]:
    task = asyncio.create_task(link.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def stored(settings: Settings) -> list[tuple[int, float]]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        rows = (
            await session.execute(
                select(Observation.seq, Observation.value).order_by(Observation.seq)
            )
        ).all()
    await engine.dispose()
    return [(int(s), float(v)) for s, v in rows]


@pytest.fixture
def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite3")
    yield box  # type: ignore[misc]
    box.close()


async def test_measurements_reach_the_database_once_and_leave_the_outbox(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, outbox: Outbox
) -> None:
    for i in range(45):
        await outbox.add("Oxymètre", spo2(90 + i % 10))
    link = link_for(live_hub, demo, outbox)
    async with running(link):
        await eventually(lambda: outbox.counts() == (0, 0))
    rows = await stored(settings)
    assert [s for s, _ in rows] == list(range(1, 46))
    assert link.sent_batches >= 3  # batches of 20


async def test_hub_restart_while_measuring_loses_and_doubles_nothing(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, outbox: Outbox
) -> None:
    link = link_for(live_hub, demo, outbox)
    async with running(link):
        await asyncio.wait_for(link.online.wait(), 5)
        for _ in range(10):
            await outbox.add("Oxymètre", spo2(95))
            link.measurements_waiting()
        await live_hub.stop()
        for _ in range(10):  # measured while the hub is down
            await outbox.add("Oxymètre", spo2(96))
            link.measurements_waiting()
        await live_hub.start()
        await eventually(lambda: outbox.counts() == (0, 0), timeout=15)
    rows = await stored(settings)
    assert [s for s, _ in rows] == list(range(1, 21))


async def test_a_batch_stored_but_not_acknowledged_is_not_stored_twice(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, outbox: Outbox
) -> None:
    for _ in range(5):
        await outbox.add("Oxymètre", spo2(97))
    pending = await outbox.pending()
    # An agent sends its batch and dies before reading the acknowledgement...
    async with websockets.connect(
        live_hub.ws_url, additional_headers={"Authorization": f"Bearer {demo.cabin_token}"}
    ) as ws:
        await ws.send(Hello(cabin_id=demo.cabin_id, agent_version="1").model_dump_json())
        await ws.recv()
        await ws.send(
            MeasurementBatch(
                items=tuple(
                    MeasurementItem(seq=p.seq, device=p.device, measurement=p.measurement)
                    for p in pending
                )
            ).model_dump_json()
        )
        await ws.recv()  # the hub stored them; the agent never processes this ack
    assert len(await stored(settings)) == 5
    # ...and after its restart, it sends them again from its outbox.
    async with running(link_for(live_hub, demo, outbox)):
        await eventually(lambda: outbox.counts() == (0, 0))
    assert [s for s, _ in await stored(settings)] == [1, 2, 3, 4, 5]


async def test_a_reinstalled_agent_does_not_reuse_sequence_numbers(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, tmp_path: Path
) -> None:
    first = Outbox(tmp_path / "first.sqlite3")
    for _ in range(3):
        await first.add("Oxymètre", spo2(97))
    async with running(link_for(live_hub, demo, first)):
        await eventually(lambda: first.counts() == (0, 0))
    first.close()
    fresh = Outbox(tmp_path / "fresh.sqlite3")  # a new disk: the outbox starts empty
    link = link_for(live_hub, demo, fresh)
    async with running(link):
        await asyncio.wait_for(link.online.wait(), 5)
        await fresh.add("Oxymètre", spo2(92))
        link.measurements_waiting()
        await eventually(lambda: fresh.counts() == (0, 0))
    fresh.close()
    assert await stored(settings) == [(1, 97.0), (2, 97.0), (3, 97.0), (4, 92.0)]


async def test_an_invalid_measurement_is_refused_and_kept_aside(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, outbox: Outbox
) -> None:
    await outbox.add("Oxymètre", spo2(97))
    outbox._db.execute(  # corrupt it, as a buggy driver could
        """UPDATE measurements SET payload = '{"kind": "spo2"}'"""
    )
    await outbox.add("Oxymètre", spo2(98))
    async with running(link_for(live_hub, demo, outbox)):
        await eventually(lambda: outbox.counts() == (0, 1))
    assert await stored(settings) == [(2, 98.0)]


async def test_nurse_sees_device_states_and_last_values(
    live_hub: LiveHub, demo: DemoSeed, outbox: Outbox
) -> None:
    link = link_for(live_hub, demo, outbox)
    async with running(link):
        await asyncio.wait_for(link.online.wait(), 5)
        link.report_status("Oxymètre", "ready")
        link.report_status("Tensiomètre", "lost", battery_low=True)
        await outbox.add("Oxymètre", spo2(96))
        link.measurements_waiting()
        await eventually(lambda: outbox.counts() == (0, 0))
        async with httpx.AsyncClient(base_url=live_hub.url) as client:
            await login(client, "infirmiere")

            async def devices() -> dict[str, dict[str, object]]:
                [cabin] = (await client.get("/api/v1/cabines")).json()
                return {d["name"]: d for d in cabin["devices"]}

            await eventually(lambda: _has_state(devices, "Tensiomètre", "lost"))
            states = await devices()
    assert states["Oxymètre"]["state_label"] == "prêt"
    assert states["Oxymètre"]["last_value"] == 96.0 and states["Oxymètre"]["last_unit"] == "%"
    assert states["Tensiomètre"]["state_label"] == "perdu"
    assert states["Tensiomètre"]["battery_low"] is True


async def _has_state(devices: object, name: str, state: str) -> bool:
    return bool((await devices())[name]["state"] == state)  # type: ignore[operator]


async def test_a_command_reaches_the_agent_and_its_failure_comes_back(
    live_hub: LiveHub, demo: DemoSeed, outbox: Outbox
) -> None:
    seen: list[Command] = []

    async def handle(command: Command) -> tuple[bool, str]:
        seen.append(command)
        return False, "brassard non connecté"

    link = link_for(live_hub, demo, outbox, on_command=handle)
    async with running(link), httpx.AsyncClient(base_url=live_hub.url) as client:
        await asyncio.wait_for(link.online.wait(), 5)
        await login(client, "infirmiere")
        page = await client.get("/infirmier")
        response = await client.post(
            f"/api/v1/cabines/{demo.cabin_id}/commandes",
            json={"device": "Tensiomètre", "action": "measure"},
            headers={"X-CSRF-Token": csrf_from(page.text)},
        )
        assert response.status_code == 200
        assert response.json() == {"ok": False, "message": "brassard non connecté"}
        unknown = await client.post(
            f"/api/v1/cabines/{demo.cabin_id}/commandes",
            json={"device": "Grille-pain", "action": "measure"},
            headers={"X-CSRF-Token": csrf_from(page.text)},
        )
        assert unknown.status_code == 422
        assert "pas d'appareil « Grille-pain »" in unknown.json()["detail"]
    assert [(c.action, c.device) for c in seen] == [(CommandAction.MEASURE, "Tensiomètre")]


async def test_a_command_to_an_offline_cabin_says_so(
    live_hub: LiveHub, demo: DemoSeed, outbox: Outbox
) -> None:
    link = link_for(live_hub, demo, outbox)
    async with running(link):
        await asyncio.wait_for(link.online.wait(), 5)  # declares its devices
    async with httpx.AsyncClient(base_url=live_hub.url) as client:
        await login(client, "infirmiere")
        page = await client.get("/infirmier")
        response = await client.post(
            f"/api/v1/cabines/{demo.cabin_id}/commandes",
            json={"device": "Oxymètre", "action": "identify"},
            headers={"X-CSRF-Token": csrf_from(page.text)},
        )
    assert response.status_code == 409
    assert "n'est pas connectée" in response.json()["detail"]


def test_outbox_survives_reopening(tmp_path: Path) -> None:
    async def scenario() -> None:
        box = Outbox(tmp_path / "o.sqlite3")
        seqs = [await box.add("Oxymètre", spo2(97)) for _ in range(3)]
        await box.acknowledge(seqs[:1])
        box.close()
        again = Outbox(tmp_path / "o.sqlite3")
        assert [p.seq for p in await again.pending()] == seqs[1:]
        assert await again.add("Oxymètre", spo2(97)) == 4  # never reuses a number
        again.close()

    asyncio.run(scenario())


def test_a_reading_never_grows_the_outbox_log(tmp_path: Path) -> None:
    """Each reading's disk sync writes the log in place: it has its full size from the start
    and keeps it across checkpoints (a growing file's sync also writes its size and blocks'
    place: several writes per reading instead of one, each a wait on a busy cabin PC)."""

    async def scenario() -> None:
        box = Outbox(tmp_path / "o.sqlite3")
        log = tmp_path / "o.sqlite3-wal"
        size = log.stat().st_size
        for _ in range(400):  # past SQLite's automatic checkpoint, more than once
            await box.acknowledge(await box.add_all("Tensiomètre", _blood_pressure()))
        assert log.stat().st_size == size
        kept = await box.add("Oxymètre", spo2(97))
        box.close()
        again = Outbox(tmp_path / "o.sqlite3")
        assert [p.seq for p in await again.pending()] == [kept]
        again.close()

    asyncio.run(scenario())


def test_on_a_nearly_full_disk_the_outbox_leaves_the_space_to_readings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log is not given its size where that would take the last of the disk (a real full
    disk cannot be made here without privileges: the free space is what the system says)."""
    real = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        "cabin_agent.outbox.shutil.disk_usage", lambda _: real._replace(free=8 * 1024 * 1024)
    )

    async def scenario() -> None:
        box = Outbox(tmp_path / "o.sqlite3")
        log = tmp_path / "o.sqlite3-wal"
        assert not log.exists() or log.stat().st_size < 1024 * 1024
        assert await box.add_all("Tensiomètre", _blood_pressure()) == [1, 2, 3, 4]
        box.close()

    asyncio.run(scenario())


def test_an_acknowledged_reading_is_not_sent_again_after_the_agent_is_killed(
    tmp_path: Path,
) -> None:
    """The hub's acknowledgement of a blood pressure prunes its four values together, in one
    transaction not synced on its own; killed just after (the first connection never closed),
    the agent starts again with only what the hub has not stored, and what it stores next is
    synced to disk as before."""

    async def scenario() -> None:
        box = Outbox(tmp_path / "o.sqlite3")
        reading = await box.add_all("Tensiomètre", _blood_pressure())
        later = await box.add("Oxymètre", spo2(97))
        await box.acknowledge(reading)
        assert box._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL again
        restarted = Outbox(tmp_path / "o.sqlite3")  # `box` is left open, as by a SIGKILL
        assert [p.seq for p in await restarted.pending()] == [later]
        restarted.close()
        box.close()

    asyncio.run(scenario())


async def test_an_impossible_value_that_slipped_past_the_agent_is_refused_and_kept_aside(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, outbox: Outbox
) -> None:
    await outbox.add("Oxymètre", spo2(150))  # the outbox stores what it is given
    await outbox.add("Oxymètre", spo2(98))
    async with running(link_for(live_hub, demo, outbox)):
        await eventually(lambda: outbox.counts() == (0, 1))
    assert await stored(settings) == [(2, 98.0)]
    [reason] = outbox._db.execute(
        "SELECT rejected_reason FROM measurements WHERE seq = 1"
    ).fetchone()
    assert reason.startswith("implausible_value: ")


def test_an_outbox_numbered_beyond_the_wire_limit_comes_back_below_it(tmp_path: Path) -> None:
    """An older hub could store 9×10¹⁸ and send it back as the last sequence number."""

    async def scenario() -> None:
        box = Outbox(tmp_path / "o.sqlite3")
        await box.add("Oxymètre", spo2(97))  # 1, already stored by the hub
        await box.ensure_after(9 * 10**18)  # what the older hub said
        waiting = await box.add("Oxymètre", spo2(98))
        assert waiting == 9 * 10**18 + 1
        await box.ensure_after(1)  # what a hub says now
        assert [p.seq for p in await box.pending()] == [1, 2]
        assert await box.add("Oxymètre", spo2(96)) == 3
        box.close()

    asyncio.run(scenario())


async def test_an_outbox_written_before_the_typed_wire_is_sent_and_stored(
    live_hub: LiveHub, demo: DemoSeed, settings: Settings, outbox: Outbox
) -> None:
    """Rows an agent wrote before upgrading (``Measurement.to_dict``'s JSON) read as the wire's
    typed measurement, and the hub stores them like any other."""
    old_row = {
        "kind": "spo2",
        "value": 94,
        "unit": "%",
        "loinc": "59408-5",
        "device_time": None,
        "received_at": dt.datetime.now(dt.UTC).isoformat(),
        "device": {"model": "contec_cms50d_plus", "serial": "CMS-1", "firmware": "4.6"},
        "status": [],
    }
    outbox._db.execute(
        "INSERT INTO measurements (device, payload, created_at) VALUES (?, ?, ?)",
        ("Oxymètre", json.dumps(old_row), dt.datetime.now(dt.UTC).isoformat()),
    )
    [pending] = await outbox.pending()
    assert isinstance(pending.measurement, WireMeasurement)
    assert pending.measurement.to_measurement() == spo2(
        94, dt.datetime.fromisoformat(str(old_row["received_at"]))
    )
    async with running(link_for(live_hub, demo, outbox)):
        await eventually(lambda: outbox.counts() == (0, 0))
    assert await stored(settings) == [(1, 94.0)]


CUFF = DeviceIdentity(model="generic_gatt_cuff", serial="BP-1", firmware="1.0")


def _blood_pressure() -> list[Measurement]:
    at = dt.datetime.now(dt.UTC)
    return [
        Measurement(kind=kind, value=value, unit=unit, received_at=at, device=CUFF, loinc=loinc)
        for kind, value, unit, loinc in (
            (MeasurementKind.BLOOD_PRESSURE_SYSTOLIC, 128, Unit.MMHG, "8480-6"),
            (MeasurementKind.BLOOD_PRESSURE_DIASTOLIC, 82, Unit.MMHG, "8462-4"),
            (MeasurementKind.BLOOD_PRESSURE_MEAN, 97, Unit.MMHG, "8478-0"),
            (MeasurementKind.PULSE_RATE, 71, Unit.PER_MINUTE, "8867-4"),
        )
    ]


def _cuff_runner(outbox: Outbox, on_stored: Callable[[], None] = lambda: None) -> DeviceRunner:
    return DeviceRunner(
        section=DeviceSection(
            name="Tensiomètre",
            kind="blood_pressure_cuff",
            model="generic_gatt_cuff",
            transport="ble",
        ),
        model=get_model("generic_gatt_cuff"),
        outbox=outbox,
        on_status=lambda *_: None,
        on_stored=on_stored,
    )


def _disk_fills_on_diastolic(outbox: Outbox) -> None:
    """The disk fills up as a blood pressure's diastolic value is written (DROP TRIGGER full
    frees it)."""
    outbox._db.execute(
        "CREATE TRIGGER full BEFORE INSERT ON measurements WHEN NEW.payload LIKE '%diastolic%' "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )


async def test_a_blood_pressure_is_kept_whole_or_not_at_all(tmp_path: Path) -> None:
    """The values of one reading go to the outbox together, in one disk sync (so the last of a
    blood pressure's four values does not wait for three syncs in a row): a failure while
    writing them keeps none, never a systolic without its diastolic."""
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    stored: list[None] = []
    runner = _cuff_runner(outbox, on_stored=lambda: stored.append(None))
    _disk_fills_on_diastolic(outbox)
    with pytest.raises(sqlite3.DatabaseError, match="disk is full"):
        await runner._store(_blood_pressure())
    assert outbox.counts() == (0, 0) and not stored

    outbox._db.execute("DROP TRIGGER full")
    await runner._store(_blood_pressure())
    kinds = [p.measurement.kind for p in await outbox.pending()]  # type: ignore[union-attr]
    assert kinds == [m.kind for m in _blood_pressure()] and len(stored) == 1
    outbox.close()


async def test_a_record_of_the_cuff_is_kept_with_its_number_or_fetched_again(
    tmp_path: Path,
) -> None:
    """A BLE device's stored record and its record number reach the disk together: after a
    failed write the agent still has to fetch that record, after a stored one a restarted agent
    does not fetch it again (the number was written after the record, in a sync of its own: an
    agent stopped in between stored the blood pressure twice)."""
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    runner = _cuff_runner(outbox)
    await runner._store(_blood_pressure(), record=6)
    _disk_fills_on_diastolic(outbox)  # on the next record
    with pytest.raises(sqlite3.DatabaseError, match="disk is full"):
        await runner._store(_blood_pressure(), record=7)
    assert await outbox.cursor("Tensiomètre") == 6
    outbox._db.execute("DROP TRIGGER full")
    await runner._store(_blood_pressure(), record=7)
    outbox.close()

    restarted = Outbox(path)
    assert await restarted.cursor("Tensiomètre") == 7
    assert len(await restarted.pending()) == 8  # two blood pressures of four values each
    restarted.close()


@contextlib.asynccontextmanager
async def _linked_to_a_bare_hub(
    outbox: Outbox, kinds: list[str], until: int
) -> AsyncIterator[tuple[HubLink, asyncio.Event]]:
    """A link online with a hub that only says hello and notes, in `kinds`, the type of each
    measurements or device_status frame it reads; the event is set once it has read `until`."""
    enough = asyncio.Event()

    async def hub(ws: websockets.ServerConnection) -> None:
        Hello.model_validate_json(await ws.recv())
        ack = HelloAck(
            cabin_id=1,
            cabin_name="Cabine",
            site_name="Site",
            heartbeat_seconds=60,
            server_time=dt.datetime.now(dt.UTC),
        )
        await ws.send(ack.model_dump_json())
        with contextlib.suppress(websockets.ConnectionClosed):  # the agent stops at the end
            async for raw in ws:
                kind = json.loads(raw)["type"]
                if kind in ("measurements", "device_status"):
                    kinds.append(kind)
                if len(kinds) >= until:
                    enough.set()

    async with websockets.serve(hub, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        link = HubLink(
            ws_url=f"ws://127.0.0.1:{port}/agents/ws",
            cabin_id=1,
            token="token",
            agent_version="test",
            devices=DEVICES,
            heartbeat_seconds=60,
            backoff=Backoff(0.05, 0.2),
            outbox=outbox,
        )
        async with running(link):
            await asyncio.wait_for(link.online.wait(), 10)
            yield link, enough


async def test_a_result_goes_to_the_hub_before_the_state_change_that_came_with_it(
    outbox: Outbox,
) -> None:
    """A cuff says it is ready again just before its result: the result is sent first. The hub
    reads an agent's frames in turn and writes a state to its database before it reads the next
    one, so the result used to wait for that write."""
    assert await outbox.pending() == []  # the link has caught up: what waits is in memory
    received: list[str] = []
    async with _linked_to_a_bare_hub(outbox, received, until=2) as (link, both):
        # What the BLE driver does with a final result, in one turn of the loop.
        link.report_status("Tensiomètre", "ready")
        await outbox.add_all("Tensiomètre", _blood_pressure())
        link.measurements_waiting()
        await asyncio.wait_for(both.wait(), 10)
    assert received == ["measurements", "device_status"]


async def test_a_reading_leaves_for_the_hub_before_its_live_values_go_to_media(
    outbox: Outbox,
) -> None:
    """Handing a reading's live values to the media process (for the doctor's screen) is
    media's work: the link has sent the reading to the hub before the first is handed over."""
    assert await outbox.pending() == []
    received: list[str] = []
    async with _linked_to_a_bare_hub(outbox, received, until=1) as (link, sent):
        batches_sent_at_hand_over: list[int] = []
        runner = _cuff_runner(outbox, on_stored=link.measurements_waiting)
        runner.live = lambda values: batches_sent_at_hand_over.append(link.sent_batches)
        before = link.sent_batches
        await runner._store(_blood_pressure())
        await asyncio.wait_for(sent.wait(), 10)
        await eventually(lambda: len(batches_sent_at_hand_over) == 4)
    assert received == ["measurements"]
    assert batches_sent_at_hand_over == [before + 1] * 4  # systolic, diastolic, mean, pulse


async def test_a_reading_goes_to_the_link_while_the_disk_syncs_another(outbox: Outbox) -> None:
    """While the hub keeps up, what waits is in memory too: the hub link takes a reading just
    stored at once, even while the outbox's writer is in the middle of another reading's disk
    sync (it used to read the database back, in a thread, behind that sync)."""
    assert await outbox.pending() == []  # the link has caught up: nothing waits
    seq = await outbox.add("Oxymètre", spo2(97))
    syncing, release = threading.Event(), threading.Event()

    def another_reading_syncs() -> None:
        with outbox._lock:  # a writer holds it through its transaction and disk sync
            syncing.set()
            release.wait(60)

    writer = threading.Thread(target=another_reading_syncs)
    writer.start()
    try:
        assert await asyncio.to_thread(syncing.wait, 60)
        [pending] = await asyncio.wait_for(outbox.pending(), 10)
        assert pending.seq == seq and pending.measurement == WireMeasurement.from_measurement(
            spo2(97, pending.measurement.received_at)  # type: ignore[union-attr]
        )
    finally:
        release.set()
        await asyncio.to_thread(writer.join)


async def test_more_waiting_than_memory_holds_is_read_from_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub unreachable for long, the waiting measurements outgrow memory: they are read
    from the database, oldest first, and memory takes over again once the link catches up."""
    monkeypatch.setattr(outbox_module, "MEMORY_LIMIT", 3)
    box = Outbox(tmp_path / "outbox.sqlite3")
    assert await box.pending() == []
    seqs = [await box.add("Oxymètre", spo2(90 + i)) for i in range(5)]
    assert [p.seq for p in await box.pending(2, frozenset(seqs[:1]))] == seqs[1:3]
    await box.acknowledge(seqs[:3])
    assert [p.seq for p in await box.pending()] == seqs[3:]
    await box.reject(seqs[3], "implausible_value: test")
    later = await box.add("Oxymètre", spo2(99))
    assert [p.seq for p in await box.pending()] == [seqs[4], later]
    assert [p.seq for p in await box.pending(exclude=frozenset([later]))] == [seqs[4]]
    box.close()
    again = Outbox(tmp_path / "outbox.sqlite3")  # memory is not the record: the disk is
    assert [p.seq for p in await again.pending()] == [seqs[4], later]
    again.close()
