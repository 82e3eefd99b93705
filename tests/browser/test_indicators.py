"""The coordinator's indicators in a real browser: change the period, download the CSV and the
yearly report's PDF, and check that the PDF's first page is not blank (scenario 10 of
SCENARIOS.md; its screenshots are tests/artifacts/scenarios/10-*.png)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pypdfium2
import pytest
from fastapi import FastAPI
from playwright.async_api import Page, expect

from hub import db
from hub.app import create_app as hub_create_app
from hub.config import Settings
from hub.demo import CLOS_MORTIER, LA_NOUE, DemoSeed
from hub.reporting import pages as reporting_pages
from tests.browser.walk import SHOTS, shot
from tests.hub.reporting.dataset import seed_year_2025
from tests.support import live
from tests.support.live import LiveHub

pytestmark = pytest.mark.browser


@pytest.fixture
async def reporting_hub(
    settings: Settings, demo: DemoSeed, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LiveHub]:
    """A live hub with the reporting pages, on the seeded year 2025."""
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        await seed_year_2025(session)
    await engine.dispose()

    def create_app(s: Settings) -> FastAPI:
        app = hub_create_app(s)
        if "/coordination/indicateurs" not in {getattr(r, "path", "") for r in app.routes}:
            app.include_router(reporting_pages.router)  # until hub/app.py includes it
        return app

    monkeypatch.setattr(live, "create_app", create_app)
    hub = LiveHub(settings)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def _log_in(page: Page, hub: LiveHub) -> None:
    await page.goto(hub.url + "/connexion")
    await page.get_by_label("Identifiant").fill("coordination")
    await page.get_by_label("Mot de passe").fill("demo-coordination-52")
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("heading", name="Coordination de la CPTS")).to_be_visible()


async def test_coordinator_reads_the_indicators_and_downloads_the_reports(
    page: Page, reporting_hub: LiveHub
) -> None:
    await _log_in(page, reporting_hub)
    await page.goto(reporting_hub.url + "/coordination/indicateurs")
    await expect(page.get_by_role("heading", name="Indicateurs de la CPTS")).to_be_visible()
    this_year = dt.date.today().year
    await expect(page.get_by_label("Du", exact=True)).to_have_value(f"{this_year}-01-01")
    key = page.locator("dl.kpis")
    await expect(page.locator(".lead")).to_contain_text(f"du 01/01/{this_year}")

    await page.get_by_label("Du", exact=True).fill("2025-01-01")
    await page.get_by_label("Au", exact=True).fill("2025-12-31")
    await page.get_by_role("button", name="Afficher").click()
    await expect(page.locator(".lead")).to_contain_text("du 01/01/2025 au 31/12/2025")
    await expect(key.locator("dd").first).to_have_text("14")
    await expect(page.get_by_role("img", name="Orientations à l'issue de la téléconsultation"))\
        .to_be_visible()  # fmt: skip
    await expect(
        page.get_by_role("img", name="Téléconsultations réalisées par site")
    ).to_be_visible()

    await page.get_by_label("Site", exact=True).select_option(label=CLOS_MORTIER)
    await page.get_by_role("button", name="Afficher").click()
    await expect(key.locator("dd").first).to_have_text("10")
    await shot(page, 10, "indicateurs-clos-mortier")
    await page.get_by_label("Site", exact=True).select_option(label="Toute la CPTS")
    await page.get_by_role("button", name="Afficher").click()
    await expect(key.locator("dd").first).to_have_text("14")

    async with page.expect_download() as csv_info:
        await page.get_by_role("link", name="Télécharger les indicateurs (CSV)").click()
    download = await csv_info.value
    assert download.suggested_filename == "indicateurs-cpts-2025-01-01-2025-12-31.csv"
    content = await asyncio.to_thread(Path(await download.path()).read_text, "utf-8-sig")
    rows = {(r[2], r[4]): r[7] for r in csv.reader(io.StringIO(content), delimiter=";")}
    whole = next(scope for scope, code in rows if scope.startswith("Toute la CPTS"))
    assert rows[(whole, "consultations")] == "14"
    assert rows[(whole, "share_within_48h")] == "84,6"
    assert rows[(LA_NOUE, "consultations")] == "< 5"

    await page.get_by_role("link", name="Rapport d'activité 2025").click()
    await expect(page.get_by_role("heading", name="Rapport d'activité 2025")).to_be_visible()
    await page.get_by_label("Commentaire : Téléconsultations réalisées").fill(
        "Deux cabinets ouverts toute l'année."
    )
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_role("status")).to_contain_text("enregistrés")
    await expect(page.get_by_label("Commentaire : Téléconsultations réalisées")).to_have_value(
        "Deux cabinets ouverts toute l'année."
    )
    await shot(page, 10, "rapport-annuel")

    async with page.expect_download() as pdf_info:
        await page.get_by_role("link", name="Télécharger le rapport (PDF)").click()
    pdf = await pdf_info.value
    assert pdf.suggested_filename == "rapport-activite-2025.pdf"
    document = pypdfium2.PdfDocument(await asyncio.to_thread(Path(await pdf.path()).read_bytes))
    try:
        first = document[0]
        bitmap = first.render(scale=1.5)
        pixels = bitmap.to_numpy()
        SHOTS.mkdir(parents=True, exist_ok=True)
        bitmap.to_pil().save(SHOTS / "10-rapport-pdf-page-1.png")
        words = " ".join(first.get_textpage().get_text_range().split())
    finally:
        document.close()
    ink = np.count_nonzero(pixels[:, :, :3].min(axis=2) < 128)
    assert ink > 0.005 * pixels.shape[0] * pixels.shape[1], "page 1 is (nearly) blank"
    assert "Deux cabinets ouverts toute l'année." in words
