"""Reporting's own tables: the coordinator's inputs to the yearly activity report (per CPTS,
year and indicator) and the facts of the consultations done that the indicators count
(``ConsultationFact``, kept up to date by the database: see ``hub.reporting.facts``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.consultation.models import Consultation
from hub.db import Base, IntPk, utcnow
from hub.notify.models import OutboundMessage
from hub.reports.models import Report
from hub.scheduling.models import Booking


class ActivityReportInput(Base):
    """What the computed indicators cannot know: the baseline written in the CPTS's contract
    (``initial_value``), the target agreed with the funders, and the coordinator's commentary.
    ``indicator`` is a code of ``hub.reporting.indicators.CATALOGUE``."""

    __tablename__ = "activity_report_inputs"
    __table_args__ = (UniqueConstraint("organisation_id", "year", "indicator"),)

    id: Mapped[IntPk]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    year: Mapped[int]
    indicator: Mapped[str] = mapped_column(String(40))
    initial_value: Mapped[str] = mapped_column(String(100), default="")
    target: Mapped[str] = mapped_column(String(100), default="")
    commentary: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# The counters a fact row carries per consultation, summed per site by the indicators (in
# the order of ``aggregates.Done``'s fields after the counts).
COUNTERS = (
    "referrals",
    "relays_to_mt",
    "relays_to_relay_doctor",
    "relays_sent",
    "relays_pending",
    "relays_failed",
    "relays_cancelled",
)


class ConsultationFact(Base):
    """One consultation done (state ``reporting`` or ``closed``), reduced to what the
    indicators count, so that a year is counted from one narrow table without a join. Written
    only by the database's triggers and by ``hub.reporting.facts.rebuild``, from the view
    ``reporting_fact_source`` (the joined computation over the other slices' tables)."""

    __tablename__ = "reporting_consultation_facts"
    __table_args__ = (
        # Each index holds every column its reader needs (see ``aggregates``): the table's
        # rows are never opened. The period's rows of some sites, in order of time: the
        # per-site counts.
        Index(
            "ix_reporting_consultation_facts_site",
            "site_id",
            "at",
            "delay_us",
            "orientation",
            "psychiatric",
            *COUNTERS,
        ),
        # Patient by patient: the distinct patients, grouped without sorting.
        Index("ix_reporting_consultation_facts_patient", "patient_id", "has_mt", "site_id", "at"),
        # Delays in order, per site and for all: the medians, read from the middle on.
        Index("ix_reporting_consultation_facts_site_delay", "site_id", "delay_us", "at"),
        Index("ix_reporting_consultation_facts_delay", "delay_us", "site_id", "at"),
    )

    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    site_id: Mapped[int]
    at: Mapped[dt.datetime]  # its start, else its booking's (UTC)
    patient_id: Mapped[int]
    has_mt: Mapped[bool | None]  # what the patient's record says of their médecin traitant now
    delay_us: Mapped[int | None] = mapped_column(BigInteger)  # request → start, ≥ 0
    orientation: Mapped[str | None] = mapped_column(String(40))  # of the latest signed report
    psychiatric: Mapped[bool]  # the latest signed report is flagged psychiatric
    referrals: Mapped[int]
    relays_to_mt: Mapped[int]  # messages carrying one of its reports, by purpose…
    relays_to_relay_doctor: Mapped[int]
    relays_sent: Mapped[int]  # …and by status
    relays_pending: Mapped[int]
    relays_failed: Mapped[int]
    relays_cancelled: Mapped[int]


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """The coordinator's three fields for one indicator of the yearly report."""

    initial_value: str = ""
    target: str = ""
    commentary: str = ""


# Indexes the indicators' aggregates read instead of the wide rows of other slices' tables
# (see ``aggregates``): every column a query needs is in the index, so a whole year is counted
# without opening a consultation, a booking, a report or a message. Owned here, by the only reader.
REPORTING_INDEXES = (
    Index(
        "ix_consultations_reporting",
        Consultation.site_id,
        Consultation.state,
        Consultation.started_at,
        Consultation.booking_id,
        Consultation.patient_id,
    ),
    Index(
        "ix_reports_reporting",
        Report.consultation_id,
        Report.status,
        Report.version,
        Report.orientation,
        Report.psychiatric,
    ),
    Index("ix_bookings_reporting", Booking.site_id, Booking.status, Booking.starts_at),
    Index(
        "ix_outbound_messages_reporting",
        OutboundMessage.related_kind,
        OutboundMessage.related_id,
        OutboundMessage.purpose,
        OutboundMessage.status,
    ),
)
