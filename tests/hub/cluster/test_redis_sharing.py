"""What hub workers share through a real Redis: the consoles' events (published by one
worker, received by the consoles of another that may see them), requests to the worker holding
a cabin and their replies, and the cabins' presence with a time to live."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from hub import cluster, redis_client
from hub.cluster.bus import RedisEventBus
from hub.cluster.peers import Message, Peers, Unreachable
from hub.events import Event
from tests.support.waiting import eventually

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@contextlib.asynccontextmanager
async def _worker_bus(url: str) -> AsyncIterator[RedisEventBus]:
    client = cluster.connect(url)
    bus = RedisEventBus(client)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()
        await client.aclose()


@contextlib.asynccontextmanager
async def _worker_peers(url: str) -> AsyncIterator[Peers]:
    client = cluster.connect(url)
    peers = Peers(client)
    await peers.start()
    try:
        yield peers
    finally:
        await peers.stop()
        await client.aclose()


async def test_an_event_published_by_one_worker_reaches_the_consoles_of_another_that_may_see_it(
    redis_url: str,
) -> None:
    reaches = {
        "clinician": {"signed_in": frozenset({1}), "consultation_data": frozenset({1})},
        "secretary": {"signed_in": frozenset({1}), "consultation_data": frozenset()},
        "elsewhere": {"signed_in": frozenset({2}), "consultation_data": frozenset({2})},
    }
    async with (
        _worker_bus(redis_url) as worker_a,
        _worker_bus(redis_url) as worker_b,
        contextlib.AsyncExitStack() as stack,
    ):
        queues = {
            who: await stack.enter_async_context(worker_b.subscribe(reach))
            for who, reach in reaches.items()
        }
        worker_a.publish(Event(site_id=1, kind="consultation.emergency", data={"id": 7}))
        worker_a.publish(
            Event(
                site_id=1,
                kind="observation.stored",
                data={"value": 97.0},
                permission="consultation_data",
            )
        )
        worker_a.publish(Event(site_id=2, kind="consultation.ready", data={}))
        # The last events every subscriber may see: once they are in, nothing else is coming.
        worker_a.publish(Event(site_id=1, kind="end", data={}))
        worker_a.publish(Event(site_id=2, kind="end", data={}))
        received: dict[str, list[Event]] = {who: [] for who in queues}

        def all_ended() -> bool:
            for who, queue in queues.items():
                while not queue.empty():
                    received[who].append(queue.get_nowait())
            return all(events and events[-1].kind == "end" for events in received.values())

        await eventually(all_ended, "every console to receive the last event")
    kinds = {who: [e.kind for e in events] for who, events in received.items()}
    assert kinds == {
        "clinician": ["consultation.emergency", "observation.stored", "end"],
        "secretary": ["consultation.emergency", "end"],
        "elsewhere": ["consultation.ready", "end"],
    }
    emergency = received["clinician"][0]
    assert (emergency.site_id, emergency.data) == (1, {"id": 7})
    assert received["clinician"][1].permission == "consultation_data"


async def test_a_request_reaches_the_worker_holding_the_cabin_and_its_reply_comes_back(
    redis_url: str,
) -> None:
    async with _worker_peers(redis_url) as worker_a, _worker_peers(redis_url) as worker_b:
        told: list[Message] = []

        async def cabin_side(body: Message) -> Message | None:
            if body.get("op") == "command":
                return {"ok": True, "message": f"mesure lancée sur {body['device']}"}
            told.append(body)
            return None

        worker_a.serve(cabin_side)
        await worker_a.hold(3, seen=NOW, ttl_seconds=60)
        holder = await worker_b.holder(3)
        assert holder is not None and holder.worker == worker_a.worker_id
        assert holder.seen == NOW
        reply = await worker_b.request(
            holder.worker, {"op": "command", "device": "Tensiomètre"}, timeout=10
        )
        assert reply == {"ok": True, "message": "mesure lancée sur Tensiomètre"}
        assert await worker_b.tell(holder.worker, {"op": "close", "session_id": "s1"})
        await eventually(lambda: told == [{"op": "close", "session_id": "s1"}], "the close")
        # A worker that does not answer in time, and one that is gone.
        with pytest.raises(TimeoutError):
            await worker_b.request(holder.worker, {"op": "silence"}, timeout=0.2)
        with pytest.raises(Unreachable):
            await worker_b.request("a-dead-worker", {"op": "command"}, timeout=10)
        assert not await worker_b.tell("a-dead-worker", {"op": "close"})


async def test_a_cabin_is_online_while_its_worker_refreshes_it_and_only_its_worker_forgets_it(
    redis_url: str,
) -> None:
    async with _worker_peers(redis_url) as worker_a, _worker_peers(redis_url) as worker_b:
        await worker_a.hold(1, seen=NOW, ttl_seconds=60)
        await worker_a.hold(2, seen=NOW, ttl_seconds=0.3)
        assert set(await worker_b.holders([1, 2, 3])) == {1, 2}
        # Worker A stops refreshing cabin 2 (as a dead worker would): it goes offline.
        await eventually(lambda: _only_cabin_1(worker_b), "cabin 2's presence to expire")
        # One surviving worker is told, once, to say that cabin 2 went offline.
        assert await worker_b.vanished() == [2]
        assert await worker_a.vanished() == []
        # Cabin 1 reconnected to worker B: worker A's late disconnection does not clear it.
        await worker_b.hold(1, seen=NOW + dt.timedelta(seconds=5), ttl_seconds=60)
        assert not await worker_a.release(1)
        holder = await worker_a.holder(1)
        assert holder is not None and holder.worker == worker_b.worker_id
        assert await worker_b.release(1)
        assert await worker_a.holders([1, 2]) == {}
        assert await worker_a.vanished() == []  # released: its worker said so already


async def test_two_thousand_cabins_heard_from_at_once_all_show_online(redis_url: str) -> None:
    """A reconnection storm: every agent's hello refreshes its cabin's presence at the same
    moment. Each must be kept (a refresh that fails shows the cabin offline to the consoles),
    over a bounded number of Redis connections."""
    cabins = range(1, 2001)
    probe = cluster.connect(redis_url)
    async with _worker_peers(redis_url) as worker_a, _worker_peers(redis_url) as worker_b:
        before = await _clients(probe)
        await asyncio.gather(*(worker_a.hold(c, seen=NOW, ttl_seconds=60) for c in cabins))
        assert set(await worker_b.holders(cabins)) == set(cabins)
        assert await _clients(probe) - before <= redis_client.POOL_SIZE
        for cabin_id in cabins:
            assert await worker_a.release(cabin_id)
        assert await worker_b.holders(cabins) == {}
    await probe.aclose()


async def _clients(client: Redis) -> int:
    info = await client.info("clients")
    return int(info["connected_clients"])


async def _only_cabin_1(peers: Peers) -> bool:
    return set(await peers.holders([1, 2])) == {1}


def test_every_hub_event_survives_the_trip_between_workers() -> None:
    event = Event(site_id=4, kind="cabin.status", data={"online": True, "devices": [{"n": "é"}]})
    assert Event.decode(event.encode()) == event
    with pytest.raises(ValueError):
        Event.decode('{"kind": "cabin.status"}')
