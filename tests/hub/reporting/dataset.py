"""A seeded year of activity with known indicators, written straight into the tables.

The tests' CPTS's four sites; all times are Paris local time. The expected values are worked out
by hand in ``EXPECTED`` below and in the tests' docstrings.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.consultation.models import Consultation, State
from hub.identity.models import Site
from hub.notify.models import Channel as MessageChannel
from hub.notify.models import MessageStatus, OutboundMessage
from hub.records.patients import Patient, Sex
from hub.relay.models import Referral, RelayDoctor
from hub.reports.models import Orientation, Report, ReportStatus
from hub.scheduling.models import Booking, BookingStatus, Channel, Slot
from tests.support.factories import CLOS_MORTIER, FACILITY, LA_NOUE, MOBILE_KIT

PARIS = ZoneInfo("Europe/Paris")
_counter = itertools.count(1)


def paris(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """A Paris wall-clock time as an aware datetime."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=PARIS)


@dataclass
class Seeder:
    """Writes patients, bookings, consultations, reports, relays and referrals."""

    session: AsyncSession
    organisation_id: int = 0
    sites: dict[str, int] = field(default_factory=dict)
    relay_doctor_id: int = 0

    @classmethod
    async def on_demo(cls, session: AsyncSession) -> Seeder:
        sites = {s.name: s for s in await session.scalars(select(Site))}
        doctor = await session.scalar(select(RelayDoctor.id).limit(1))
        assert doctor is not None
        return cls(
            session,
            organisation_id=sites[CLOS_MORTIER].organisation_id,
            sites={name: s.id for name, s in sites.items()},
            relay_doctor_id=doctor,
        )

    async def patient(self, has_mt: bool | None) -> int:
        n = next(_counter)
        p = Patient(
            organisation_id=self.organisation_id,
            birth_name=f"Patient{n}",
            birth_name_key=f"PATIENT{n}",
            first_names="Test",
            birth_date=dt.date(1960, 1, 1),
            sex=Sex.FEMALE,
            has_medecin_traitant=has_mt,
        )
        self.session.add(p)
        await self.session.flush()
        return p.id

    async def booking(
        self,
        site: str,
        starts_at: dt.datetime,
        patient_id: int,
        *,
        status: BookingStatus = BookingStatus.BOOKED,
        requested_hours_before: float = 1,
        rule_id: int | None = None,
    ) -> Booking:
        site_id = self.sites[site]
        slot = Slot(
            site_id=site_id,
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(minutes=20),
            seats=1,
            rule_id=rule_id,
        )
        self.session.add(slot)
        await self.session.flush()
        booking = Booking(
            reference=f"T{next(_counter):09d}",
            slot_id=slot.id,
            seat=None if status is BookingStatus.CANCELLED else 1,
            site_id=site_id,
            patient_id=patient_id,
            starts_at=starts_at,
            channel=Channel.PHONE,
            status=status,
            care_requested_at=starts_at - dt.timedelta(hours=requested_hours_before),
            link_nonce=uuid.uuid4().hex,
        )
        self.session.add(booking)
        await self.session.flush()
        return booking

    async def visit(
        self,
        site: str,
        starts_at: dt.datetime,
        patient_id: int,
        *,
        delay_hours: float,
        orientation: Orientation | None = Orientation.MEDECIN_TRAITANT,
        psychiatric: bool = False,
        state: State = State.CLOSED,
        started: bool = True,
        rule_id: int | None = None,
    ) -> int:
        """A consultation at ``starts_at``, care asked ``delay_hours`` before; with a signed
        report of that orientation unless ``orientation`` is None. Returns its id."""
        booking = await self.booking(
            site, starts_at, patient_id, requested_hours_before=delay_hours, rule_id=rule_id
        )
        c = Consultation(
            booking_id=booking.id,
            site_id=booking.site_id,
            patient_id=patient_id,
            state=state,
            started_at=starts_at if started else None,
        )
        self.session.add(c)
        await self.session.flush()
        if orientation is not None:
            await self.report(c.id, orientation=orientation, psychiatric=psychiatric)
        return c.id

    async def report(
        self,
        consultation_id: int,
        *,
        orientation: Orientation,
        psychiatric: bool = False,
        version: int = 1,
        status: ReportStatus = ReportStatus.SIGNED,
    ) -> int:
        r = Report(
            consultation_id=consultation_id,
            version=version,
            document_oid=f"2.25.{uuid.uuid4().int}",
            set_oid=f"2.25.set{consultation_id}",
            status=status,
            orientation=orientation,
            psychiatric=psychiatric,
        )
        self.session.add(r)
        await self.session.flush()
        return r.id

    async def latest_report_id(self, consultation_id: int) -> int:
        rid = await self.session.scalar(
            select(Report.id)
            .where(Report.consultation_id == consultation_id)
            .order_by(Report.version.desc())
        )
        assert rid is not None
        return rid

    async def relay(
        self, report_id: int, purpose: str, status: MessageStatus, related_kind: str = "report"
    ) -> None:
        self.session.add(
            OutboundMessage(
                channel=MessageChannel.EMAIL,
                recipient="dr@example.invalid",
                body_text="CR",
                body_html=None,
                purpose=purpose,
                related_kind=related_kind,
                related_id=report_id,
                status=status,
                next_attempt_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                last_error=None,
                provider_id=None,
                sent_at=None,
            )
        )
        await self.session.flush()

    async def referral(self, consultation_id: int) -> None:
        self.session.add(
            Referral(consultation_id=consultation_id, relay_doctor_id=self.relay_doctor_id)
        )
        await self.session.flush()


async def seed_year_2025(session: AsyncSession) -> Seeder:
    """The reference data set: see ``EXPECTED``."""
    s = await Seeder.on_demo(session)
    p = [await s.patient(v) for v in (False,) * 6 + (True, True, None)]  # P1..P9 at Clos Mortier
    relais, physique = Orientation.RELAY, Orientation.PHYSICAL
    urgences, mt = Orientation.EMERGENCY, Orientation.MEDECIN_TRAITANT
    cm = CLOS_MORTIER
    c1 = await s.visit(cm, paris(2025, 1, 10), p[0], delay_hours=3, orientation=relais)
    await s.visit(cm, paris(2025, 2, 3), p[1], delay_hours=20, orientation=physique)
    c3 = await s.visit(cm, paris(2025, 3, 3), p[2], delay_hours=24, orientation=relais)
    await s.visit(cm, paris(2025, 4, 7), p[3], delay_hours=30, orientation=urgences)
    await s.visit(cm, paris(2025, 5, 5), p[4], delay_hours=47, orientation=relais, psychiatric=True)
    c6 = await s.visit(
        cm, paris(2025, 6, 2), p[5], delay_hours=72, orientation=None, state=State.REPORTING
    )
    await s.report(c6, orientation=urgences, status=ReportStatus.DRAFT)
    # c7: signed v1 (physical, psychiatric), amended v2 (back to the MT), draft v3 ignored.
    c7 = await s.visit(
        cm, paris(2025, 7, 7), p[6], delay_hours=5, orientation=physique, psychiatric=True
    )
    c7_v1 = await s.latest_report_id(c7)
    await s.report(c7, orientation=mt, version=2)
    await s.report(c7, orientation=urgences, psychiatric=True, version=3, status=ReportStatus.DRAFT)
    c8 = await s.visit(cm, paris(2025, 8, 4), p[7], delay_hours=10, orientation=mt)
    c9 = await s.visit(cm, paris(2025, 9, 1), p[8], delay_hours=4, orientation=mt, started=False)
    c10 = await s.visit(cm, paris(2025, 10, 6), p[0], delay_hours=2, orientation=relais)
    await s.referral(c1)
    await s.referral(c3)
    await s.relay(await s.latest_report_id(c1), "referral_report", MessageStatus.SENT)
    await s.relay(c7_v1, "report_relay", MessageStatus.SENT)  # relayed before the amendment
    await s.relay(await s.latest_report_id(c8), "report_relay", MessageStatus.FAILED)
    await s.relay(await s.latest_report_id(c9), "report_relay", MessageStatus.PENDING)
    await s.relay(await s.latest_report_id(c10), "referral_report", MessageStatus.CANCELLED)
    await s.relay(await s.latest_report_id(c10), "referral", MessageStatus.SENT)  # not a report
    await s.relay(await s.latest_report_id(c8), "report_relay", MessageStatus.SENT, "booking")
    # Clos Mortier's other bookings: two no-shows and three cancellations in March, one
    # aborted consultation (its booking was due, and honoured).
    for day in (10, 17):
        await s.booking(cm, paris(2025, 3, day), p[1], status=BookingStatus.NO_SHOW)
    for day in (11, 18, 25):
        await s.booking(cm, paris(2025, 3, day), p[2], status=BookingStatus.CANCELLED)
    await s.visit(cm, paris(2025, 4, 14), p[3], delay_hours=1, state=State.ABORTED)
    # Outside the period: not counted.
    await s.visit(cm, paris(2024, 12, 30), p[0], delay_hours=1)
    await s.visit(cm, paris(2026, 1, 5), p[0], delay_hours=1)

    p10 = await s.patient(False)
    await s.visit(LA_NOUE, paris(2025, 11, 3), p10, delay_hours=12, orientation=urgences)
    await s.booking(LA_NOUE, paris(2025, 11, 10), p10, status=BookingStatus.NO_SHOW)

    residents = [await s.patient(None), await s.patient(None)]
    await s.visit(
        FACILITY, paris(2025, 6, 12, 14), residents[0], delay_hours=48, orientation=physique
    )
    await s.visit(
        FACILITY, paris(2025, 6, 12, 14, 30), residents[1], delay_hours=49, orientation=physique
    )
    p13 = await s.patient(True)
    await s.visit(MOBILE_KIT, paris(2025, 12, 1), p13, delay_hours=1, orientation=mt)
    await session.commit()
    return s


# Worked out by hand from seed_year_2025, for 2025-01-01 → 2025-12-31.
EXPECTED_CLOS_MORTIER = {
    "consultations_done": 10,
    "patients_seen": 9,
    "patients_without_mt": 6,
    "patients_with_mt": 2,
    "patients_mt_unknown": 1,
    "delay_measured": 9,  # c9's start was not recorded
    "within_24h": 6,  # 2, 3, 5, 10, 20, 24 h
    "within_48h": 8,  # + 30, 47 h
    "median_delay_hours": 20.0,  # of 2 3 5 10 20 24 30 47 72
    "bookings_due": 13,  # 10 done + 2 no-shows + 1 aborted
    "no_shows": 2,
    "cancelled": 3,
    "dependent_facility": 0,
    "dependent_mobile_kit": 0,
    "psychiatric": 1,  # c5; c7's latest signed version is not psychiatric
    "without_signed_report": 1,  # c6: draft only
    "referrals": 2,
    "relays_to_mt": 3,
    "relays_to_relay_doctor": 2,
    "relays_sent": 2,
    "relays_pending": 1,
    "relays_failed": 1,
    "relays_cancelled": 1,
}
EXPECTED_CPTS = {
    "consultations_done": 14,
    "patients_seen": 13,
    "patients_without_mt": 7,
    "patients_with_mt": 3,
    "patients_mt_unknown": 3,
    "delay_measured": 13,
    "within_24h": 8,  # 1 2 3 5 10 12 20 24
    "within_48h": 11,  # + 30 47 48
    "median_delay_hours": 20.0,  # 7th of 13
    "bookings_due": 18,
    "no_shows": 3,
    "cancelled": 3,
    "dependent_facility": 2,
    "dependent_mobile_kit": 1,
    "psychiatric": 1,
    "without_signed_report": 1,
    "referrals": 2,
    "relays_to_mt": 3,
    "relays_to_relay_doctor": 2,
    "relays_sent": 2,
    "relays_pending": 1,
    "relays_failed": 1,
    "relays_cancelled": 1,
}
EXPECTED_ORIENTATIONS_CPTS = {
    Orientation.MEDECIN_TRAITANT: 4,  # c7 (v2), c8, c9, kit
    Orientation.PHYSICAL: 3,  # c2, two residents
    Orientation.RELAY: 4,  # c1, c3, c5, c10
    Orientation.EMERGENCY: 2,  # c4, La Noue
}
