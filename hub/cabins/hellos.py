"""Agents' connections and hellos written together: a territory reconnecting after a restart
costs a few transactions, not two per cabin.

The gateway hands each connecting agent's token check and each hello to a `Batches` of its
worker: whatever is waiting when the previous transaction ends goes into the next one (up to
``MAX_BATCH``), in arrival order, so a storm of reconnections is served first come, first
served, never starving the database's other writers of more than one transaction's turn
(``ctx.presence_writes``). A batch of hellos costs one statement per kind, whatever its size:
the audit events (one row per hello, inserted together), the cabins' rows, their devices
(read together; written only where a trolley changed) and their last sequence numbers. A batch
that fails is retried one item at a time, so one bad hello fails alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import NewEvent, record_events
from hub.cabins import presence
from hub.cabins.presence import CabinDevice
from hub.context import HubContext
from hub.identity import service as identity
from hub.records.observations import last_seqs
from hub.wire import DeviceDescription

logger = logging.getLogger(__name__)

MAX_BATCH = 200

T = TypeVar("T")
R = TypeVar("R")


class _Queue(Generic[T, R]):
    """Items served in batches, one transaction each, by one task at a time: ``serve`` gets
    the session and the batch's items, and returns their results in the same order."""

    def __init__(
        self,
        ctx: HubContext,
        serve: Callable[[AsyncSession, list[T]], Awaitable[list[R]]],
        *,
        writes: bool,
    ) -> None:
        self._ctx = ctx
        self._serve = serve
        self._writes = writes
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            batch = [(item, f) for item, f in batch if not f.done()]  # gone meanwhile
            try:
                results = await self._run([item for item, _ in batch])
            except Exception as exc:  # one at a time, so that one bad item fails alone
                logger.warning("a batch of %d agents failed (%s); one by one", len(batch), exc)
                for item, future in batch:
                    try:
                        (result,) = await self._run([item])
                    except Exception as one:
                        if not future.done():
                            future.set_exception(one)
                    else:
                        if not future.done():
                            future.set_result(result)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _run(self, items: list[T]) -> list[R]:
        if self._writes:
            async with self._ctx.presence_writes, self._ctx.sessions() as session:
                results = await self._serve(session, items)
                await session.commit()
                return results
        async with self._ctx.sessions() as session:
            return await self._serve(session, items)


@dataclass(frozen=True, slots=True)
class Caller:
    """The cabin a connecting agent's token names."""

    cabin_id: int
    cabin_name: str
    site_id: int
    site_name: str
    token_hash: str


@dataclass(frozen=True, slots=True)
class HelloIn:
    cabin_id: int
    site_id: int
    agent_version: str
    devices: tuple[DeviceDescription, ...]
    ip: str
    now: dt.datetime


@dataclass(frozen=True, slots=True)
class HelloOut:
    devices: list[CabinDevice]
    last_seq: int


async def _callers(session: AsyncSession, tokens: list[str]) -> list[Caller | None]:
    """The cabin each token names (None: unknown or revoked), in one query."""
    cabins = await identity.cabins_for_tokens(session=session, tokens=tokens)
    return [
        None
        if (cabin := cabins.get(token)) is None
        else Caller(cabin.id, cabin.name, cabin.site_id, cabin.site.name, cabin.token_hash or "")
        for token in tokens
    ]


async def _hellos(session: AsyncSession, hellos: list[HelloIn]) -> list[HelloOut]:
    """Write the hellos together: one statement per kind for the whole batch (the audit
    events, one per hello; the cabins' rows; their devices read, and written where a trolley
    changed; their last sequence numbers)."""
    await record_events(
        session=session,
        events=[
            NewEvent(
                action="agent.connected",
                actor_kind="cabin",
                actor_id=hello.cabin_id,
                site_id=hello.site_id,
                ip=hello.ip,
                detail=f"agent {hello.agent_version}",
            )
            for hello in hellos
        ],
    )
    devices = await presence.mark_hellos(
        session=session,
        hellos=[
            presence.AgentHello(hello.cabin_id, hello.agent_version, hello.devices, hello.now)
            for hello in hellos
        ],
    )
    seqs = await last_seqs(session=session, cabin_ids=[hello.cabin_id for hello in hellos])
    return [HelloOut(devices[hello.cabin_id], seqs[hello.cabin_id]) for hello in hellos]


class Batches:
    """This worker's batched token checks and hellos."""

    def __init__(self, ctx: HubContext) -> None:
        self.callers: _Queue[str, Caller | None] = _Queue(ctx, _callers, writes=False)
        self.hellos: _Queue[HelloIn, HelloOut] = _Queue(ctx, _hellos, writes=True)
