"""Without ``HUB_SAS_PLATFORM_URL`` the hub reports nothing to the SAS platform, even for a
booking made from a slot's link in the SAS search."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from hub import jobs
from hub.config import Settings
from hub.notify.models import Channel, OutboundMessage
from tests.hub.interop.conftest import SasAccess
from tests.hub.interop.sas_platform import SasPlatform, book_from_sas_link, hub_context, platform
from tests.hub.interop.support import rows
from tests.hub.interop.test_sas_practitioners import doctors

__all__ = ["doctors", "platform"]  # fixtures, imported for these tests


async def test_nothing_is_sent_without_the_platform_setting(
    app: FastAPI,
    client: httpx.AsyncClient,
    sas: SasAccess,
    settings: Settings,
    platform: SasPlatform,
    doctors: dict[str, int],
) -> None:
    assert not settings.sas_platform_url
    ctx = hub_context(app)
    await book_from_sas_link(client, sas, settings)
    assert await jobs.report_to_sas(ctx) == 0
    await jobs.deliver_outbox(ctx)
    assert platform.received == []
    assert await rows(settings, OutboundMessage, OutboundMessage.channel == Channel.PLATFORM) == []
