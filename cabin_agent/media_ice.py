"""ICE restart for an established aiortc peer connection, which aiortc does not do itself.

aiortc (1.16) starts each ICE transport once: a renegotiation offer with new ICE credentials
(a browser's `restartIce()`) is accepted, but the answer keeps the old credentials and the
browser's new connectivity checks are refused, so the call dies on the first network change.

An ICE restart here keeps everything above ICE (DTLS, SCTP, RTP senders and receivers) and
restarts the aioice connection in place: new local credentials, the remote peer's new ones,
its new candidates, and a fresh check list over the same local sockets. Media keeps using the
previously nominated pair until a new pair is nominated, then moves to it.

`begin_ice_restart` runs before the description carrying the new credentials is applied
(the offer for the answerer, `createOffer` for the offerer); `finish_ice_restart` runs once
both sides' credentials and the remote candidates are known. Both reach into aiortc and aioice
private attributes, kept in this module only; a new aiortc release must pass the tests here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from aioice import Connection as IceConnection
from aioice.ice import ICE_COMPLETED, CandidatePair
from aioice.utils import random_string
from aiortc import RTCPeerConnection

logger = logging.getLogger(__name__)

ICE_UFRAG_LENGTH = 4
ICE_PASSWORD_LENGTH = 22


class IceRestartError(ConnectionError):
    """The restarted ICE connection found no working candidate pair."""


@dataclass(frozen=True, slots=True)
class IceCredentials:
    """The ICE username fragment and password of one side (`a=ice-ufrag`, `a=ice-pwd`)."""

    ufrag: str
    password: str


def _ice_transports(pc: RTCPeerConnection) -> list[Any]:
    """Return the live RTCIceTransports of `pc` (one when everything is bundled)."""
    transports: list[Any] = []
    dtls_transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        dtls_transports.append(pc.sctp.transport)
    for dtls in dtls_transports:
        ice = dtls.transport
        if ice not in transports and ice.state != "closed":
            transports.append(ice)
    return transports


def _connections(pc: RTCPeerConnection) -> list[IceConnection]:
    connections: list[IceConnection] = [t._connection for t in _ice_transports(pc)]
    return connections


def local_ice_credentials(pc: RTCPeerConnection) -> IceCredentials | None:
    """Return the current local ICE credentials of `pc`, or None before it has any transport."""
    for connection in _connections(pc):
        return IceCredentials(connection.local_username, connection.local_password)
    return None


def selected_route(pc: RTCPeerConnection) -> str | None:
    """The type of the local candidate media leaves from ("host", "srflx", "relay" through the
    TURN server), or None before a pair is nominated."""
    for connection in _connections(pc):
        for pair in connection._nominated.values():
            return str(pair.local_candidate.type)
    return None


def begin_ice_restart(pc: RTCPeerConnection, remote: IceCredentials | None) -> None:
    """Give `pc` new local ICE credentials and forget the remote candidates and checks.

    `remote` is the peer's new credentials when already known (answerer), else None.
    The nominated pair stays in use, so media flows on while the new checks run.
    """
    for ice in _ice_transports(pc):
        connection: Any = ice._connection
        consent = connection._query_consent_task
        if consent is not None:
            consent.cancel()
            connection._query_consent_task = None
        for pair in connection._check_list:
            if pair.task is not None:
                pair.task.cancel()
        connection._check_list = []
        connection._check_list_done = False
        connection._check_list_state = asyncio.Queue()
        connection._nominating = set()
        connection._early_checks.clear()
        connection._early_checks_done = False
        connection._remote_candidates = []
        connection._remote_candidates_end = False
        ice.iceGatherer._remote_candidates_end = False
        connection._local_username = random_string(ICE_UFRAG_LENGTH)
        connection._local_password = random_string(ICE_PASSWORD_LENGTH)
        connection.remote_username = remote.ufrag if remote else None
        connection.remote_password = remote.password if remote else None
        logger.debug("ICE restart begun on connection %s", connection._id)


async def finish_ice_restart(pc: RTCPeerConnection, remote: IceCredentials) -> None:
    """Run the new connectivity checks of `pc` until a new pair is nominated.

    Raises IceRestartError when none is; media still uses the old pair meanwhile.
    """
    connections = _connections(pc)
    for connection in connections:
        connection.remote_username = remote.ufrag
        connection.remote_password = remote.password
    results = await asyncio.gather(*(_reconnect(c) for c in connections), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise IceRestartError(f"ICE restart failed: {result}") from result


async def _reconnect(connection: IceConnection) -> None:
    """Run aioice's `connect()` again, completing only on a newly nominated pair."""
    hooks: Any = connection
    renominated: set[int] = set()
    check_complete = connection.check_complete

    def check_complete_hook(pair: CandidatePair) -> None:
        if pair.state == CandidatePair.State.SUCCEEDED and pair.nominated:
            renominated.add(pair.component)
        check_complete(pair)

    def maybe_complete_hook() -> bool:
        # aioice completes when every component has a nominated pair; the old pairs are
        # still there (they carry the media), so count only the pairs nominated since.
        if renominated < hooks._components:
            return False
        if not hooks._check_list_done:
            hooks._check_list_state.put_nowait(ICE_COMPLETED)
            hooks._check_list_done = True
        return True

    hooks.check_complete = check_complete_hook
    hooks._check_list_maybe_complete = maybe_complete_hook
    try:
        await connection.connect()
    finally:
        with contextlib.suppress(AttributeError):
            del hooks.check_complete
            del hooks._check_list_maybe_complete
