"""The consoles' event stream carries the cabins' news: a measurement stored, a cabin online,
offline or a device changing state — each only to those who may see it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from devices.measurements import DeviceIdentity, Measurement, MeasurementKind, Unit
from hub.config import Settings
from hub.events import Event, LocalEventBus
from hub.wire import (
    WIRE_VERSION,
    DeviceDescription,
    DeviceStatus,
    Hello,
    MeasurementAck,
    WireMeasurement,
    parse_hub_message,
)
from tests.conftest import login
from tests.support.factories import Cpts
from tests.support.live import LiveHub
from tests.support.scenario import booking_now

DEVICES = (
    DeviceDescription(
        name="Oxymètre", kind="pulse_oximeter", model="contec_cms50d_plus", transport="serial"
    ),
)

Received = list[tuple[str, dict[str, object]]]


class Listener:
    """One member of staff's event stream, read in the background until the cabin goes
    offline (the last thing each test makes happen; events arrive in publication order)."""

    def __init__(self, hub: LiveHub, username: str) -> None:
        self.hub, self.username = hub, username
        self.events: Received = []
        self.opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _listen(self) -> None:
        async with httpx.AsyncClient(base_url=self.hub.url, timeout=20) as client:
            await login(client, self.username)
            async with client.stream("GET", "/api/v1/evenements") as stream:
                kind = ""
                async for line in stream.aiter_lines():
                    if line.startswith(": connecté"):
                        self.opened.set()
                    elif line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        data = json.loads(line.removeprefix("data: "))
                        self.events.append((kind, data))
                        if kind == "cabin.status" and data["online"] is False:
                            return

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self.opened.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        if exc[0] is not None:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, 10)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


@contextlib.asynccontextmanager
async def agent(hub: LiveHub, seed: Cpts) -> AsyncIterator[ClientConnection]:
    """A raw agent past its hello; closing it takes the cabin offline."""
    async with websockets.connect(
        hub.ws_url, additional_headers={"Authorization": f"Bearer {seed.cabin_token}"}
    ) as ws:
        await ws.send(
            Hello(cabin_id=seed.cabin_id, agent_version="1", devices=DEVICES).model_dump_json()
        )
        await asyncio.wait_for(ws.recv(), 5)
        yield ws


def spo2(value: float) -> dict[str, object]:
    m = Measurement(
        MeasurementKind.SPO2,
        value,
        Unit.PERCENT,
        dt.datetime.now(dt.UTC),
        DeviceIdentity("contec_cms50d_plus", "CMS-1"),
    )
    return WireMeasurement.from_measurement(m).model_dump(mode="json")


async def send_batch(ws: ClientConnection, *items: tuple[int, object]) -> MeasurementAck:
    frame = {
        "v": WIRE_VERSION,
        "type": "measurements",
        "items": [{"seq": seq, "device": "Oxymètre", "measurement": m} for seq, m in items],
    }
    await ws.send(json.dumps(frame))
    ack = parse_hub_message(await asyncio.wait_for(ws.recv(), 5))
    assert isinstance(ack, MeasurementAck)
    return ack


async def test_a_stored_measurement_reaches_the_sites_clinicians_only(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)
    async with (
        Listener(live_hub, "infirmiere") as nurse,
        Listener(live_hub, "medecin") as doctor,
        Listener(live_hub, "secretariat") as secretary,
        Listener(live_hub, "coordination") as coordinator,
        agent(live_hub, cpts) as ws,
    ):
        ack = await send_batch(ws, (1, spo2(97)), (2, {"kind": "spo2"}), (3, spo2(99)))
        assert ack.seqs == (1, 3) and [r.seq for r in ack.rejected] == [2]
        await send_batch(ws, (1, spo2(97)))  # a retry: acknowledged, not news

    for clinician in (nurse, doctor):
        stored = [d for k, d in clinician.events if k == "observation.stored"]
        assert [(d["seq"], d["value"], d["label"]) for d in stored] == [
            (1, 97.0, "Saturation en oxygène (SpO2)"),
            (3, 99.0, "Saturation en oxygène (SpO2)"),
        ]
        assert {d["booking_id"] for d in stored} == {booking_id}
        assert {(d["device"], d["unit_display"], d["cabin_id"]) for d in stored} == {
            ("Oxymètre", "%", cpts.cabin_id)
        }
    # Staff who may not see a consultation's data learn the cabin's status, not the values.
    for staff in (secretary, coordinator):
        assert "observation.stored" not in staff.kinds()
        assert staff.kinds()[0] == staff.kinds()[-1] == "cabin.status"
        assert not any("value" in json.dumps(d) for _, d in staff.events)


async def test_the_bus_gives_each_subscriber_only_the_events_it_may_see() -> None:
    """Per permission, the sites a subscriber reaches: a site's clinician, its secretary, and
    a clinician of another site."""
    bus = LocalEventBus()

    async def scenario() -> dict[str, list[str]]:
        reaches = {
            "clinician": {"signed_in": frozenset({1}), "consultation_data": frozenset({1})},
            "secretary": {"signed_in": frozenset({1}), "consultation_data": frozenset()},
            "elsewhere": {"signed_in": frozenset({2}), "consultation_data": frozenset({2})},
        }
        async with contextlib.AsyncExitStack() as stack:
            queues = {
                who: await stack.enter_async_context(bus.subscribe(reach))
                for who, reach in reaches.items()
            }
            bus.publish(Event(site_id=1, kind="cabin.status", data={}))
            bus.publish(
                Event(site_id=1, kind="observation.stored", data={}, permission="consultation_data")
            )
            bus.publish(Event(site_id=2, kind="consultation.ready", data={}))
            return {
                who: [q.get_nowait().kind for _ in range(q.qsize())] for who, q in queues.items()
            }

    assert await scenario() == {
        "clinician": ["cabin.status", "observation.stored"],
        "secretary": ["cabin.status"],
        "elsewhere": ["consultation.ready"],
    }


async def test_the_trolley_panel_hears_online_device_state_and_offline(
    live_hub: LiveHub, cpts: Cpts
) -> None:
    async with Listener(live_hub, "infirmiere") as nurse, agent(live_hub, cpts) as ws:
        await ws.send(DeviceStatus(device="Oxymètre", state="measuring").model_dump_json())
        # the next frame is served after the status: a heartbeat round trip orders them
        await ws.send(
            json.dumps({"v": 2, "type": "heartbeat", "seq": 1, "sent_at": "2026-12-05T08:00:00Z"})
        )
        await asyncio.wait_for(ws.recv(), 5)
    statuses = [d for k, d in nurse.events if k == "cabin.status"]
    hello, measuring, heartbeat, offline = statuses
    assert hello["online"] is True and hello["status_label"] == "en ligne"
    assert [d["name"] for d in hello["devices"]] == ["Oxymètre"]  # type: ignore[index]
    assert measuring["devices"] == [
        {
            "name": "Oxymètre",
            "state": "measuring",
            "state_label": "mesure en cours",
            "battery_low": None,
        }
    ]
    assert "devices" not in heartbeat and heartbeat["last_seen_at"]
    assert offline["online"] is False and offline["status_label"] == "hors ligne"
    assert offline["devices"] == [
        {
            "name": "Oxymètre",
            "state": "lost",
            "state_label": "cabine hors ligne",
            "battery_low": None,
        }
    ]


async def test_a_devices_last_value_shows_only_to_the_sites_clinicians(
    live_hub: LiveHub, cpts: Cpts
) -> None:
    """The trolley panel: a device's state for every member of staff of the site, its last
    value (health data) only for those who may see the consultations' measurements."""
    async with agent(live_hub, cpts) as ws:
        await send_batch(ws, (1, spo2(93)))
    seen: dict[str, tuple[object, bool]] = {}
    for username, home in (
        ("infirmiere", "/infirmier"),
        ("secretariat", "/secretariat"),
        ("coordination", "/coordination"),
    ):
        async with httpx.AsyncClient(base_url=live_hub.url) as client:
            await login(client, username)
            cabins = (await client.get("/api/v1/cabines")).json()
            [oximeter] = [d for c in cabins if c["id"] == cpts.cabin_id for d in c["devices"]]
            page = (await client.get(home)).text
            assert 'data-device="Oxymètre"' in page
            seen[username] = (oximeter["last_value"], "93 % ·" in page)
    assert seen == {
        "infirmiere": (93.0, True),
        "secretariat": (None, False),
        "coordination": (None, False),
    }
