"""Scheduling tables: opening rules, closures, slots, bookings, the waiting list, policies."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import Date, ForeignKey, Index, String, Text, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, IntPk, utcnow
from hub.identity.models import enum_column

if TYPE_CHECKING:
    from hub.identity.models import Site
    from hub.records.patients import Patient


class Reservation(StrEnum):
    """Who may book a slot beyond the general public."""

    FACILITY = "facility"  # the residents of the site's disability facility, booked by its staff
    SAS = "sas"  # regulated patients, booked by SAS regulators


class Channel(StrEnum):
    ONLINE = "online"
    PHONE = "phone"
    SAS = "sas"
    FACILITY = "facility"


class BookingStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class SlotState(StrEnum):
    OPEN = "open"
    WITHDRAWN = "withdrawn"  # no longer produced by the opening rules; bookings must be moved


class OpeningRule(Base):
    """A recurring half-day: e.g. Monday 8:00–12:00, 20-minute slots, 1 seat."""

    __tablename__ = "opening_rules"

    id: Mapped[IntPk]
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]  # 0 = Monday
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)
    slot_minutes: Mapped[int]
    seats: Mapped[int] = mapped_column(default=1)
    reserved_for: Mapped[Reservation | None] = mapped_column(
        enum_column(Reservation, "reservation"), default=None
    )
    valid_from: Mapped[dt.date | None] = mapped_column(Date, default=None)
    valid_until: Mapped[dt.date | None] = mapped_column(Date, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Closure(Base):
    """Days a site is closed (holidays of staff, works...), inclusive."""

    __tablename__ = "closures"

    id: Mapped[IntPk]
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")


class Slot(Base):
    """A bookable time at a site, derived from the opening rules, with a number of seats."""

    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("site_id", "starts_at"),
        # The slot search walks open slots in time order across sites (earliest free slots),
        # and one site's open slots in time order (its next free slot); see ``slots``.
        Index("ix_slots_state_starts_at_site_id", "state", "starts_at", "site_id"),
        Index("ix_slots_site_id_state_starts_at", "site_id", "state", "starts_at"),
    )

    id: Mapped[IntPk]
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    seats: Mapped[int]
    reserved_for: Mapped[Reservation | None] = mapped_column(
        enum_column(Reservation, "reservation"), default=None
    )
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("opening_rules.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[SlotState] = mapped_column(
        enum_column(SlotState, "slot_state"), default=SlotState.OPEN
    )

    site: Mapped[Site] = relationship()


class Booking(Base):
    """A patient's appointment on one seat of a slot. The database refuses a doubly-booked seat."""

    __tablename__ = "bookings"
    __table_args__ = (UniqueConstraint("slot_id", "seat"),)

    id: Mapped[IntPk]
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="RESTRICT"), index=True)
    seat: Mapped[int | None]  # None once cancelled: the seat is free again
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[dt.datetime]
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    status: Mapped[BookingStatus] = mapped_column(
        enum_column(BookingStatus, "booking_status"), default=BookingStatus.BOOKED
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    care_requested_at: Mapped[dt.datetime]  # when care was asked for (SNP delay indicators)
    booked_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    booked_by_label: Mapped[str] = mapped_column(String(200), default="")  # e.g. SAS regulator
    # The doctor who asked for this consultation (e.g. a GP asking a psychiatric opinion): the
    # signed report is relayed to them too. Same shapes as the patient's médecin traitant.
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    requester_mssante: Mapped[str] = mapped_column(String(200), default="")
    requester_rpps: Mapped[str] = mapped_column(String(11), default="")
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    no_show_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    needs_moving: Mapped[bool] = mapped_column(default=False)  # its slot was withdrawn
    link_nonce: Mapped[str] = mapped_column(String(32))  # signed patient links carry it
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    slot: Mapped[Slot] = relationship()
    patient: Mapped[Patient] = relationship()
    site: Mapped[Site] = relationship()


class WaitStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    DONE = "done"  # moved to an earlier slot, or no longer wanted


class WaitingListEntry(Base):
    """A booked patient who would take an earlier slot if one frees up."""

    __tablename__ = "waiting_list"

    id: Mapped[IntPk]
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), default=None
    )  # None: any site of the CPTS
    status: Mapped[WaitStatus] = mapped_column(
        enum_column(WaitStatus, "wait_status"), default=WaitStatus.WAITING
    )
    offered_slot_id: Mapped[int | None] = mapped_column(
        ForeignKey("slots.id", ondelete="SET NULL"), default=None
    )
    offer_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    booking: Mapped[Booking] = relationship()


class BookingPolicy(Base):
    """A CPTS's booking rules: minimum age, excluded reasons, reminders."""

    __tablename__ = "booking_policies"

    id: Mapped[IntPk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), unique=True
    )
    min_age_years: Mapped[int] = mapped_column(default=6)
    excluded_reasons: Mapped[str] = mapped_column(Text, default="")  # one per line
    reminder_hours: Mapped[str] = mapped_column(String(100), default="24,2")
    horizon_days: Mapped[int] = mapped_column(default=42)
    offer_minutes: Mapped[int] = mapped_column(default=120)
