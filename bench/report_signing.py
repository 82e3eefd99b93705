#!/usr/bin/env python
"""Report signing benchmark: what signing a teleconsultation report costs the hub.

Migrates a fresh SQLite file, seeds the demo CPTS and its past consultations (which also warms
up reportlab and lxml), then builds consultations in state ``reporting`` with a few
measurements each. Each report is signed the way the doctor's report page does it: the draft
is saved first (not timed), then ``report_service.sign`` (PDF and CDA generated),
``publication.publish`` (shared-record deposit, MSSanté XDM relay into the outbox, patient
link) and the commit are timed together. The generators are then timed alone on the same
facts: the PDF, the CDA and the XDM zip. The baseline, measured in the same run and
interleaved with the signatures, is a plain report-row insert (the texts, no generation) and
its commit.

    .venv/bin/python bench/report_signing.py [--reports 30]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub import db, migrate  # noqa: E402
from hub.config import Environment, Settings  # noqa: E402
from hub.consultation.models import Consultation, DmpChoice  # noqa: E402
from hub.context import HubContext  # noqa: E402
from hub.demo import CLOS_MORTIER, DEMO_ORG_SLUG, seed_demo  # noqa: E402
from hub.demo_history import PAST_CASES, add_past_consultation, seed_demo_history  # noqa: E402
from hub.identity.models import Cabin, Organisation, Site, User  # noqa: E402
from hub.notify.models import OutboundMessage  # noqa: E402
from hub.records.documents import SharedDocument  # noqa: E402
from hub.records.ins import name_key  # noqa: E402
from hub.records.patients import IdentityStatus, Patient, Sex  # noqa: E402
from hub.rendering import make_templates  # noqa: E402
from hub.reports import gather as report_facts  # noqa: E402
from hub.reports import publication  # noqa: E402
from hub.reports import service as report_service  # noqa: E402
from hub.reports.cda import build_tlm_cr  # noqa: E402
from hub.reports.models import Report  # noqa: E402
from hub.reports.pdf import render_report_pdf  # noqa: E402
from hub.reports.xdm import build_xdm_zip  # noqa: E402

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
MT_ADDRESS = "henri.lacombe@medecin.mssante.invalid"

DRAFT = report_service.ReportDraft(
    reason="Toux fébrile depuis trois jours",
    examination=(
        "Patiente fatiguée, eupnéique au repos. Auscultation : crépitants de la base droite. "
        "Gorge et tympans normaux. Pas de signe de lutte respiratoire, pas de marbrures. "
        "Abdomen souple, indolore. Mollets souples."
    ),
    conclusion="Suspicion de pneumopathie communautaire sans signe de gravité.",
    prescriptions=(
        "Amoxicilline 1 g, 3 fois par jour pendant 7 jours.\n"
        "Paracétamol 1 g si fièvre, 4 fois par jour au plus.\n"
        "Radiographie thoracique de face.\n"
        "Reconsulter en cas d'aggravation ou de fièvre persistante au-delà de 72 heures."
    ),
    orientation="medecin_traitant",
    doctor_act="TCG",
    nurse_act="TLL",
)

# (kind, value, unit, LOINC, minutes after the start, device model, serial): the oximeter
# streams, so it sends several readings; the report keeps its last one.
MEASUREMENTS = (
    ("body_temperature", 38.4, "Cel", "8310-5", 3, "Thermomètre BLE (démo)", "TH-0042"),
    ("spo2", 96.0, "%", "59408-5", 4, "Contec CMS50D+", "0015"),
    ("pulse_rate", 94.0, "/min", "8867-4", 4, "Contec CMS50D+", "0015"),
    ("spo2", 95.0, "%", "59408-5", 5, "Contec CMS50D+", "0015"),
    ("pulse_rate", 92.0, "/min", "8867-4", 5, "Contec CMS50D+", "0015"),
    ("blood_pressure_systolic", 128.0, "mm[Hg]", "8480-6", 6, "Tensiomètre BLE (démo)", "BP-7"),
    ("blood_pressure_diastolic", 79.0, "mm[Hg]", "8462-4", 6, "Tensiomètre BLE (démo)", "BP-7"),
)


@dataclass(frozen=True, slots=True)
class Signed:
    """Seconds spent on one report, and the sizes of what was generated."""

    total: float
    pdf: float
    cda: float
    xdm: float
    pdf_bytes: int
    cda_bytes: int
    zip_bytes: int


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def make_context(url: str) -> HubContext:
    settings = Settings(
        environment=Environment.TEST,
        database_url=url,
        secret_key=SecretStr(SECRET),
        jobs_enabled=False,
    )
    engine = db.make_engine(url)
    return HubContext(
        settings=settings,
        engine=engine,
        sessions=db.make_session_factory(engine),
        templates=make_templates(),
        clock=lambda: dt.datetime.now(dt.UTC),
    )


async def add_consultation(session: AsyncSession, *, index: int, measured: bool) -> int:
    """A consultation in state reporting at the demo room, built as ``hub.demo_history``
    builds its past ones; returns its id."""
    org = (
        await session.scalars(select(Organisation).where(Organisation.slug == DEMO_ORG_SLUG))
    ).one()
    site = (await session.scalars(select(Site).where(Site.name == CLOS_MORTIER))).one()
    cabin = (await session.scalars(select(Cabin).where(Cabin.site_id == site.id))).first()
    doctor = (await session.scalars(select(User).where(User.username == "medecin"))).one()
    nurse = (await session.scalars(select(User).where(User.username == "infirmiere"))).one()
    assert cabin is not None
    patient = Patient(
        organisation_id=org.id,
        birth_name=f"BANC{index:05d}",
        birth_name_key=name_key(f"BANC{index:05d}"),
        first_names="Odette Marie",
        birth_date=dt.date(1949, 5, 17),
        sex=Sex.FEMALE,
        nir="249055244800197",
        birth_place_code="52448",
        identity_status=IdentityStatus.QUALIFIED,
        email=f"patient{index}@example.invalid",
        has_medecin_traitant=True,
        medecin_traitant_name="Dr Henri Lacombe (démonstration)",
        medecin_traitant_mssante=MT_ADDRESS,
    )
    session.add(patient)
    await session.flush()
    # Past days at 05:00 UTC: no clash with the demo's slots (future) or its history (8–10 h).
    start = dt.datetime.combine(
        dt.date.today() - dt.timedelta(days=20 + index), dt.time(5), tzinfo=dt.UTC
    )
    case = dataclasses.replace(
        PAST_CASES[0],
        reason=DRAFT.reason,
        dmp=DmpChoice.ACCEPTS,
        measurements=MEASUREMENTS if measured else (),
    )
    consultation = await add_past_consultation(
        session,
        patient=patient,
        case=case,
        site=site,
        cabin=cabin,
        doctor=doctor,
        nurse=nurse,
        start=start,
    )
    return consultation.id


async def prepare(ctx: HubContext, count: int) -> tuple[list[int], list[int]]:
    """Seed the demo CPTS and its history; returns consultations to sign and to baseline."""
    to_sign: list[int] = []
    to_insert: list[int] = []
    async with ctx.sessions() as session:
        await seed_demo(session=session)
        await seed_demo_history(session=session, ctx=ctx)  # the warm-up: three signatures
        for i in range(count):
            to_sign.append(await add_consultation(session, index=2 * i, measured=True))
            to_insert.append(await add_consultation(session, index=2 * i + 1, measured=False))
        await session.commit()
    return to_sign, to_insert


async def sign_one(ctx: HubContext, consultation_id: int) -> Signed:
    """Sign and publish one report as the report page does; time the generators alone too."""
    async with ctx.sessions() as session:
        consultation = await session.get(Consultation, consultation_id)
        assert consultation is not None and consultation.doctor_id is not None
        doctor = await session.get(User, consultation.doctor_id)
        assert doctor is not None
        await report_service.save_draft(
            session=session, ctx=ctx, user=doctor, consultation=consultation, draft=DRAFT
        )
        start = time.perf_counter()
        report, _ = await publication.sign_and_publish(
            session=session, ctx=ctx, user=doctor, consultation=consultation, draft=DRAFT
        )
        total = time.perf_counter() - start
        facts = await report_facts.facts_of(session=session, report=report)

    t0 = time.perf_counter()
    pdf = render_report_pdf(facts)
    t1 = time.perf_counter()
    cda = build_tlm_cr(facts, pdf)
    t2 = time.perf_counter()
    package = build_xdm_zip(
        facts, cda, sender=publication.sender_address(ctx.settings), recipient=MT_ADDRESS
    )
    t3 = time.perf_counter()
    return Signed(total, t1 - t0, t2 - t1, t3 - t2, len(pdf), len(cda), len(package))


async def insert_one(ctx: HubContext, consultation_id: int) -> float:
    """Seconds to insert and commit a plain report row with the same texts (the baseline)."""
    async with ctx.sessions() as session:
        consultation = await session.get(Consultation, consultation_id)
        assert consultation is not None
        now = ctx.clock()
        start = time.perf_counter()
        session.add(
            Report(
                consultation_id=consultation_id,
                version=1,
                document_oid=report_service.new_oid(),
                set_oid=report_service.new_oid(),
                reason=DRAFT.reason,
                examination=DRAFT.examination,
                conclusion=DRAFT.conclusion,
                prescriptions=DRAFT.prescriptions,
                author_id=consultation.doctor_id,
                created_at=now,
                updated_at=now,
            )
        )
        await session.commit()
        return time.perf_counter() - start


async def outcome(ctx: HubContext) -> tuple[int, int, int]:
    """(documents deposited, MSSanté relays queued, patient-link e-mails queued)."""
    async with ctx.sessions() as session:
        deposited = await session.scalar(select(func.count()).select_from(SharedDocument))
        relays = await session.scalar(
            select(func.count()).where(OutboundMessage.purpose == "report_relay")
        )
        links = await session.scalar(
            select(func.count()).where(OutboundMessage.related_kind == "patient")
        )
    return int(deposited or 0), int(relays or 0), int(links or 0)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def summary(label: str, values: list[float]) -> str:
    return (
        f"{label:<34} p50 {ms(percentile(values, 0.5)):>9}, p95 {ms(percentile(values, 0.95)):>9}"
    )


async def run(count: int, url: str) -> int:
    ctx = make_context(url)
    try:
        to_sign, to_insert = await prepare(ctx, count)
        before = await outcome(ctx)
        signed: list[Signed] = []
        inserts: list[float] = []
        for sign_id, insert_id in zip(to_sign, to_insert, strict=True):
            inserts.append(await insert_one(ctx, insert_id))
            signed.append(await sign_one(ctx, sign_id))
        after = await outcome(ctx)
    finally:
        await ctx.engine.dispose()

    total = [s.total for s in signed]
    print(f"report signing: {count} reports, {len(MEASUREMENTS)} measurements each, SQLite")
    print(summary("sign + publish + commit", total))
    print(summary("  render_report_pdf", [s.pdf for s in signed]))
    print(summary("  build_tlm_cr (CDA)", [s.cda for s in signed]))
    print(summary("  build_xdm_zip", [s.xdm for s in signed]))
    print(summary("baseline (report row + commit)", inserts))
    ratio = percentile(total, 0.5) / percentile(inserts, 0.5)
    print(f"ratio signing/baseline: p50 ×{ratio:.0f}")
    print(
        f"sizes (median): PDF {statistics.median(s.pdf_bytes for s in signed):.0f} B, "
        f"CDA {statistics.median(s.cda_bytes for s in signed):.0f} B, "
        f"XDM zip {statistics.median(s.zip_bytes for s in signed):.0f} B"
    )
    deposited, relays, links = (a - b for a, b in zip(after, before, strict=True))
    print(f"published: {deposited} deposits, {relays} MSSanté relays, {links} patient links")
    return 0 if deposited == relays == links == count else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as work:
        url = f"sqlite+aiosqlite:///{Path(work) / 'hub.sqlite3'}"
        migrate.upgrade(url)
        return asyncio.run(run(args.reports, url))


if __name__ == "__main__":
    sys.exit(main())
