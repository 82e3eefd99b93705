"""The demo's past consultations and ``python -m hub export-consultation``: the sample
documents an integrator checks — a CDA that passes the ANS validator, the IHE_XDM.ZIP sent to
the médecin traitant, and a FHIR bundle that validates."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.consultation.models import Consultation, State
from hub.context import HubContext
from hub.demo import DemoSeed
from hub.demo_history import PAST_CASES, seed_demo_history
from hub.records.documents import DocumentStatus, SharedDocument
from hub.records.observations import last_seq
from hub.relay.models import Referral
from hub.reports.export import cmd_export_consultation
from tests.conftest import login, text
from tests.support.cda import validate_cda


async def _seed(settings: Settings, ctx: HubContext) -> list[int]:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        ids = await seed_demo_history(session=session, ctx=ctx)
        again = await seed_demo_history(session=session, ctx=ctx)
    await engine.dispose()
    assert again == ids  # idempotent: seeding twice creates nothing more
    return ids


async def test_the_demo_has_past_consultations_with_signed_reports(
    app: FastAPI, settings: Settings, demo: DemoSeed
) -> None:
    ids = await _seed(settings, app.state.hub)
    assert len(ids) == len(PAST_CASES)
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        states = list(
            await session.scalars(select(Consultation.state).where(Consultation.id.in_(ids)))
        )
        documents = list(await session.scalars(select(SharedDocument).order_by(SharedDocument.id)))
        referrals = list(await session.scalars(select(Referral.consultation_id)))
        # The demo cabin's agent still numbers its measurements from 1 (it connects).
        agent_seq = await last_seq(session=session, cabin_id=demo.cabin_id)
    await engine.dispose()
    assert agent_seq == 0
    assert states == [State.CLOSED] * len(ids)
    # The patient who opposed has nothing in the shared record; the amended report is a chain.
    by_consultation = [d.title for d in documents]
    assert len(by_consultation) == 3  # case 1, case 3 v1 and v2
    assert [d.status for d in documents][-2:] == [
        DocumentStatus.DEPRECATED,
        DocumentStatus.APPROVED,
    ]
    assert referrals == [ids[1]]  # the patient without médecin traitant was referred


async def test_export_consultation_writes_documents_an_integrator_can_check(
    app: FastAPI,
    settings: Settings,
    demo: DemoSeed,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = await _seed(settings, app.state.hub)
    cdas: dict[str, bytes] = {}
    codes: set[str] = set()
    panels: list[dict[str, Any]] = []
    for cid in ids:
        out = tmp_path / f"c{cid}"
        code = await _export(settings, cid, out)
        assert code == 0
        names = sorted(p.name for p in out.iterdir())
        assert [n.split("-", 3)[-1] for n in names] == [
            "IHE_XDM.ZIP",
            "TLM-CR.xml",
            "compte-rendu.pdf",
            "fhir-bundle.json",
        ]
        (cda_path,) = out.glob("*-TLM-CR.xml")
        cdas[f"c{cid}"] = cda_path.read_bytes()
        (zip_path,) = out.glob("*-IHE_XDM.ZIP")
        archive = zipfile.ZipFile(io.BytesIO(zip_path.read_bytes()))
        assert sorted(archive.namelist()) == [
            "IHE_XDM/SUBSET01/DOC0001.XML",
            "IHE_XDM/SUBSET01/METADATA.XML",
            "INDEX.HTM",
            "README.TXT",
        ]
        assert archive.read("IHE_XDM/SUBSET01/DOC0001.XML") == cdas[f"c{cid}"]
        (bundle_path,) = out.glob("*-fhir-bundle.json")
        bundle = Bundle.model_validate(json.loads(bundle_path.read_text(encoding="utf-8")))
        kinds = {e.resource.__resource_type__ for e in bundle.entry or []}
        assert {"Patient", "Encounter", "DocumentReference", "AuditEvent"} <= kinds
        # The stored cuff readings come out as blood pressure panels, never as loose pressures.
        observations = [
            e["resource"]
            for e in json.loads(bundle_path.read_text(encoding="utf-8"))["entry"]
            if e["resource"]["resourceType"] == "Observation"
        ]
        codes |= {c["code"] for o in observations for c in o["code"]["coding"]}
        panels += [o for o in observations if o["code"]["coding"][0]["code"] == "85354-9"]
    assert len(panels) == 2 and not {"8480-6", "8462-4"} & codes  # two cases took a pressure
    assert all(len(p["component"]) == 2 and "valueQuantity" not in p for p in panels)
    printed = capsys.readouterr().out
    assert "TLM-CR.xml" in printed
    verdicts = validate_cda(
        cdas, workdir=tmp_path, cache_dir=Path(".pytest_cache") / "cda-validator"
    )
    for name, verdict in verdicts.items():
        assert verdict.passed, (name, verdict.output)


async def test_export_of_a_consultation_without_report_says_so(
    settings: Settings, demo: DemoSeed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _export(settings, 999, tmp_path) == 2
    assert "introuvable" in capsys.readouterr().err
    assert not await asyncio.to_thread(lambda: any(tmp_path.iterdir()))


async def _export(settings: Settings, consultation_id: int, out: Path) -> int:
    """The command's function, run in a thread: it starts its own event loop."""
    return await asyncio.to_thread(
        cmd_export_consultation,
        settings,
        argparse.Namespace(consultation_id=consultation_id, out=str(out)),
    )


async def test_the_doctor_finds_their_finished_consultations_to_correct_a_report(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, demo: DemoSeed
) -> None:
    ids = await _seed(settings, app.state.hub)
    await login(client, "medecin")
    home = text(await client.get("/medecin"))
    for name in ("GARNIER Odette Marie", "HADDAD Karim", "LEFORT Manon"):
        assert name in home
    assert f'href="/medecin/consultations/{ids[2]}#compte-rendu"' in home
    console = text(await client.get(f"/medecin/consultations/{ids[2]}"))
    assert "Version 2" in console and "Ouvrir une nouvelle version" in console
