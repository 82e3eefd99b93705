"""A session with one VideoRoom handle on Janus's HTTP API, as the cabin agent holds it while
it publishes: requests, their asynchronous results read from the session's long poll, and
keepalives. The messages themselves are built and read by `hub.wire.janus`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http import HTTPStatus
from typing import Any

import httpx

from hub.wire.janus import (
    VIDEOROOM,
    JanusError,
    JanusJson,
    SfuGrant,
    check,
    created_id,
    plugin_data,
    request,
)

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 25.0  # Janus's default session_timeout is 60 s
EVENT_TIMEOUT = 20.0


class JanusSession:
    """One Janus session and one VideoRoom handle, with its long poll and keepalive."""

    def __init__(self, grant: SfuGrant, http: httpx.AsyncClient) -> None:
        self.grant = grant
        self._http = http
        self._session_url = ""
        self._handle_url = ""
        self._waiting: dict[str, asyncio.Future[JanusJson]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: Events that answered no request of ours (e.g. other publishers joining).
        self.events: asyncio.Queue[JanusJson] = asyncio.Queue()
        #: Set when the session is over on Janus's side: the room destroyed (the consultation
        #: ended), the party's token withdrawn, or the session gone.
        self.ended = asyncio.Event()
        self.end_reason = ""
        self._failing = False

    async def attach(self) -> None:
        """Create the session, attach the VideoRoom and start polling for events."""
        token = self.grant.token
        session = created_id(await self._post(self.grant.url, request("create", token=token)))
        self._session_url = f"{self.grant.url.rstrip('/')}/{session}"
        reply = await self._post(
            self._session_url, request("attach", token=token, plugin=VIDEOROOM)
        )
        self._handle_url = f"{self._session_url}/{created_id(reply)}"
        self._tasks = [
            asyncio.ensure_future(self._poll()),
            asyncio.ensure_future(self._keepalive()),
        ]

    async def send(
        self, body: JanusJson, *, jsep: JanusJson | None = None, timeout: float = EVENT_TIMEOUT
    ) -> tuple[JanusJson, JanusJson | None]:
        """Send a VideoRoom request; return the plugin's answer and its JSEP (if any), waiting
        for the event when Janus only acknowledges. Raises JanusError when refused."""
        message = request("message", token=self.grant.token, body=body)
        if jsep is not None:
            message["jsep"] = jsep
        future: asyncio.Future[JanusJson] = asyncio.get_running_loop().create_future()
        self._waiting[message["transaction"]] = future
        try:
            reply = check(
                await self._post(self._handle_url, message),
                expected=frozenset({"ack", "success", "event"}),
            )
            if reply["janus"] == "ack":
                reply = await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(message["transaction"], None)
        return plugin_data(reply), reply.get("jsep")

    async def wait_for(self, kind: str, timeout: float = EVENT_TIMEOUT) -> JanusJson:
        """Return the next unsolicited event of type `kind` (e.g. "webrtcup": Janus's side of
        the peer connection is up), dropping the others before it; raise JanusError on a
        "hangup" or when none comes within `timeout` seconds."""

        async def next_of_kind() -> JanusJson:
            while True:
                event = await self.events.get()
                if event.get("janus") == kind:
                    return event
                if event.get("janus") == "hangup":
                    raise JanusError(0, f"Janus hung up: {event.get('reason', '')}")

        try:
            return await asyncio.wait_for(next_of_kind(), timeout)
        except TimeoutError:
            raise JanusError(0, f"no {kind!r} from Janus within {timeout:.0f} s") from None

    async def close(self) -> None:
        """Stop polling and destroy the session (Janus hangs its handle up)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session_url:
            with contextlib.suppress(httpx.HTTPError, JanusError):
                check(
                    await self._post(self._session_url, request("destroy", token=self.grant.token))
                )
            self._session_url = ""

    async def _post(self, url: str, message: JanusJson) -> JanusJson:
        response = await self._http.post(url, json=message)
        response.raise_for_status()
        reply: JanusJson = response.json()
        return reply

    def _end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()
            logger.info("Janus session over: %s", reason)

    async def _poll(self) -> None:
        """Read the session's events (Janus's long poll) and hand each to its request, until
        the session is over."""
        while not self.ended.is_set():
            try:
                response = await self._http.get(
                    self._session_url,
                    params={"maxev": 10, "token": self.grant.token},
                    timeout=EVENT_TIMEOUT + 40,
                )
                if response.status_code == HTTPStatus.FORBIDDEN:
                    self._end("the hub withdrew this party's token")
                    return
                response.raise_for_status()
                body: Any = response.json()
            except (httpx.HTTPError, ValueError) as error:
                if not self._failing:
                    logger.warning("Janus event poll failing: %s", error)
                    self._failing = True
                await asyncio.sleep(1.0)  # Janus unreachable: no event to wait on
                continue
            if self._failing:
                logger.info("Janus event poll recovered")
                self._failing = False
            for event in body if isinstance(body, list) else [body]:
                self._dispatch(event)

    def _dispatch(self, event: JanusJson) -> None:
        if event.get("janus") == "keepalive":
            return
        data = (event.get("plugindata") or {}).get("data") or {}
        if data.get("videoroom") == "destroyed":
            self._end(f"room {data.get('room')} destroyed")
        elif event.get("janus") == "error" and event.get("transaction") is None:
            self._end(str((event.get("error") or {}).get("reason", "session gone")))
        future = self._waiting.get(str(event.get("transaction")))
        if future is not None and not future.done() and event.get("janus") in ("event", "error"):
            future.set_result(event)
        else:
            self.events.put_nowait(event)

    async def _keepalive(self) -> None:
        while not self.ended.is_set():
            await asyncio.sleep(KEEPALIVE_SECONDS)
            try:
                check(
                    await self._post(
                        self._session_url, request("keepalive", token=self.grant.token)
                    ),
                    expected=frozenset({"ack"}),
                )
            except (httpx.HTTPError, JanusError) as error:
                logger.warning("Janus keepalive failed: %s", error)
