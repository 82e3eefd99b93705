"""``python -m hub export-consultation ID --out DIR``: a consultation's documents as an
integrator checks them — the CDA R2 TLM-CR of its latest signed report (and its PDF), the
IHE_XDM.ZIP that is sent to the médecin traitant, and the FHIR bundle (JSON)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub import db
from hub.audit.service import ACTION_LABELS, events_about
from hub.config import Settings
from hub.consultation.service import consultation_by_id
from hub.errors import HubError, NotFound
from hub.identity import service as identity_service
from hub.records.documents import document_ids_of
from hub.reports.fhir_audit import AccessFacts
from hub.reports.fhir_export import consultation_bundle
from hub.reports.gather import facts_of
from hub.reports.publication import sender_address
from hub.reports.service import latest_signed
from hub.reports.xdm import build_xdm_zip

if TYPE_CHECKING:
    from hub.consultation.models import Consultation

PLACEHOLDER_RECIPIENT = "destinataire@exemple.invalid"


async def accesses_of(*, session: AsyncSession, consultation: Consultation) -> list[AccessFacts]:
    """The audit events about this consultation and its patient's data, oldest first."""
    documents = await document_ids_of(session=session, patient_id=consultation.patient_id)
    targets = [
        f"patient:{consultation.patient_id}",
        f"consultation:{consultation.id}",
        *(f"document:{d}" for d in documents),
    ]
    events = await events_about(session=session, targets=targets)
    users = await identity_service.actors_of(session=session, events=events)
    site_ids = {e.site_id for e in events if e.site_id}
    sites = await identity_service.sites_by_id(session=session, site_ids=site_ids)
    accesses = []
    for e in events:
        user = users.get(e.actor_id or 0) if e.actor_kind == "user" else None
        site = sites.get(e.site_id or 0)
        accesses.append(
            AccessFacts(
                at=e.at,
                actor_kind=e.actor_kind,
                actor_id=e.actor_id,
                actor_name=user.full_name if user else e.actor_kind,
                actor_role=user.role.label if user else "",
                action=e.action,
                action_label=ACTION_LABELS.get(e.action, e.action),
                outcome=e.outcome,
                site_name=site.name if site else "",
                target=e.target,
                actor_rpps=user.rpps if user else "",
            )
        )
    return accesses


async def export_consultation(
    *, session: AsyncSession, settings: Settings, consultation_id: int
) -> dict[str, bytes]:
    """The consultation's documents, by file name."""
    consultation = await consultation_by_id(session=session, consultation_id=consultation_id)
    if consultation is None:
        raise NotFound(f"Consultation {consultation_id} introuvable.")
    report = await latest_signed(session=session, consultation_id=consultation_id)
    if report is None or report.cda is None:
        raise NotFound(f"La consultation {consultation_id} n'a pas de compte rendu signé.")
    facts = await facts_of(session=session, report=report, oid_root=settings.oid_root)
    stem = f"consultation-{consultation_id}-v{report.version}"
    files = {f"{stem}-TLM-CR.xml": report.cda}
    if report.pdf:
        files[f"{stem}-compte-rendu.pdf"] = report.pdf
    files[f"{stem}-IHE_XDM.ZIP"] = build_xdm_zip(
        facts,
        report.cda,
        sender=sender_address(settings),
        recipient=facts.medecin_traitant_mssante or PLACEHOLDER_RECIPIENT,
    )
    bundle = consultation_bundle(
        facts,
        cda=report.cda,
        pdf=report.pdf,
        accesses=await accesses_of(session=session, consultation=consultation),
        base_url=settings.base_url,
    )
    files[f"{stem}-fhir-bundle.json"] = json.dumps(bundle, ensure_ascii=False, indent=2).encode()
    return files


async def _run(settings: Settings, consultation_id: int) -> dict[str, bytes]:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            return await export_consultation(
                session=session, settings=settings, consultation_id=consultation_id
            )
    finally:
        await engine.dispose()


def cmd_export_consultation(settings: Settings, args: argparse.Namespace) -> int:
    try:
        files = asyncio.run(_run(settings, args.consultation_id))
    except HubError as exc:
        print(f"Erreur : {exc.message}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_bytes(content)
        print(out / name)
    return 0
