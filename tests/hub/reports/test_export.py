"""``python -m hub export-consultation`` on past consultations: the sample documents an
integrator checks — a CDA that passes the ANS validator, the IHE_XDM.ZIP sent to
the médecin traitant, and a FHIR bundle that validates."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B.bundle import Bundle

from hub.config import Settings
from hub.context import HubContext
from hub.reports.export import cmd_export_consultation
from tests.conftest import login, text
from tests.support import factories
from tests.support.cda import validate_cda
from tests.support.factories import CUFF_READINGS, Cpts, session_for
from tests.support.terminologie import SUBMISSION_SET_CONTENT_TYPE, classifications, jdv_j59

# Three past consultations of the tests' CPTS: two took a blood pressure, the third's report
# was corrected (a version 2).
PATIENTS = (("Garnier", "Odette Marie"), ("Haddad", "Karim"), ("Lefort", "Manon"))
AMENDMENT = "Suivi avec le médecin traitant dans quatre semaines."


async def _seed(settings: Settings, ctx: HubContext, cpts: Cpts) -> list[int]:
    today = dt.date.today()
    start = dt.datetime.combine(today - dt.timedelta(days=3), dt.time(8), tzinfo=dt.UTC)
    async with session_for(settings) as session:
        ids = []
        for i, (birth_name, first_names) in enumerate(PATIENTS):
            patient_id = (
                await factories.patient(
                    session,
                    organisation_id=cpts.organisation_id,
                    today=today,
                    birth_name=birth_name,
                    first_names=first_names,
                    birth_date=dt.date(1950 + 20 * i, 3, 14),
                )
            ).id
            ids.append(
                await factories.signed_consultation(
                    session,
                    ctx,
                    cpts=cpts,
                    patient_id=patient_id,
                    start=start + dt.timedelta(days=i),
                    readings=CUFF_READINGS if i < 2 else (),
                    amendment="Suivi avec le médecin traitant dans quatre semaines."
                    if i == 2
                    else "",
                )
            )
    return ids


async def test_export_consultation_writes_documents_an_integrator_can_check(
    app: FastAPI,
    settings: Settings,
    cpts: Cpts,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = await _seed(settings, app.state.hub, cpts)
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
        # The submission set's contentTypeCode is one of the ANS's JDV_J59 codes.
        metadata = archive.read("IHE_XDM/SUBSET01/METADATA.XML")
        [content_type] = classifications(metadata, SUBMISSION_SET_CONTENT_TYPE)
        assert (content_type.coding_scheme, content_type.code) in jdv_j59()
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
    settings: Settings, cpts: Cpts, tmp_path: Path, capsys: pytest.CaptureFixture[str]
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
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, cpts: Cpts
) -> None:
    ids = await _seed(settings, app.state.hub, cpts)
    await login(client, "medecin")
    home = text(await client.get("/medecin"))
    for name in ("GARNIER Odette Marie", "HADDAD Karim", "LEFORT Manon"):
        assert name in home
    assert f'href="/medecin/consultations/{ids[2]}#compte-rendu"' in home
    console = text(await client.get(f"/medecin/consultations/{ids[2]}"))
    assert "Version 2" in console and "Ouvrir une nouvelle version" in console
