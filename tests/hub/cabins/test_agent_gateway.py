"""Cabin agents connecting to a real hub server: tokens, hello, heartbeats, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from sqlalchemy import select

from cabin_agent.connection import AuthRefused, Backoff, HubLink, LinkState
from hub import db
from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.identity import service
from hub.wire import CLOSE_REPLACED, CLOSE_UNAUTHORIZED, DeviceDescription, Heartbeat, Hello
from tests.conftest import csrf_from, login
from tests.support.factories import Cpts
from tests.support.live import LiveHub
from tests.support.waiting import eventually

DEVICES = (
    DeviceDescription(
        name="Oxymètre", kind="pulse_oximeter", model="contec-cms50d-plus", transport="serial"
    ),
)


def make_link(hub: LiveHub, seed: Cpts, token: str | None = None) -> HubLink:
    return HubLink(
        ws_url=hub.ws_url,
        cabin_id=seed.cabin_id,
        token=token or seed.cabin_token,
        agent_version="9.9.9",
        devices=DEVICES,
        heartbeat_seconds=0.2,
        backoff=Backoff(initial=0.05, maximum=0.2),
    )


@contextlib.asynccontextmanager
async def running(link: HubLink) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(link.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, AuthRefused):
            await task


async def cabin_status(hub: LiveHub, username: str = "infirmiere") -> dict[str, object]:
    async with httpx.AsyncClient(base_url=hub.url) as client:
        await login(client, username)
        cabins = (await client.get("/api/v1/cabines")).json()
    assert len(cabins) == 1
    status: dict[str, object] = cabins[0]
    return status


async def test_agent_with_its_token_is_online_with_its_devices(
    live_hub: LiveHub, cpts: Cpts
) -> None:
    link = make_link(live_hub, cpts)
    async with running(link):
        await asyncio.wait_for(link.online.wait(), 5)
        status = await cabin_status(live_hub)
        assert status["online"] is True
        assert status["status_label"] == "en ligne"
        assert status["agent_version"] == "9.9.9"
        [device] = status["devices"]  # type: ignore[misc]
        assert (device["name"], device["kind"], device["model"]) == (
            "Oxymètre",
            "pulse_oximeter",
            "contec-cms50d-plus",
        )
        assert device["state_label"] == "inconnu"  # until the agent reports its state
        assert status["last_seen_at"] is not None
        async with httpx.AsyncClient(base_url=live_hub.url) as client:
            await login(client, "infirmiere")
            page = (await client.get("/infirmier")).text
        assert "en ligne" in page


async def test_heartbeats_keep_last_seen_moving(live_hub: LiveHub, cpts: Cpts) -> None:
    link = make_link(live_hub, cpts)
    async with running(link):
        await asyncio.wait_for(link.online.wait(), 5)
        first = (await cabin_status(live_hub))["last_seen_at"]
        assert isinstance(first, str)
        seen: list[object] = []

        async def moved() -> bool:
            seen.append((await cabin_status(live_hub))["last_seen_at"])
            return seen[-1] != first

        await eventually(moved, "a later heartbeat")
        second = seen[-1]
        assert isinstance(second, str)
        assert dt.datetime.fromisoformat(second) > dt.datetime.fromisoformat(first)


async def test_wrong_token_is_refused_and_logged(
    live_hub: LiveHub, cpts: Cpts, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    link = make_link(live_hub, cpts, token="cab_not-a-real-token")
    with (
        caplog.at_level(logging.WARNING, logger="hub.cabins.gateway"),
        pytest.raises(AuthRefused),
    ):
        await asyncio.wait_for(link.run(), 5)
    assert link.state is LinkState.OFFLINE
    assert "unknown or revoked cabin token" in caplog.text
    assert "cab_not-a-real-token" not in caplog.text  # secrets never reach the logs
    assert (await cabin_status(live_hub))["online"] is False
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        refused = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "agent.refused"))
        )
    await engine.dispose()
    assert len(refused) == 1 and refused[0].outcome == "refused"


async def test_a_revoked_token_refuses_the_next_connection(live_hub: LiveHub, cpts: Cpts) -> None:
    async with httpx.AsyncClient(base_url=live_hub.url) as client:
        await login(client, "coordination")
        page = await client.get("/coordination")
        response = await client.post(
            f"/coordination/cabines/{cpts.cabin_id}/revoquer",
            data={"csrf_token": csrf_from(page.text)},
        )
        assert response.status_code == 303
    with pytest.raises(AuthRefused):
        await asyncio.wait_for(make_link(live_hub, cpts).run(), 5)


async def test_new_token_replaces_the_old_one(
    live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        cabin = await service.get_cabin(session=session, cabin_id=cpts.cabin_id)
        new_token = await service.issue_cabin_token(session=session, cabin=cabin)
        await session.commit()
    await engine.dispose()
    with pytest.raises(AuthRefused):
        await asyncio.wait_for(make_link(live_hub, cpts).run(), 5)
    link = make_link(live_hub, cpts, token=new_token)
    async with running(link):
        await asyncio.wait_for(link.online.wait(), 5)


async def test_hello_for_another_cabin_is_refused(live_hub: LiveHub, cpts: Cpts) -> None:
    async with websockets.connect(
        live_hub.ws_url, additional_headers={"Authorization": f"Bearer {cpts.cabin_token}"}
    ) as ws:
        await ws.send(Hello(cabin_id=cpts.cabin_id + 1, agent_version="1").model_dump_json())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_UNAUTHORIZED


async def test_a_garbled_frame_closes_the_link_with_a_reason(live_hub: LiveHub, cpts: Cpts) -> None:
    async with websockets.connect(
        live_hub.ws_url, additional_headers={"Authorization": f"Bearer {cpts.cabin_token}"}
    ) as ws:
        await ws.send('{"v": 1, "type": "hello", "cabin_id": "abc"}')
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400
    assert "cabin_id" in closed.value.rcvd.reason


async def test_cabin_goes_offline_after_missed_heartbeats(live_hub: LiveHub, cpts: Cpts) -> None:
    # The nurse signs in first: signing in (a password hash) may take longer than the test
    # hub's offline delay on a busy machine.
    async with httpx.AsyncClient(base_url=live_hub.url) as nurse:
        await login(nurse, "infirmiere")
        async with websockets.connect(
            live_hub.ws_url, additional_headers={"Authorization": f"Bearer {cpts.cabin_token}"}
        ) as ws:
            await ws.send(Hello(cabin_id=cpts.cabin_id, agent_version="1").model_dump_json())
            await ws.recv()  # hello_ack

            async def beat() -> None:
                for seq in range(1, 10_000):
                    now = dt.datetime.now(dt.UTC)
                    await ws.send(Heartbeat(seq=seq, sent_at=now).model_dump_json())
                    await asyncio.sleep(0.2)

            # While it beats the nurse sees it online (however slow her request on a busy
            # machine, the heartbeats keep it within the offline delay)...
            beating = asyncio.create_task(beat())
            try:
                await eventually(lambda: _online(nurse))
            finally:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
            # ...then silence: no heartbeat. The hub closes the link after the offline delay.
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()  # heartbeat acknowledgements, then the close
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
    await eventually(lambda: _offline(live_hub))


async def _online(nurse: httpx.AsyncClient) -> bool:
    [status] = (await nurse.get("/api/v1/cabines")).json()
    return status["online"] is True


async def _offline(hub: LiveHub) -> bool:
    return (await cabin_status(hub))["online"] is False


async def _shown_online(hub: LiveHub) -> bool:
    return (await cabin_status(hub))["online"] is True


async def test_agent_reconnects_after_the_hub_restarts(live_hub: LiveHub, cpts: Cpts) -> None:
    link = make_link(live_hub, cpts)
    async with running(link):
        await asyncio.wait_for(link.online.wait(), 5)
        await live_hub.stop()
        await eventually(lambda: link.state is not LinkState.ONLINE)
        await live_hub.start()
        # At least once more (on a busy machine a late heartbeat answer may cost another).
        await eventually(lambda: link.connections >= 2, "the agent to reconnect", timeout=30)
        await eventually(lambda: link.state is LinkState.ONLINE, "the agent online")
        await eventually(lambda: _shown_online(live_hub), "the cabin shown online")


async def test_an_agent_far_into_its_backoff_comes_back_soon_after_a_restart(
    live_hub: LiveHub, cpts: Cpts
) -> None:
    """The hub closes its agents' links as restarting (1012): an agent whose next attempt
    would otherwise wait up to a minute comes back as soon as the hub listens again."""
    link = make_link(live_hub, cpts)
    link._backoff = Backoff(initial=60.0, maximum=60.0, restart_window=0.2, restart_attempts=500)
    async with running(link):
        await asyncio.wait_for(link.online.wait(), 5)
        await live_hub.stop()
        await eventually(lambda: link.state is not LinkState.ONLINE)
        await live_hub.start()
        # Well within the minute its backoff alone would have waited.
        await eventually(lambda: link.connections >= 2, "the agent to reconnect", timeout=30)


async def test_agent_disconnect_marks_the_cabin_offline_at_once(
    live_hub: LiveHub, cpts: Cpts
) -> None:
    link = make_link(live_hub, cpts)
    async with running(link):
        await asyncio.wait_for(link.online.wait(), 5)
    await eventually(lambda: _offline(live_hub))


async def test_a_second_connection_of_the_same_cabin_replaces_the_first(
    live_hub: LiveHub, cpts: Cpts
) -> None:
    async with websockets.connect(
        live_hub.ws_url, additional_headers={"Authorization": f"Bearer {cpts.cabin_token}"}
    ) as first:
        await first.send(Hello(cabin_id=cpts.cabin_id, agent_version="1").model_dump_json())
        await first.recv()  # hello_ack
        link = make_link(live_hub, cpts)
        async with running(link):
            await asyncio.wait_for(link.online.wait(), 5)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(first.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_REPLACED
            assert (await cabin_status(live_hub))["online"] is True
