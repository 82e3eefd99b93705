"""The audit trail: who did what, to what, from where, and whether it was allowed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, IntPk, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[IntPk]
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_kind: Mapped[str] = mapped_column(String(20))  # user, cabin, anonymous, system
    actor_id: Mapped[int | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(80), index=True)
    outcome: Mapped[str] = mapped_column(String(20), default="success")  # success, refused
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="SET NULL"), default=None
    )
    target: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    # sha256 of the previous event's seal and this event's content; set by ``seal_pending``.
    seal: Mapped[str | None] = mapped_column(String(64), default=None)
