"""The live links' rows, kept in one pass: heartbeats touch memory only.

Every half ``agent_offline_after_seconds`` this worker writes through the last-seen of every
agent whose link it holds (with one process: one transaction for all of them, instead of a
write per heartbeat) and re-checks their tokens (one read per 500 cabins): a link whose token
was revoked or replaced behind its back (another worker, a script) is closed with 4401 as the
gateway does.

It also notes the server's shutdown (SIGTERM): the links uvicorn then closes (code 1012,
"service restart": the agents come back at once, with jitter) say nothing per cabin."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from hub.context import AgentConnection, HubContext
from hub.identity import service as identity

logger = logging.getLogger(__name__)


async def keep_rows_once(ctx: HubContext) -> None:
    """One pass over the live links of this worker."""
    links: dict[int, AgentConnection] = {
        cid: conn
        for cid, conn in list(ctx.agents.items())
        if not conn.closed.is_set() and conn.heard_at is not None
    }
    if not links:
        return
    tokens = {cid: conn.token_hash for cid, conn in links.items()}
    async with ctx.presence_writes, ctx.sessions() as session:
        if ctx.peers is None:  # one process: the rows hold the presence
            seen = {cid: conn.heard_at for cid, conn in links.items() if conn.heard_at}
            stale = await identity.touch_cabins(session=session, seen=seen, token_hashes=tokens)
            await session.commit()
        else:  # several workers: presence is in Redis, only the tokens are checked here
            current = await identity.cabin_token_hashes(session=session, cabin_ids=list(links))
            stale = {cid for cid, token in tokens.items() if current.get(cid) != token}
    for cid in stale:
        links[cid].revoked = True
        links[cid].closed.set()


async def keep_rows(ctx: HubContext) -> None:
    """`keep_rows_once` every half offline delay, until cancelled."""
    period = ctx.settings.agent_offline_after_seconds / 2
    while True:
        await asyncio.sleep(period)
        try:
            await keep_rows_once(ctx)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("the live cabins' last-seen could not be written: %s", exc)


@contextlib.contextmanager
def noting_shutdown(ctx: HubContext) -> Iterator[None]:
    """While open, SIGTERM (uvicorn's signal to stop) first sets ``ctx.stopping``, then does
    what it did before. Nothing is changed outside the main thread (tests' servers)."""
    try:
        before = signal.getsignal(signal.SIGTERM)
    except ValueError:
        before = None

    def note(signum: int, frame: FrameType | None) -> None:
        ctx.stopping = True
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_DFL:  # stop as the signal would have stopped us
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    previous: Callable[..., Any] | int | None = None
    try:
        previous = signal.signal(signal.SIGTERM, note)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, previous)
