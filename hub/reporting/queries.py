"""Read-only queries into the other slices' tables: the facts the indicators are made of.

Nothing here writes; nothing leaves this module but plain frozen values (no ORM objects), and
no patient identity beyond the internal ids needed to count distinct patients.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.consultation.models import Consultation, State
from hub.identity.models import Organisation, Site, SiteKind
from hub.notify.models import OutboundMessage
from hub.records.patients import Patient
from hub.relay.models import Referral
from hub.reports.models import Orientation, Report, ReportStatus
from hub.scheduling.models import Booking, BookingStatus

DONE_STATES = (State.REPORTING, State.CLOSED)
RELAY_PURPOSES = ("report_relay", "referral_report")
_CHUNK = 500  # ids per IN (...) list: well under every backend's parameter limit


@dataclass(frozen=True, slots=True)
class SiteFact:
    id: int
    name: str
    kind: SiteKind
    timezone: str


@dataclass(frozen=True, slots=True)
class BookingFact:
    site_id: int
    starts_at: dt.datetime
    status: BookingStatus


@dataclass(frozen=True, slots=True)
class ConsultationFact:
    """A consultation done (state reporting or closed) and the times of its booking."""

    id: int
    site_id: int
    patient_id: int
    started_at: dt.datetime | None
    booking_starts_at: dt.datetime
    care_requested_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ReportFact:
    orientation: Orientation
    psychiatric: bool


@dataclass(frozen=True, slots=True)
class RelayFact:
    purpose: str
    status: str


@dataclass(frozen=True, slots=True)
class Facts:
    sites: dict[int, SiteFact]
    bookings: tuple[BookingFact, ...]
    consultations: tuple[ConsultationFact, ...]
    has_medecin_traitant: dict[int, bool | None]  # by patient id
    latest_signed: dict[int, ReportFact]  # by consultation id
    relays: dict[int, tuple[RelayFact, ...]]  # by consultation id
    referrals: dict[int, int]  # by consultation id


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


async def sites_of(*, session: AsyncSession, organisation_id: int) -> list[SiteFact]:
    """The CPTS's sites, by name."""
    rows = await session.execute(
        select(Site.id, Site.name, Site.kind, Site.timezone)
        .where(Site.organisation_id == organisation_id)
        .order_by(Site.name)
    )
    return [SiteFact(i, n, k, tz) for i, n, k, tz in rows]


async def organisation_name(*, session: AsyncSession, organisation_id: int) -> str:
    return str(
        await session.scalar(select(Organisation.name).where(Organisation.id == organisation_id))
        or ""
    )


async def organisation_ids(*, session: AsyncSession) -> dict[str, int]:
    """Every CPTS's id by slug (for the command line)."""
    rows = await session.execute(select(Organisation.slug, Organisation.id))
    return {slug: oid for slug, oid in rows}


async def latest_booking_before(
    *, session: AsyncSession, organisation_id: int, before: dt.datetime
) -> dt.datetime | None:
    """When the CPTS's latest appointment before ``before`` was (UTC), None if it had none."""
    latest: dt.datetime | None = await session.scalar(
        select(func.max(Booking.starts_at))
        .join(Site, Site.id == Booking.site_id)
        .where(Site.organisation_id == organisation_id, Booking.starts_at < before)
    )
    return latest


async def load_facts(
    *,
    session: AsyncSession,
    sites: Sequence[SiteFact],
    period_bounds: tuple[dt.datetime, dt.datetime],
) -> Facts:
    """Bookings and consultations done of these sites in a UTC range, with what hangs on them."""
    low, high = period_bounds
    site_ids = [s.id for s in sites]
    bookings = await session.execute(
        select(Booking.site_id, Booking.starts_at, Booking.status).where(
            Booking.site_id.in_(site_ids), Booking.starts_at >= low, Booking.starts_at < high
        )
    )
    consultations = await session.execute(
        select(
            Consultation.id,
            Consultation.site_id,
            Consultation.patient_id,
            Consultation.started_at,
            Booking.starts_at,
            Booking.care_requested_at,
        )
        .join(Booking, Booking.id == Consultation.booking_id)
        .where(
            Consultation.site_id.in_(site_ids),
            Consultation.state.in_(DONE_STATES),
            or_(
                and_(Consultation.started_at >= low, Consultation.started_at < high),
                and_(Booking.starts_at >= low, Booking.starts_at < high),
            ),
        )
    )
    done = tuple(ConsultationFact(*row) for row in consultations)
    consultation_ids = [c.id for c in done]
    patient_ids = sorted({c.patient_id for c in done})
    return Facts(
        sites={s.id: s for s in sites},
        bookings=tuple(BookingFact(*row) for row in bookings),
        consultations=done,
        has_medecin_traitant=await _medecin_traitant(session, patient_ids),
        latest_signed=await _latest_signed(session, consultation_ids),
        relays=await _relays(session, consultation_ids),
        referrals=await _referrals(session, consultation_ids),
    )


async def _medecin_traitant(
    session: AsyncSession, patient_ids: Sequence[int]
) -> dict[int, bool | None]:
    out: dict[int, bool | None] = {}
    for ids in _chunks(patient_ids):
        rows = await session.execute(
            select(Patient.id, Patient.has_medecin_traitant).where(Patient.id.in_(ids))
        )
        out.update({pid: has for pid, has in rows})
    return out


async def _latest_signed(
    session: AsyncSession, consultation_ids: Sequence[int]
) -> dict[int, ReportFact]:
    out: dict[int, tuple[int, ReportFact]] = {}
    for ids in _chunks(consultation_ids):
        rows = await session.execute(
            select(
                Report.consultation_id, Report.version, Report.orientation, Report.psychiatric
            ).where(Report.consultation_id.in_(ids), Report.status == ReportStatus.SIGNED)
        )
        for cid, version, orientation, psychiatric in rows:
            if cid not in out or version > out[cid][0]:
                out[cid] = (version, ReportFact(orientation, psychiatric))
    return {cid: fact for cid, (_, fact) in out.items()}


async def _relays(
    session: AsyncSession, consultation_ids: Sequence[int]
) -> dict[int, tuple[RelayFact, ...]]:
    out: dict[int, list[RelayFact]] = defaultdict(list)
    for ids in _chunks(consultation_ids):
        # Two indexed lookups (reports of these consultations, then their messages) rather
        # than a join the SQLite planner may run as a scan of every report message.
        reports = await session.execute(
            select(Report.id, Report.consultation_id).where(Report.consultation_id.in_(ids))
        )
        report_of: dict[int, int] = {rid: cid for rid, cid in reports}
        if not report_of:
            continue
        rows = await session.execute(
            select(
                OutboundMessage.related_id, OutboundMessage.purpose, OutboundMessage.status
            ).where(
                OutboundMessage.related_kind == "report",
                OutboundMessage.related_id.in_(list(report_of)),
                OutboundMessage.purpose.in_(RELAY_PURPOSES),
            )
        )
        for report_id, purpose, status in rows:
            if report_id is not None:
                out[report_of[report_id]].append(RelayFact(purpose, str(status.value)))
    return {cid: tuple(facts) for cid, facts in out.items()}


async def _referrals(session: AsyncSession, consultation_ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for ids in _chunks(consultation_ids):
        rows = await session.execute(
            select(Referral.consultation_id, func.count())
            .where(Referral.consultation_id.in_(ids))
            .group_by(Referral.consultation_id)
        )
        out.update({cid: int(n) for cid, n in rows})
    return out
