"""Relay doctors of the territory and the referrals of patients without a médecin traitant."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, IntPk, utcnow


class RelayDoctor(Base):
    """A doctor of the territory who may follow patients without a médecin traitant."""

    __tablename__ = "relay_doctors"

    id: Mapped[IntPk]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    speciality: Mapped[str] = mapped_column(String(120), default="Médecine générale")
    city: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    accepts_new_patients: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Referral(Base):
    """A patient seen in a room, referred to a relay doctor for follow-up."""

    __tablename__ = "referrals"

    id: Mapped[IntPk]
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    relay_doctor_id: Mapped[int] = mapped_column(
        ForeignKey("relay_doctors.id", ondelete="RESTRICT")
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    doctor: Mapped[RelayDoctor] = relationship()
