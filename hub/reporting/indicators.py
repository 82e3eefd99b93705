"""The CPTS indicators over a period, per site and for the whole CPTS.

Every indicator is computed from what the hub recorded, read through the small queries of
``hub.reporting.queries``. Definitions (the period is a range of dates, both included, in each
site's time zone — Europe/Paris for every site today):

- **Consultations done**: consultations in state ``reporting`` or ``closed`` whose date falls in
  the period. A consultation's date is the day it started (``started_at``), or the day of its
  booking when the start was not recorded.
- **Patients seen**: distinct patients of the consultations done. For the whole CPTS a patient
  seen at two sites counts once.
- **Patients without médecin traitant**: patients seen whose record says they have no médecin
  traitant (MT, the GP registered with the health insurance as their regular doctor). The
  *share* is taken over the patients whose situation is known; patients whose situation was
  never asked are counted apart. The record holds the patient's current situation, not the one
  of the day of the consultation.
- **Delay to care**: from the moment care was asked for (``Booking.care_requested_at``) to the
  start of the consultation (``Consultation.started_at``), for consultations done whose start
  was recorded. Shares within 24 h and within 48 h (limits included) and the median, in hours.
  A start recorded before the request (a data-entry slip) counts as no delay.
- **No-show rate**: bookings marked ``no_show`` / bookings of the period that are not cancelled
  and whose start has passed (``now``). A cancelled booking is neither a no-show nor in the
  denominator. The **trend** is the same rate per calendar month of the period (a month that
  is only partly in the period counts only its days in the period).
- **Dependent or disabled patients**: consultations done at a ``disability_facility`` site
  (on-site sessions of a facility) or with a ``mobile_kit``.
- **Psychiatric consultations**: consultations done whose latest signed report is flagged
  psychiatric.
- **Orientations**: the orientation of the latest signed report of each consultation done
  (back to the MT, physical consultation, relay doctor, emergency); consultations done without
  a signed report are counted apart.
- **Referrals**: referrals of patients to a relay doctor recorded on the consultations done.
- **Reports relayed**: outbox messages carrying a report (any version) of the consultations
  done, to the MT (``report_relay``) or to a relay doctor (``referral_report``), and what became
  of them; the *delivery rate* is sent / (sent + pending + failed), withdrawn messages aside.

Periods do not depend on opening rules: a period spanning a schedule change counts every
booking and consultation of its days, whichever rule produced the slot.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Invalid, NotFound
from hub.identity.models import SiteKind
from hub.reporting import queries
from hub.reports.models import Orientation
from hub.scheduling.models import BookingStatus

HOURS_24 = dt.timedelta(hours=24)
HOURS_48 = dt.timedelta(hours=48)
MAX_PERIOD_DAYS = 5 * 366
DEPENDENT_KINDS = frozenset({SiteKind.DISABILITY_FACILITY, SiteKind.MOBILE_KIT})
RELAY_TO_MT = "report_relay"
RELAY_TO_RELAY_DOCTOR = "referral_report"


@dataclass(frozen=True, slots=True)
class Period:
    """Dates from ``start`` to ``end``, both included, in a site's local time."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise Invalid("La date de fin doit suivre la date de début.")
        if (self.end - self.start).days > MAX_PERIOD_DAYS:
            raise Invalid("Choisissez une période de cinq ans au plus.")

    @classmethod
    def year(cls, year: int) -> Period:
        """The calendar year."""
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31))

    def contains(self, moment: dt.datetime, timezone: str) -> bool:
        """Whether ``moment`` falls on one of the period's days at that time zone."""
        return self.start <= moment.astimezone(ZoneInfo(timezone)).date() <= self.end

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """A UTC range wide enough to hold the period in every time zone (filter exactly
        with ``contains``)."""
        low = dt.datetime.combine(self.start, dt.time(), dt.UTC) - dt.timedelta(days=1)
        high = dt.datetime.combine(self.end, dt.time(), dt.UTC) + dt.timedelta(days=2)
        return low, high

    def months(self) -> tuple[str, ...]:
        """The calendar months the period touches, as ``YYYY-MM``."""
        out: list[str] = []
        year, month = self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class MonthRate:
    """No-shows among the bookings due in one month (``YYYY-MM``)."""

    month: str
    no_shows: int
    due: int

    @property
    def rate(self) -> float | None:
        return _share(self.no_shows, self.due)


@dataclass(frozen=True, slots=True)
class Indicators:
    """The indicators of one scope (a site, or the whole CPTS) over a period."""

    scope: str
    site_id: int | None  # None: the whole CPTS
    period: Period
    consultations_done: int
    patients_seen: int
    patients_without_mt: int
    patients_with_mt: int
    patients_mt_unknown: int
    delay_measured: int
    within_24h: int
    within_48h: int
    median_delay_hours: float | None
    bookings_due: int
    no_shows: int
    cancelled: int
    no_show_trend: tuple[MonthRate, ...]
    dependent_facility: int
    dependent_mobile_kit: int
    psychiatric: int
    orientations: tuple[tuple[Orientation, int], ...]  # every orientation, in Orientation order
    without_signed_report: int
    referrals: int
    relays_to_mt: int
    relays_to_relay_doctor: int
    relays_sent: int
    relays_pending: int
    relays_failed: int
    relays_cancelled: int

    @property
    def share_without_mt(self) -> float | None:
        """Percentage of the patients seen with a known situation who have no MT."""
        return _share(self.patients_without_mt, self.patients_without_mt + self.patients_with_mt)

    @property
    def share_within_24h(self) -> float | None:
        return _share(self.within_24h, self.delay_measured)

    @property
    def share_within_48h(self) -> float | None:
        return _share(self.within_48h, self.delay_measured)

    @property
    def no_show_rate(self) -> float | None:
        return _share(self.no_shows, self.bookings_due)

    @property
    def dependent(self) -> int:
        return self.dependent_facility + self.dependent_mobile_kit

    @property
    def relays(self) -> int:
        return self.relays_to_mt + self.relays_to_relay_doctor

    @property
    def relays_expected(self) -> int:
        """Relays meant to be delivered: all but the withdrawn ones."""
        return self.relays_sent + self.relays_pending + self.relays_failed

    @property
    def delivery_rate(self) -> float | None:
        return _share(self.relays_sent, self.relays_expected)

    def orientation(self, orientation: Orientation) -> int:
        return dict(self.orientations)[orientation]


@dataclass(frozen=True, slots=True)
class IndicatorReport:
    """The indicators of a CPTS over a period: the whole CPTS, then each site by name."""

    organisation: str
    period: Period
    cpts: Indicators
    sites: tuple[Indicators, ...]

    @property
    def scopes(self) -> tuple[Indicators, ...]:
        """The whole CPTS first, then every site (only the site when the report is for one)."""
        if len(self.sites) == 1 and self.cpts.site_id is not None:
            return (self.cpts,)
        return (self.cpts, *self.sites)


def _share(part: int, whole: int) -> float | None:
    """``part`` as a percentage of ``whole``; None when there is nothing to divide."""
    return None if whole == 0 else 100.0 * part / whole


@dataclass(frozen=True, slots=True)
class _Consultation:
    site_id: int
    patient_id: int
    delay: dt.timedelta | None


def _consultations_of(facts: queries.Facts, period: Period) -> dict[int, _Consultation]:
    out: dict[int, _Consultation] = {}
    for c in facts.consultations:
        site = facts.sites[c.site_id]
        when = c.started_at or c.booking_starts_at
        if not period.contains(when, site.timezone):
            continue
        delay = None
        if c.started_at is not None:
            delay = max(c.started_at - c.care_requested_at, dt.timedelta(0))
        out[c.id] = _Consultation(c.site_id, c.patient_id, delay)
    return out


def _compute(
    *,
    scope: str,
    site_id: int | None,
    period: Period,
    facts: queries.Facts,
    site_ids: frozenset[int],
    consultations: dict[int, _Consultation],
    now: dt.datetime,
) -> Indicators:
    done = {cid: c for cid, c in consultations.items() if c.site_id in site_ids}
    patients = {c.patient_id for c in done.values()}
    mt = [facts.has_medecin_traitant.get(p) for p in patients]
    delays = [c.delay for c in done.values() if c.delay is not None]
    hours = [d.total_seconds() / 3600 for d in delays]

    due_by_month: dict[str, list[int]] = {m: [0, 0] for m in period.months()}
    cancelled = 0
    for b in facts.bookings:
        if b.site_id not in site_ids:
            continue
        timezone = facts.sites[b.site_id].timezone
        if not period.contains(b.starts_at, timezone):
            continue
        if b.status is BookingStatus.CANCELLED:
            cancelled += 1
            continue
        if b.starts_at > now:
            continue
        month = b.starts_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")
        due_by_month[month][1] += 1
        if b.status is BookingStatus.NO_SHOW:
            due_by_month[month][0] += 1
    trend = tuple(MonthRate(m, n, d) for m, (n, d) in due_by_month.items())

    reports = [facts.latest_signed.get(cid) for cid in done]
    signed = [r for r in reports if r is not None]
    relays = [m for cid in done for m in facts.relays.get(cid, ())]
    kinds = [facts.sites[c.site_id].kind for c in done.values()]
    return Indicators(
        scope=scope,
        site_id=site_id,
        period=period,
        consultations_done=len(done),
        patients_seen=len(patients),
        patients_without_mt=sum(1 for v in mt if v is False),
        patients_with_mt=sum(1 for v in mt if v is True),
        patients_mt_unknown=sum(1 for v in mt if v is None),
        delay_measured=len(delays),
        within_24h=sum(1 for d in delays if d <= HOURS_24),
        within_48h=sum(1 for d in delays if d <= HOURS_48),
        median_delay_hours=statistics.median(hours) if hours else None,
        bookings_due=sum(m.due for m in trend),
        no_shows=sum(m.no_shows for m in trend),
        cancelled=cancelled,
        no_show_trend=trend,
        dependent_facility=kinds.count(SiteKind.DISABILITY_FACILITY),
        dependent_mobile_kit=kinds.count(SiteKind.MOBILE_KIT),
        psychiatric=sum(1 for r in signed if r.psychiatric),
        orientations=tuple((o, sum(1 for r in signed if r.orientation is o)) for o in Orientation),
        without_signed_report=len(reports) - len(signed),
        referrals=sum(facts.referrals.get(cid, 0) for cid in done),
        relays_to_mt=sum(1 for m in relays if m.purpose == RELAY_TO_MT),
        relays_to_relay_doctor=sum(1 for m in relays if m.purpose == RELAY_TO_RELAY_DOCTOR),
        relays_sent=sum(1 for m in relays if m.status == "sent"),
        relays_pending=sum(1 for m in relays if m.status == "pending"),
        relays_failed=sum(1 for m in relays if m.status == "failed"),
        relays_cancelled=sum(1 for m in relays if m.status == "cancelled"),
    )


async def compute_indicators(
    *,
    session: AsyncSession,
    organisation_id: int,
    period: Period,
    now: dt.datetime,
    site_id: int | None = None,
) -> IndicatorReport:
    """The indicators of a CPTS (or of one of its sites) over ``period``, as of ``now``."""
    sites = await queries.sites_of(session=session, organisation_id=organisation_id)
    if site_id is not None:
        if site_id not in {s.id for s in sites}:
            raise NotFound("Ce site n'appartient pas à votre CPTS.")
        sites = [s for s in sites if s.id == site_id]
    facts = await queries.load_facts(
        session=session, sites=sites, period_bounds=period.utc_bounds()
    )
    consultations = _consultations_of(facts, period)
    per_site = tuple(
        _compute(
            scope=s.name,
            site_id=s.id,
            period=period,
            facts=facts,
            site_ids=frozenset({s.id}),
            consultations=consultations,
            now=now,
        )
        for s in sites
    )
    organisation = await queries.organisation_name(session=session, organisation_id=organisation_id)
    if site_id is not None:
        whole = per_site[0]
    else:
        whole = _compute(
            scope=f"Toute la CPTS ({organisation})" if organisation else "Toute la CPTS",
            site_id=None,
            period=period,
            facts=facts,
            site_ids=frozenset(s.id for s in sites),
            consultations=consultations,
            now=now,
        )
    return IndicatorReport(organisation=organisation, period=period, cpts=whole, sites=per_site)


def months_fr(months: Iterable[str]) -> Sequence[str]:
    """``2026-01`` → ``janv. 2026``: short French month names for charts and tables."""
    names = (
        "janv.", "févr.", "mars", "avr.", "mai", "juin",
        "juil.", "août", "sept.", "oct.", "nov.", "déc.",
    )  # fmt: skip
    return [f"{names[int(m[5:7]) - 1]} {m[:4]}" for m in months]
