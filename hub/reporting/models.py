"""The coordinator's inputs to the yearly activity report: per CPTS, year and indicator."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
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
