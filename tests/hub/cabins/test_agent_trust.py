"""What the hub trusts of a cabin agent: a revoked token ends the live link at once, every
measurement is re-validated, and a malformed frame is a clean close, never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import websockets
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection, serve

from cabin_agent.connection import AuthRefused, Backoff, HubLink, LinkState
from devices.measurements import (
    KINDS,
    PLAUSIBLE_LIMITS,
    DeviceIdentity,
    Measurement,
    MeasurementKind,
    PlausibilityFilter,
    Unit,
)
from hub import db
from hub.config import Settings
from hub.identity import service
from hub.records.observations import Observation, store_measurements
from hub.wire import (
    CLOSE_BAD_MESSAGE,
    CLOSE_UNAUTHORIZED,
    WIRE_VERSION,
    DeviceDescription,
    Heartbeat,
    Hello,
    HelloAck,
    MeasurementAck,
    MeasurementItem,
    WireMeasurement,
    encode,
    parse_agent_message,
    parse_hub_message,
)
from tests.conftest import csrf_from, login, text
from tests.support.factories import Cpts
from tests.support.live import LiveHub

OXIMETER = DeviceIdentity(model="contec_cms50d_plus", serial="CMS-1")
DEVICES = (
    DeviceDescription(
        name="Oxymètre", kind="pulse_oximeter", model="contec_cms50d_plus", transport="serial"
    ),
)


def reading(kind: MeasurementKind, value: float, unit: Unit) -> dict[str, object]:
    """A measurement's JSON as an agent sends it (any key may then be spoiled by hand)."""
    return WireMeasurement.from_measurement(
        Measurement(
            kind=kind, value=value, unit=unit, received_at=dt.datetime.now(dt.UTC), device=OXIMETER
        )
    ).model_dump(mode="json")


def spo2(value: float) -> dict[str, object]:
    return reading(MeasurementKind.SPO2, value, Unit.PERCENT)


def batch(*items: tuple[int, dict[str, object]]) -> str:
    """A measurements frame, written by hand so that it may carry any sequence number."""
    return json.dumps(
        {
            "v": WIRE_VERSION,
            "type": "measurements",
            "items": [{"seq": seq, "device": "Oxymètre", "measurement": m} for seq, m in items],
        }
    )


@contextlib.asynccontextmanager
async def agent_socket(hub: LiveHub, seed: Cpts) -> AsyncIterator[ClientConnection]:
    """A raw agent WebSocket past its hello (the hello_ack is consumed)."""
    async with websockets.connect(
        hub.ws_url, additional_headers={"Authorization": f"Bearer {seed.cabin_token}"}
    ) as ws:
        await ws.send(
            Hello(cabin_id=seed.cabin_id, agent_version="1", devices=DEVICES).model_dump_json()
        )
        await asyncio.wait_for(ws.recv(), 5)
        yield ws


async def close_code(ws: ClientConnection) -> tuple[int, list[str]]:
    """Read until the hub closes; returns the close code and the types of what came first."""
    seen: list[str] = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), 5))["type"])
    assert closed.value.rcvd is not None, "the hub did not close the link"
    return closed.value.rcvd.code, seen


async def ack_of(ws: ClientConnection) -> MeasurementAck:
    message = parse_hub_message(await asyncio.wait_for(ws.recv(), 5))
    assert isinstance(message, MeasurementAck), message
    return message


async def stored(settings: Settings) -> list[tuple[int, float]]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        rows = (
            await session.execute(
                select(Observation.seq, Observation.value)
                .where(Observation.seq > 0)
                .order_by(Observation.seq)
            )
        ).all()
    await engine.dispose()
    return [(int(s), float(v)) for s, v in rows]


@contextlib.asynccontextmanager
async def coordinator(hub: LiveHub, seed: Cpts) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """The coordinator's revocation, ready beforehand (a raw agent sends no heartbeats, so
    its link would time out while the coordinator logs in)."""
    async with httpx.AsyncClient(base_url=hub.url) as client:
        await login(client, "coordination")
        csrf = csrf_from((await client.get("/coordination")).text)

        async def revoke() -> None:
            response = await client.post(
                f"/coordination/cabines/{seed.cabin_id}/revoquer", data={"csrf_token": csrf}
            )
            assert response.status_code == 303

        yield revoke


async def measure(hub: LiveHub, seed: Cpts) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url) as client:
        await login(client, "infirmiere")
        page = await client.get("/infirmier")
        return await client.post(
            f"/api/v1/cabines/{seed.cabin_id}/commandes",
            json={"device": "Oxymètre", "action": "measure"},
            headers={"X-CSRF-Token": csrf_from(page.text)},
        )


# -- finding 2: revocation ends the live link ---------------------------------------------


async def test_revoking_the_token_closes_the_live_link_at_once(
    live_hub: LiveHub, cpts: Cpts
) -> None:
    async with coordinator(live_hub, cpts) as revoke, agent_socket(live_hub, cpts) as ws:
        await revoke()
        code, seen = await close_code(ws)
    assert (code, seen) == (CLOSE_UNAUTHORIZED, [])
    response = await measure(live_hub, cpts)
    assert response.status_code == 409
    assert "n'est pas connectée" in response.json()["detail"]


async def test_nothing_sent_after_a_new_token_is_acknowledged_or_stored(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    async with agent_socket(live_hub, cpts) as ws:
        await ws.send(batch((1, spo2(97))))
        await ack_of(ws)
        # A new token issued by the service alone (another hub worker, a script): the live
        # link learns it from the database on the next thing it sends.
        engine = db.make_engine(settings.database_url)
        async with db.make_session_factory(engine)() as session:
            cabin = await service.get_cabin(session=session, cabin_id=cpts.cabin_id)
            await service.issue_cabin_token(session=session, cabin=cabin)
            await session.commit()
        await engine.dispose()
        await ws.send(batch((2, spo2(96))))
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(Heartbeat(seq=1, sent_at=dt.datetime.now(dt.UTC)).model_dump_json())
        code, seen = await close_code(ws)
    assert (code, seen) == (CLOSE_UNAUTHORIZED, [])
    assert await stored(settings) == [(1, 97.0)]


async def test_a_link_that_only_beats_learns_of_a_new_token_within_half_the_offline_delay(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    """Heartbeats do no database work: the live links' tokens are re-checked in one pass
    (every half offline delay), which closes a link whose token was replaced behind its back."""

    async def beat(ws: ClientConnection) -> None:
        seq = 0
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                seq += 1
                await ws.send(Heartbeat(seq=seq, sent_at=dt.datetime.now(dt.UTC)).model_dump_json())
                await asyncio.sleep(settings.agent_heartbeat_seconds)

    async with agent_socket(live_hub, cpts) as ws:
        beats = asyncio.create_task(beat(ws))
        try:
            engine = db.make_engine(settings.database_url)
            async with db.make_session_factory(engine)() as session:
                cabin = await service.get_cabin(session=session, cabin_id=cpts.cabin_id)
                await service.issue_cabin_token(session=session, cabin=cabin)
                await session.commit()
            await engine.dispose()
            code, seen = await asyncio.wait_for(close_code(ws), 20)
        finally:
            beats.cancel()
    assert code == CLOSE_UNAUTHORIZED
    assert set(seen) <= {"heartbeat_ack"}


async def test_a_connected_agent_stops_as_refused_when_its_token_is_revoked(
    live_hub: LiveHub, cpts: Cpts, caplog: pytest.LogCaptureFixture
) -> None:
    link = HubLink(
        ws_url=live_hub.ws_url,
        cabin_id=cpts.cabin_id,
        token=cpts.cabin_token,
        agent_version="test",
        devices=DEVICES,
        heartbeat_seconds=0.2,
        backoff=Backoff(0.05, 0.2),
    )
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.online.wait(), 5)
        async with coordinator(live_hub, cpts) as revoke:
            await revoke()
        with pytest.raises(AuthRefused, match="révoqué"):
            await asyncio.wait_for(task, 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, AuthRefused):
            await task
    assert link.state is LinkState.OFFLINE
    assert link.connections == 1  # stopped at the close, did not try again


# -- finding 3: the hub re-validates what agents send ---------------------------------------


async def test_impossible_vitals_and_sequence_numbers_are_refused_counted_and_not_stored(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    async with agent_socket(live_hub, cpts) as ws:
        await ws.send(
            batch(
                (1, spo2(150)),
                (2, reading(MeasurementKind.BODY_TEMPERATURE, 80, Unit.CELSIUS)),
                (3, reading(MeasurementKind.BLOOD_PRESSURE_SYSTOLIC, 1_000_000, Unit.MMHG)),
                (4, spo2(97)),
                (9 * 10**18, spo2(96)),
                (0, spo2(95)),
            )
        )
        ack = await ack_of(ws)
    assert ack.seqs == (4,)
    assert {(r.seq, r.code) for r in ack.rejected} == {
        (1, "implausible_value"),
        (2, "implausible_value"),
        (3, "implausible_value"),
        (9 * 10**18, "invalid_seq"),
        (0, "invalid_seq"),
    }
    assert await stored(settings) == [(4, 97.0)]
    # The huge number did not become the cabin's last sequence: the next hello says 4.
    async with websockets.connect(
        live_hub.ws_url, additional_headers={"Authorization": f"Bearer {cpts.cabin_token}"}
    ) as ws:
        await ws.send(Hello(cabin_id=cpts.cabin_id, agent_version="1").model_dump_json())
        hello_ack = parse_hub_message(await ws.recv())
    assert isinstance(hello_ack, HelloAck) and hello_ack.last_seq == 4
    async with httpx.AsyncClient(base_url=live_hub.url) as client:
        await login(client, "coordination")
        page = text(await client.get("/coordination"))
    assert "Mesures refusées : 5 (valeur impossible : 3, numéro de séquence invalide : 2)" in page


async def test_a_sequence_number_reused_for_another_measurement_is_refused(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    measurement = spo2(97)
    async with agent_socket(live_hub, cpts) as ws:
        await ws.send(batch((5, measurement)))
        first = await ack_of(ws)
        await ws.send(batch((5, measurement)))  # the same measurement again: a retry
        retry = await ack_of(ws)
        await ws.send(batch((5, spo2(60)), (6, spo2(98))))  # another one under the same number
        conflict = await ack_of(ws)
    assert first.seqs == retry.seqs == (5,)
    assert conflict.seqs == (6,)
    assert [(r.seq, r.code) for r in conflict.rejected] == [(5, "seq_conflict")]
    assert await stored(settings) == [(5, 97.0), (6, 98.0)]


# -- finding 8: a bad frame is a clean close ------------------------------------------------


def _heartbeat(**fields: object) -> str:
    """A heartbeat frame with fields of any shape (the values are JSON texts)."""
    body = ", ".join(f'"{k}": {v}' for k, v in fields.items())
    return f'{{"v": {WIRE_VERSION}, "type": "heartbeat", {body}}}'


_AT = '"2026-12-02T08:00:00Z"'


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b"\x00\x01binary", id="binary"),
        pytest.param("{not json", id="invalid-json"),
        pytest.param(_heartbeat(seq=1, sent_at=_AT, x="[" * 100_000 + "]" * 100_000), id="deep"),
        pytest.param(_heartbeat(seq="1" + "0" * 4000, sent_at=_AT), id="huge-integer"),
        pytest.param(_heartbeat(seq="[1]", sent_at=_AT), id="wrong-shape"),
        pytest.param(
            _heartbeat(seq=1, sent_at=_AT, pad='"' + "x" * 3_000_000 + '"'), id="oversize"
        ),
    ],
)
async def test_a_bad_frame_closes_the_link_with_one_log_line_and_no_traceback(
    live_hub: LiveHub, cpts: Cpts, frame: str | bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        async with agent_socket(live_hub, cpts) as ws:
            await ws.send(frame)
            code, seen = await close_code(ws)
        # The next agent is served as usual (the hub did not fall over).
        async with agent_socket(live_hub, cpts) as ws:
            await ws.send(batch((1, spo2(97))))
            await ack_of(ws)
    assert (code, seen) == (CLOSE_BAD_MESSAGE, [])
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    bad = [r for r in caplog.records if "bad frame" in r.getMessage()]
    assert len(bad) == 1 and bad[0].name == "hub.cabins.gateway"


async def test_huge_numbers_and_oversize_texts_in_a_measurement_are_refused_in_the_ack(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    huge_value = {**spo2(97), "value": 10**400}
    long_code = {**spo2(97), "loinc": "5" * 50}
    before_time = {**spo2(97), "received_at": "0001-01-01T00:00:00+14:00"}
    items = [(10**40, spo2(97)), (7, spo2(98)), (8, huge_value), (9, long_code), (10, before_time)]
    async with agent_socket(live_hub, cpts) as ws:
        await ws.send(batch(*items))
        ack = await ack_of(ws)
    assert ack.seqs == (7,)
    assert [(r.seq, r.code) for r in ack.rejected] == [
        (10**40, "invalid_seq"),
        (8, "invalid_measurement"),
        (9, "invalid_measurement"),
        (10, "invalid_measurement"),
    ]
    assert await stored(settings) == [(7, 98.0)]


# -- one table of limits for the agent and the hub -----------------------------------------


@pytest.mark.parametrize("kind", list(PLAUSIBLE_LIMITS))
async def test_the_agent_and_the_hub_draw_the_line_at_the_same_values(
    kind: MeasurementKind, settings: Settings, cpts: Cpts
) -> None:
    bounds = PLAUSIBLE_LIMITS[kind]
    values = {
        "lowest": bounds.minimum,
        "highest": bounds.maximum,
        "below": bounds.minimum - 0.5,
        "above": bounds.maximum + 0.5,
    }
    unit = KINDS[kind].reference_unit
    agent = PlausibilityFilter()
    kept_by_agent = {
        name for name, value in values.items() if agent([_measurement(kind, value, unit)])
    }
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        cabin = await service.get_cabin(session=session, cabin_id=cpts.cabin_id)
        result = await store_measurements(
            session=session,
            cabin_id=cabin.id,
            site_id=cabin.site_id,
            items=[
                MeasurementItem(
                    seq=seq,
                    device="Appareil",
                    measurement=WireMeasurement.from_measurement(_measurement(kind, value, unit)),
                )
                for seq, value in enumerate(values.values(), start=1)
            ],
            now=dt.datetime.now(dt.UTC),
        )
        await session.rollback()
    await engine.dispose()
    stored_by_hub = {name for seq, name in enumerate(values, start=1) if seq in result.acknowledged}
    assert kept_by_agent == stored_by_hub == {"lowest", "highest"}
    assert {r.code for r in result.rejected} == {"implausible_value"}


def _measurement(kind: MeasurementKind, value: float, unit: Unit) -> Measurement:
    return Measurement(
        kind=kind, value=value, unit=unit, received_at=dt.datetime.now(dt.UTC), device=OXIMETER
    )


async def test_the_agent_logs_a_refused_frame_and_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hub closing with 4400 says this agent spoke wrongly: log it, reconnect with backoff."""
    connections: list[int] = []

    async def hub(ws: ServerConnection) -> None:
        hello = parse_agent_message(await ws.recv())
        assert isinstance(hello, Hello)
        connections.append(hello.cabin_id)
        if len(connections) == 1:
            await ws.close(CLOSE_BAD_MESSAGE, "message invalide: items.0.seq: invalid")
            return
        ack = HelloAck(
            cabin_id=hello.cabin_id,
            cabin_name="Chariot 1",
            site_name="Clos Mortier",
            heartbeat_seconds=10,
            server_time=dt.datetime.now(dt.UTC),
        )
        await ws.send(encode(ack))
        await ws.wait_closed()

    async with serve(hub, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        link = HubLink(
            ws_url=f"ws://127.0.0.1:{port}/agent/ws",
            cabin_id=7,
            token="cab_x",
            agent_version="test",
            backoff=Backoff(0.05, 0.2),
        )
        with caplog.at_level(logging.WARNING, logger="cabin_agent.connection"):
            task = asyncio.create_task(link.run())
            try:
                await asyncio.wait_for(link.online.wait(), 5)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    assert connections == [7, 7] and link.connections == 1
    assert "could not read a frame of this agent: message invalide" in caplog.text
