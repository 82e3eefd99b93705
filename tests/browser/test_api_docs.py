"""The API documentation opens offline: Swagger UI comes from the hub itself, under its CSP."""

from __future__ import annotations

import pytest
from playwright.async_api import ConsoleMessage, Page, Request, expect

from tests.support.live import LiveHub

pytestmark = pytest.mark.browser


async def test_api_docs_show_the_operations_with_nothing_fetched_elsewhere(
    page: Page, live_hub: LiveHub
) -> None:
    elsewhere: list[str] = []
    refused: list[str] = []

    def note_request(request: Request) -> None:
        if not request.url.startswith((live_hub.url, "data:", "blob:")):
            elsewhere.append(request.url)

    def note_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("request", note_request)
    page.on("console", note_console)
    await page.goto(live_hub.url + "/api/docs")
    await expect(
        page.get_by_role("heading", name="Hub des cabines de téléconsultation")
    ).to_be_visible()
    await expect(page.get_by_text("/api/v1/moi").first).to_be_visible()
    csp = (await page.request.get(live_hub.url + "/api/docs")).headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe" not in csp
    openapi = await page.request.get(live_hub.url + "/api/openapi.json")
    described = (await openapi.json())["paths"]
    assert "/fhir/Slot" in described
    assert [p for p in described if not p.startswith(("/api/", "/fhir/"))] == []  # no pages
    assert elsewhere == []
    assert refused == []
