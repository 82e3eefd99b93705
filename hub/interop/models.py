"""Interop tables: API clients of outside platforms, and the CPTS's FINESS number."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, IntPk, Str200, utcnow
from hub.identity.models import enum_column

if TYPE_CHECKING:
    from hub.identity.models import Organisation


class ApiClientKind(StrEnum):
    SAS = "sas"  # the national SAS platform, searching slots and booking for regulators


class ApiClient(Base):
    """A platform calling the hub for one CPTS. Its bearer token is stored only as a hash."""

    __tablename__ = "api_clients"

    id: Mapped[IntPk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[Str200]
    kind: Mapped[ApiClientKind] = mapped_column(enum_column(ApiClientKind, "api_client_kind"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class OrganisationFiness(Base):
    """The FINESS number of a CPTS's legal structure (9 digits), as the SAS directory has it."""

    __tablename__ = "organisation_finess"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    finess: Mapped[str] = mapped_column(String(9))


class SasAppointment(Base):
    """What a SAS regulator's Appointment said beyond the booking itself: who booked (the
    regulator's identifier: IDNPS, or the SAS's technical id when they have no national one),
    the calling platform's own identifier of the appointment (the conditional update may name
    it), and the doctor the regulator booked with (IDNPS, "8" + RPPS), when given."""

    __tablename__ = "sas_appointments"

    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
    )
    operator_type: Mapped[str] = mapped_column(String(10), default="")  # IDNPS, INTRN, ""
    operator_system: Mapped[str] = mapped_column(String(100), default="")
    operator_value: Mapped[str] = mapped_column(String(100), default="")
    caller_system: Mapped[str] = mapped_column(String(200), default="")
    caller_value: Mapped[str] = mapped_column(String(100), default="", index=True)
    practitioner_idnps: Mapped[str] = mapped_column(String(20), default="")
    # Booked on the hub's own page, reached from the slot's link in the SAS search: the hub
    # reports the Appointment to the SAS platform (``sas_reports``). ``reported_status`` is
    # the booking status last queued for the platform ("" before the first report).
    via_slot_link: Mapped[bool] = mapped_column(default=False)
    reported_status: Mapped[str] = mapped_column(String(20), default="")
