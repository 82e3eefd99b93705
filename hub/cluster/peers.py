"""This hub worker among its peers, through Redis.

- Requests: every worker listens on its own channel (``hub:worker:<id>``). `Peers.request`
  publishes a request to another worker's channel with a correlation id and waits, with a
  timeout, for the reply on its own; the handler given to `Peers.serve` answers the requests
  this worker receives. A worker nobody listens for (it died) is `Unreachable` at once.
- Presence: a cabin whose WebSocket this worker holds has a key (``hub:cabin:<id>``: which
  worker, when last heard from) with a time to live, refreshed whenever the agent is heard
  from. A dead worker refreshes nothing: its cabins' keys expire and they show offline; the
  set of cabins known online (``hub:cabins:online``) lets one surviving worker notice each such
  cabin once (`Peers.vanished`) and say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

Message = dict[str, object]
Handler = Callable[[Message], Awaitable[Message | None]]

RETRY_SECONDS = 0.5
# Delete a cabin's key only if it still names this worker (another may hold the cabin now).
_RELEASE = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Unreachable(Exception):
    """No worker listens on that worker's channel (it stopped or died)."""


@dataclass(frozen=True, slots=True)
class Holder:
    """The worker that holds a cabin's WebSocket, and when that cabin was last heard from."""

    worker: str
    seen: dt.datetime


ONLINE_SET = "hub:cabins:online"


def _cabin_key(cabin_id: int) -> str:
    return f"hub:cabin:{cabin_id}"


def _channel(worker: str) -> str:
    return f"hub:worker:{worker}"


class Peers:
    """Requests to and from the other workers, and the presence of this worker's cabins."""

    def __init__(self, client: Redis, *, worker_id: str = "") -> None:
        self.worker_id = worker_id or secrets.token_hex(6)
        self._client = client
        self._handler: Handler | None = None
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        # Presence refreshes gathered for the next pipeline, and the task that will send them.
        self._holds: dict[int, tuple[str, int]] = {}
        self._holding: asyncio.Task[None] | None = None

    def serve(self, handler: Handler) -> None:
        """Answer the requests this worker receives with ``handler`` (None: no reply)."""
        self._handler = handler

    async def start(self) -> None:
        """Listen on this worker's channel (returns once subscribed)."""
        self._listener = asyncio.create_task(self._listen(), name="peers-listen")
        await self._listening.wait()

    async def stop(self) -> None:
        tasks = [t for t in (self._listener, self._holding, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def request(self, worker: str, body: Message, *, timeout: float) -> Message:
        """The reply of ``worker`` to ``body``; TimeoutError after ``timeout`` seconds,
        `Unreachable` if no worker listens for it."""
        correlation = secrets.token_hex(8)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[correlation] = future
        try:
            if not await self._publish(
                worker, {"kind": "request", "id": correlation, "from": self.worker_id, "body": body}
            ):
                raise Unreachable(worker)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(correlation, None)

    async def tell(self, worker: str, body: Message) -> bool:
        """Send ``body`` to ``worker`` without waiting for a reply; False if nobody listens."""
        return await self._publish(worker, {"kind": "request", "id": "", "body": body})

    async def hold(self, cabin_id: int, *, seen: dt.datetime, ttl_seconds: float) -> None:
        """This worker holds the cabin's WebSocket and just heard from it. The refreshes asked
        for while the event loop goes round once go to Redis together, in one pipeline: a
        reconnection storm or 500 heartbeats a second cost a few round trips and connections,
        not one each. Returns once this cabin's refresh is written (RedisError if it failed)."""
        value = f"{self.worker_id}|{seen.isoformat()}"
        self._holds[cabin_id] = (value, max(1, int(ttl_seconds * 1000)))
        if self._holding is None:
            self._holding = asyncio.create_task(self._write_holds(), name="presence-holds")
        await asyncio.shield(self._holding)

    async def _write_holds(self) -> None:
        await asyncio.sleep(0)  # the holds asked for in this turn of the loop join this one
        holds, self._holds, self._holding = self._holds, {}, None
        if not holds:  # released meanwhile
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for cabin_id, (value, ttl_ms) in holds.items():
                pipe.set(_cabin_key(cabin_id), value, px=ttl_ms)
            pipe.sadd(ONLINE_SET, *(str(cabin_id) for cabin_id in holds))
            await pipe.execute()

    async def release(self, cabin_id: int) -> bool:
        """The cabin's WebSocket closed here: forget it, unless another worker holds it now.
        True if the key was this worker's."""
        self._holds.pop(cabin_id, None)  # a refresh not yet sent would bring it back
        deleted = await self._client.eval(_RELEASE, 1, _cabin_key(cabin_id), self.worker_id)
        if deleted:
            await self._client.srem(ONLINE_SET, str(cabin_id))
        return bool(deleted)

    async def vanished(self) -> list[int]:
        """The cabins that were online and whose key expired (their worker died without
        releasing them), each given to one worker only: the one that calls this first."""
        members = [int(m) for m in await self._client.smembers(ONLINE_SET)]
        alive = await self.holders(members)
        gone = []
        for cabin_id in members:
            if cabin_id not in alive and await self._client.srem(ONLINE_SET, str(cabin_id)):
                if await self._client.exists(_cabin_key(cabin_id)):  # it came back meanwhile
                    await self._client.sadd(ONLINE_SET, str(cabin_id))
                else:
                    gone.append(cabin_id)
        return gone

    async def holder(self, cabin_id: int) -> Holder | None:
        """Which worker holds the cabin (None: the cabin is offline)."""
        return (await self.holders([cabin_id])).get(cabin_id)

    async def holders(self, cabin_ids: Iterable[int]) -> dict[int, Holder]:
        """The online cabins among ``cabin_ids``, with their worker and last heartbeat."""
        ids = list(cabin_ids)
        if not ids:
            return {}
        values = await self._client.mget([_cabin_key(i) for i in ids])
        result = {}
        for cabin_id, value in zip(ids, values, strict=True):
            if value is not None:
                text = value.decode() if isinstance(value, bytes) else str(value)
                worker, _, seen = text.partition("|")
                with contextlib.suppress(ValueError):
                    result[cabin_id] = Holder(worker, dt.datetime.fromisoformat(seen))
        return result

    async def _publish(self, worker: str, message: Message) -> bool:
        receivers = await self._client.publish(_channel(worker), json.dumps(message))
        return bool(receivers)

    async def _listen(self) -> None:
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(_channel(self.worker_id))
                self._listening.set()
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "message":
                        self._receive(message["data"])
            except (RedisError, OSError) as exc:
                logger.warning("worker %s: listening to Redis failed: %s", self.worker_id, exc)
                await asyncio.sleep(RETRY_SECONDS)  # reconnecting to Redis, with a pause
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    def _receive(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            kind, correlation, body = message["kind"], str(message["id"]), message["body"]
        except (ValueError, KeyError, TypeError):
            logger.warning("worker %s: ignored a message that is not a request", self.worker_id)
            return
        if kind == "reply":
            future = self._pending.get(correlation)
            if future is not None and not future.done():
                future.set_result(body)
        elif kind == "request" and isinstance(body, dict):
            reply_to = str(message.get("from", ""))
            task = asyncio.create_task(self._answer(correlation, reply_to, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, correlation: str, reply_to: str, body: Message) -> None:
        if self._handler is None:
            return
        try:
            reply = await self._handler(body)
        except Exception:
            logger.exception("worker %s: a request from %s failed", self.worker_id, reply_to)
            return
        if reply is not None and correlation and reply_to:
            with contextlib.suppress(RedisError, OSError):
                await self._publish(reply_to, {"kind": "reply", "id": correlation, "body": reply})
