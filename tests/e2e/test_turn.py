"""The TURN credentials the hub hands out, against Debian's coturn (REST shared-secret scheme):
a fresh one opens a relay (an Allocate through aioice, as the cabin's aiortc does), one whose
time has passed is refused with 401 and opens nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest
from aioice import stun, turn
from pydantic import SecretStr

from hub.config import Settings
from hub.consultation.media import ice_servers
from tests.support.coturn import ThrowawayCoturn
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def coturn() -> Iterator[ThrowawayCoturn]:
    server = ThrowawayCoturn()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _hub_settings(coturn: ThrowawayCoturn) -> Settings:
    return Settings(
        turn_urls=coturn.url, turn_secret=SecretStr(coturn.secret), turn_ttl_seconds=600
    )


async def _allocate(coturn: ThrowawayCoturn, username: str, password: str) -> tuple[str, int]:
    """The relayed address coturn allocates for these credentials (raises if refused)."""
    transport, _ = await turn.create_turn_endpoint(
        asyncio.DatagramProtocol,
        server_addr=("127.0.0.1", coturn.port),
        username=username,
        password=password,
    )
    try:
        host, port = transport.get_extra_info("sockname")[:2]
        return str(host), int(port)
    finally:
        transport.close()


async def test_the_hubs_fresh_credentials_open_a_relay(coturn: ThrowawayCoturn) -> None:
    [server] = ice_servers(_hub_settings(coturn), user_id=4, now=dt.datetime.now(dt.UTC))
    assert server.urls == (coturn.url,)
    host, port = await _allocate(coturn, server.username, server.credential)
    assert host == "127.0.0.1" and port > 0
    await eventually(
        lambda: (
            f"user <{server.username}>: incoming packet ALLOCATE processed, success"
            in coturn.log_text()
        ),
        "coturn's log of the allocation",
    )


async def test_an_expired_credential_is_refused(coturn: ThrowawayCoturn) -> None:
    """Issued 20 minutes ago with a 10-minute life: its time is past; coturn answers 401."""
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    [server] = ice_servers(_hub_settings(coturn), user_id=4, now=issued)
    with pytest.raises(stun.TransactionFailed) as refused:
        await _allocate(coturn, server.username, server.credential)
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401
    log = coturn.log_text()
    assert f"user <{server.username}>: incoming packet message processed, error 401" in log
    assert f"user <{server.username}>: incoming packet ALLOCATE processed, success" not in log


async def test_a_credential_signed_with_another_secret_is_refused(
    coturn: ThrowawayCoturn,
) -> None:
    settings = _hub_settings(coturn).model_copy(update={"turn_secret": SecretStr("not-coturn")})
    [server] = ice_servers(settings, user_id=4, now=dt.datetime.now(dt.UTC))
    with pytest.raises(stun.TransactionFailed) as refused:
        await _allocate(coturn, server.username, server.credential)
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401
