"""The indicators' facts (``hub.reporting.facts``) kept by the database's triggers: through the
hub's own services, step by step, the indicators read from them are those of the facts
recomputed from the tables, and they move as a coordinator would expect; writes that are not
flushes (a bulk UPDATE, raw SQL) are followed too; and a database that lost its facts gets them
back with ``python -m hub reporting-facts``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import Settings
from hub.consultation import service as consultations
from hub.consultation.models import Consultation, State
from hub.context import HubContext
from hub.notify.models import OutboundMessage
from hub.notify.outbox import cancel_pending, deliver_due
from hub.records.patient_service import MedecinTraitant, set_medecin_traitant
from hub.records.patients import Patient
from hub.relay import service as relay
from hub.relay.models import RelayDoctor
from hub.reporting import facts
from hub.reporting.cli import cmd_reporting_facts
from hub.reporting.indicators import Indicators, Period, compute_indicators
from hub.reports import publication
from hub.reports import service as report_service
from hub.reports.models import Orientation
from hub.reports.service import ReportDraft
from tests.support.factories import Cpts, user_named
from tests.support.scenario import booking_now, ended_consultation, in_consultation
from tests.support.smtp import SmtpServerFixture, smtp_server

__all__ = ["smtp_server"]

PARIS = ZoneInfo("Europe/Paris")
DRAFT = ReportDraft(reason="Toux fébrile", conclusion="Bronchite aiguë, sans gravité.")


async def _consultation(session: AsyncSession, cid: int) -> Consultation:
    return await session.get_one(Consultation, cid, populate_existing=True)


async def _indicators(session: AsyncSession, organisation_id: int) -> Indicators:
    """The whole CPTS's indicators around today, from the facts as the triggers left them —
    checked equal to those of every fact recomputed from the tables (the reference)."""
    today = dt.datetime.now(PARIS).date()
    period = Period(today - dt.timedelta(days=1), today + dt.timedelta(days=1))
    now = dt.datetime.now(dt.UTC)

    async def computed() -> Indicators:
        report = await compute_indicators(
            session=session, organisation_id=organisation_id, period=period, now=now
        )
        return report.cpts

    kept = await computed()
    connection = await session.connection()
    assert await connection.run_sync(facts.differences) == 0
    await connection.run_sync(facts.rebuild)
    assert await computed() == kept
    await session.commit()
    return kept


def _moved(before: Indicators, after: Indicators) -> dict[str, object]:
    """The indicators of the consultations done that changed, with their new values (the
    bookings due depend on the hour: the booking starts a few minutes from now)."""
    old, new = dataclasses.asdict(before), dataclasses.asdict(after)
    hourly = {"bookings_due", "no_show_trend"}
    return {k: v for k, v in new.items() if v != old[k] and k not in hourly}


async def test_the_indicators_follow_a_consultation_through_the_services(
    settings: Settings,
    session: AsyncSession,
    ctx: HubContext,
    cpts: Cpts,
    smtp_server: SmtpServerFixture,
) -> None:
    org = cpts.organisation_id
    doctor = await user_named(session, "medecin")
    empty = await _indicators(session, org)
    assert empty.consultations_done == 0

    # Odile Lambert's teleconsultation has just ended: done, no report signed yet.
    cid = await ended_consultation(settings, cpts.cabin_id)
    ended = await _indicators(session, org)
    assert _moved(empty, ended) == {
        "consultations_done": 1,
        "patients_seen": 1,
        "patients_with_mt": 1,
        "delay_measured": 1,
        "within_24h": 1,
        "within_48h": 1,
        "median_delay_hours": ended.median_delay_hours,
        "without_signed_report": 1,
    }

    # Signed and relayed to her médecin traitant, then the relay delivered.
    await publication.sign_and_publish(
        session=session, ctx=ctx, user=doctor, consultation=await _consultation(session, cid),
        draft=DRAFT,
    )  # fmt: skip
    signed = await _indicators(session, org)
    assert signed.orientation(Orientation.MEDECIN_TRAITANT) == 1
    assert (signed.without_signed_report, signed.relays_to_mt, signed.relays_pending) == (0, 1, 1)
    report = await deliver_due(
        session=session, now=dt.datetime.now(dt.UTC), smtp=smtp_server.settings, sms=None
    )
    assert report.sent >= 1
    delivered = await _indicators(session, org)
    assert (delivered.relays_pending, delivered.relays_sent) == (0, 1)

    # Closed, then amended: a psychiatric consultation sent for a physical examination.
    await consultations.transition(
        session=session, ctx=ctx, user=doctor, consultation_id=cid, action="close"
    )
    await report_service.amend(
        session=session, ctx=ctx, user=doctor, consultation=await _consultation(session, cid),
        reason="Orientation corrigée",
    )  # fmt: skip
    draft = dataclasses.replace(DRAFT, orientation=Orientation.PHYSICAL.value, psychiatric=True)
    await publication.sign_and_publish(
        session=session, ctx=ctx, user=doctor, consultation=await _consultation(session, cid),
        draft=draft,
    )  # fmt: skip
    amended = await _indicators(session, org)
    assert amended.consultations_done == 1
    assert amended.orientation(Orientation.PHYSICAL) == 1
    assert amended.orientation(Orientation.MEDECIN_TRAITANT) == 0
    assert amended.psychiatric == 1
    assert (amended.relays_to_mt, amended.relays_sent, amended.relays_pending) == (2, 1, 1)

    # The pending relay withdrawn by a bulk UPDATE (no flush), the sent one kept.
    await cancel_pending(session=session, related_kind="report", related_id=await _latest(session))
    await session.commit()
    withdrawn = await _indicators(session, org)
    assert (withdrawn.relays_pending, withdrawn.relays_cancelled) == (0, 1)

    # She comes back; her record now says she has no médecin traitant (he retired): she is
    # referred to a relay doctor. A new médecin traitant is recorded later.
    other = await in_consultation(settings, await booking_now(settings), "medecin")
    await consultations.transition(
        session=session, ctx=ctx, user=doctor, consultation_id=other, action="end"
    )
    patient = await session.get_one(Patient, (await _consultation(session, other)).patient_id)
    set_medecin_traitant(patient, MedecinTraitant(declared=False))
    relay_doctor = await session.scalar(select(RelayDoctor.id).order_by(RelayDoctor.id))
    assert relay_doctor is not None
    await relay.refer(
        session=session, organisation_id=org, consultation_id=other, doctor_id=relay_doctor,
        user_id=doctor.id, note="", site_name="Clos Mortier", cpts_phone="02 99 00 00 00",
        now=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    await session.commit()
    without_mt = await _indicators(session, org)
    assert (without_mt.consultations_done, without_mt.patients_seen) == (2, 1)
    assert (without_mt.patients_without_mt, without_mt.patients_with_mt) == (1, 0)
    assert without_mt.referrals == 1
    set_medecin_traitant(
        patient,
        MedecinTraitant(declared=True, family_name="Bernard", given_name="Paul", rpps=""),
    )
    await session.commit()
    found = await _indicators(session, org)
    assert (found.patients_without_mt, found.patients_with_mt) == (0, 1)
    assert found.share_without_mt == 0.0


async def _latest(session: AsyncSession) -> int:
    """The report of the latest relay to a médecin traitant."""
    related = await session.scalar(
        select(OutboundMessage.related_id)
        .where(OutboundMessage.purpose == "report_relay")
        .order_by(OutboundMessage.id.desc())
    )
    assert related is not None
    return related


async def test_raw_sql_is_followed_and_lost_facts_are_rebuilt_by_the_command(
    settings: Settings,
    session: AsyncSession,
    cpts: Cpts,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    org = cpts.organisation_id
    cid = await ended_consultation(settings, cpts.cabin_id)
    before = await _indicators(session, org)
    # A script moves the consultation back to "in consultation" with plain SQL: not done.
    await session.execute(
        text("UPDATE consultations SET state = :state WHERE id = :id"),
        {"state": State.IN_CONSULTATION.value, "id": cid},
    )
    await session.commit()
    assert (await _indicators(session, org)).consultations_done == before.consultations_done - 1
    await session.execute(
        text("UPDATE consultations SET state = :state WHERE id = :id"),
        {"state": State.CLOSED.value, "id": cid},
    )
    # The facts lost behind the triggers' back (as a restore without triggers would leave them).
    await session.execute(text(f"DELETE FROM {facts.FACTS}"))
    await session.commit()
    connection = await session.connection()
    assert await connection.run_sync(facts.differences) == 1
    await session.commit()

    monkeypatch.setenv("HUB_DATABASE_URL", settings.database_url)
    assert await asyncio.to_thread(cmd_reporting_facts, argparse.Namespace()) == 0
    assert "1 consultation(s) réalisée(s) recalculée(s) ; 1 ligne(s) différaient" in (
        capsys.readouterr().out
    )
    assert await _indicators(session, org) == before
