"""The coordinator's inputs to the yearly activity report: per CPTS, year and indicator."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, IntPk, utcnow


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
