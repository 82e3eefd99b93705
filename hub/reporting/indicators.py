"""The CPTS indicators over a period, per site and for the whole CPTS.

Every indicator is computed from what the hub recorded, counted by the database in a few
aggregate queries (``hub.reporting.aggregates``: per site, then summed for the whole CPTS; the
distinct patients and the median are counted for the whole CPTS apart). Definitions (the period
is a range of dates, both included, in each site's time zone — Europe/Paris for every site
today):

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Invalid, NotFound
from hub.identity.models import SiteKind
from hub.reporting import aggregates, booking_counts, queries
from hub.reports.models import Orientation
from hub.scheduling.models import BookingStatus

MAX_PERIOD_DAYS = 5 * 366
DEPENDENT_KINDS = frozenset({SiteKind.DISABILITY_FACILITY, SiteKind.MOBILE_KIT})


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

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """A UTC range wide enough to hold the period in every time zone (``window`` is the
        exact one of a time zone)."""
        low = dt.datetime.combine(self.start, dt.time(), dt.UTC) - dt.timedelta(days=1)
        high = dt.datetime.combine(self.end, dt.time(), dt.UTC) + dt.timedelta(days=2)
        return low, high

    def window(self, site_ids: Iterable[int], timezone: str) -> aggregates.Window:
        """The period's days at that time zone as UTC instants: from the local midnight that
        opens it to the one that closes it, with the midnight that opens each month."""

        def midnight(day: dt.date) -> dt.datetime:
            return dt.datetime.combine(day, dt.time(), ZoneInfo(timezone)).astimezone(dt.UTC)

        starts = [dt.date(int(m[:4]), int(m[5:7]), 1) for m in self.months()[1:]]
        return aggregates.Window(
            site_ids=tuple(site_ids),
            low=midnight(self.start),
            high=midnight(self.end + dt.timedelta(days=1)),
            month_starts=tuple(midnight(day) for day in starts),
        )

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
class _Counts:
    """What the database counted for the period, by site (see ``aggregates``)."""

    done: dict[int, aggregates.Done]
    bookings: tuple[booking_counts.BookingCount, ...]
    medians: dict[int | None, float | None]
    patients: dict[int, aggregates.Patients]
    whole: aggregates.Patients  # distinct patients of all the sites


async def _count(
    session: AsyncSession,
    period: Period,
    sites: Sequence[queries.SiteFact],
    now: dt.datetime,
    *,
    whole: bool,
) -> _Counts:
    by_zone: dict[str, list[int]] = {}
    for s in sites:
        by_zone.setdefault(s.timezone, []).append(s.id)
    windows = [period.window(ids, zone) for zone, ids in sorted(by_zone.items())]
    bookings: list[booking_counts.BookingCount] = []
    for window in windows:
        bookings += await booking_counts.bookings_by_month(session=session, window=window, now=now)
    counted = await aggregates.done_counts(session=session, windows=windows, whole=whole)
    return _Counts(
        done=counted.done,
        bookings=tuple(bookings),
        medians=counted.medians,
        patients={i: p for i, p in counted.patients.items() if i is not None},
        whole=counted.patients.get(None, aggregates.Patients()),
    )


def _compute(
    *,
    scope: str,
    site_id: int | None,
    period: Period,
    counts: _Counts,
    sites: Sequence[queries.SiteFact],
) -> Indicators:
    """The indicators of ``sites`` (one site, or all of them) from the per-site counts."""
    ids = {s.id for s in sites}
    done = [counts.done.get(i, aggregates.Done()) for i in ids]
    seen = counts.whole if site_id is None else counts.patients[site_id]
    months = period.months()
    due = [[0, 0] for _ in months]  # no-shows, due
    cancelled = 0
    for b in counts.bookings:
        if b.site_id not in ids:
            continue
        if b.status is BookingStatus.CANCELLED:
            cancelled += b.count
        elif b.due:
            due[b.month][1] += b.count
            if b.status is BookingStatus.NO_SHOW:
                due[b.month][0] += b.count
    trend = tuple(MonthRate(m, n, d) for m, (n, d) in zip(months, due, strict=True))
    kinds = {s.id: s.kind for s in sites}
    return Indicators(
        scope=scope,
        site_id=site_id,
        period=period,
        consultations_done=sum(d.consultations for d in done),
        patients_seen=seen.seen,
        patients_without_mt=seen.without_mt,
        patients_with_mt=seen.with_mt,
        patients_mt_unknown=seen.mt_unknown,
        delay_measured=sum(d.delay_measured for d in done),
        within_24h=sum(d.within_24h for d in done),
        within_48h=sum(d.within_48h for d in done),
        median_delay_hours=counts.medians.get(site_id),
        bookings_due=sum(m.due for m in trend),
        no_shows=sum(m.no_shows for m in trend),
        cancelled=cancelled,
        no_show_trend=trend,
        dependent_facility=sum(
            counts.done[i].consultations
            for i in ids
            if i in counts.done and kinds[i] is SiteKind.DISABILITY_FACILITY
        ),
        dependent_mobile_kit=sum(
            counts.done[i].consultations
            for i in ids
            if i in counts.done and kinds[i] is SiteKind.MOBILE_KIT
        ),
        psychiatric=sum(d.psychiatric for d in done),
        orientations=tuple(
            (o, sum(d.orientations[k] for d in done)) for k, o in enumerate(Orientation)
        ),
        without_signed_report=sum(d.without_signed_report for d in done),
        referrals=sum(d.referrals for d in done),
        relays_to_mt=sum(d.relays_to_mt for d in done),
        relays_to_relay_doctor=sum(d.relays_to_relay_doctor for d in done),
        relays_sent=sum(d.relays_sent for d in done),
        relays_pending=sum(d.relays_pending for d in done),
        relays_failed=sum(d.relays_failed for d in done),
        relays_cancelled=sum(d.relays_cancelled for d in done),
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
    counts = await _count(session, period, sites, now, whole=site_id is None)
    per_site = tuple(
        _compute(scope=s.name, site_id=s.id, period=period, counts=counts, sites=[s]) for s in sites
    )
    organisation = await queries.organisation_name(session=session, organisation_id=organisation_id)
    if site_id is not None:
        whole = per_site[0]
    else:
        whole = _compute(
            scope=f"Toute la CPTS ({organisation})" if organisation else "Toute la CPTS",
            site_id=None,
            period=period,
            counts=counts,
            sites=sites,
        )
    return IndicatorReport(organisation=organisation, period=period, cpts=whole, sites=per_site)


def months_fr(months: Iterable[str]) -> Sequence[str]:
    """``2026-01`` → ``janv. 2026``: short French month names for charts and tables."""
    names = (
        "janv.", "févr.", "mars", "avr.", "mai", "juin",
        "juil.", "août", "sept.", "oct.", "nov.", "déc.",
    )  # fmt: skip
    return [f"{names[int(m[5:7]) - 1]} {m[:4]}" for m in months]
