"""A teleconsultation session, from the patient's arrival to the closed report."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, IntPk, utcnow
from hub.identity.models import enum_column

if TYPE_CHECKING:
    from hub.scheduling.models import Booking


class State(StrEnum):
    BOOKED = "booked"
    ARRIVED = "arrived"
    PRECONSULTATION = "preconsultation"
    READY = "ready"
    IN_CONSULTATION = "in_consultation"
    REPORTING = "reporting"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    REDIRECTED = "redirected"
    ABORTED = "aborted"


STATE_LABELS = {
    State.BOOKED: "réservé",
    State.ARRIVED: "arrivé",
    State.PRECONSULTATION: "préconsultation",
    State.READY: "prêt pour le médecin",
    State.IN_CONSULTATION: "en consultation",
    State.REPORTING: "compte rendu",
    State.CLOSED: "terminé",
    State.CANCELLED: "annulé",
    State.NO_SHOW: "non honoré",
    State.REDIRECTED: "réorienté",
    State.ABORTED: "interrompu",
}


class DmpChoice(StrEnum):
    """The patient's choice about the shared record (DMP) for this consultation's report."""

    NOT_ASKED = "not_asked"
    ACCEPTS = "accepts"
    OPPOSES = "opposes"


class Consultation(Base):
    __tablename__ = "consultations"

    id: Mapped[IntPk]
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), unique=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[State] = mapped_column(enum_column(State, "consultation_state"))
    nurse_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    doctor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    identity_document: Mapped[str] = mapped_column(String(40), default="")
    identity_checked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    consent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    dmp_choice: Mapped[DmpChoice] = mapped_column(
        enum_column(DmpChoice, "dmp_choice"), default=DmpChoice.NOT_ASKED
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    history: Mapped[str] = mapped_column(Text, default="")
    treatments: Mapped[str] = mapped_column(Text, default="")
    allergies: Mapped[str] = mapped_column(Text, default="")
    phq9: Mapped[int | None] = mapped_column(default=None)
    gad7: Mapped[int | None] = mapped_column(default=None)
    exit_reason: Mapped[str] = mapped_column(String(300), default="")
    arrived_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ready_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    booking: Mapped[Booking] = relationship()


class ConsultationEvent(Base):
    """What happened to a consultation, by whom, when: its history, shown to the staff."""

    __tablename__ = "consultation_events"

    id: Mapped[IntPk]
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str] = mapped_column(String(20), default="")
    to_state: Mapped[str] = mapped_column(String(20), default="")
    note: Mapped[str] = mapped_column(Text, default="")


class Capture(Base):
    """A still image taken during the consultation (an otoscope snapshot), kept in the record."""

    __tablename__ = "consultation_captures"

    id: Mapped[IntPk]
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(20))  # otoscope, room
    mime_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    taken_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    taken_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class GuestRole(StrEnum):
    """Who a third party invited into a consultation is."""

    INTERPRETER = "interpreter"
    SPECIALIST = "specialist"
    MEDECIN_TRAITANT = "medecin_traitant"


GUEST_ROLE_LABELS = {
    GuestRole.INTERPRETER: "interprète",
    GuestRole.SPECIALIST: "spécialiste",
    GuestRole.MEDECIN_TRAITANT: "médecin traitant",
}


class GuestStatus(StrEnum):
    INVITED = "invited"  # the link is sent, not opened yet
    OPENED = "opened"  # the link was opened: it is bound to that browser
    JOINED = "joined"  # in the room
    LEFT = "left"  # left the room (may join again from the same browser)
    REMOVED = "removed"  # the doctor removed them: the link works no more
    ENDED = "ended"  # the consultation ended (or the link expired unused)


class Guest(Base):
    """A third party the doctor invited into a running consultation (an interpreter, a
    specialist, the patient's médecin traitant): no account, a one-time link. The link's token
    and the browser it was first opened in are kept as SHA-256 hashes only."""

    __tablename__ = "consultation_guests"

    id: Mapped[IntPk]
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[GuestRole] = mapped_column(enum_column(GuestRole, "guest_role"))
    invited_name: Mapped[str] = mapped_column(String(200))
    shown_name: Mapped[str] = mapped_column(String(200), default="")  # typed by the guest
    email: Mapped[str] = mapped_column(String(320), default="")
    mobile: Mapped[str] = mapped_column(String(20), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[GuestStatus] = mapped_column(
        enum_column(GuestStatus, "guest_status"), default=GuestStatus.INVITED
    )
    invited_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    joined_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    left_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: When the guest's page last asked whether they are still in (it asks every few seconds
    #: while it is open): a joined guest silent for long lost their link (``guest_link``).
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def party(self) -> str:
        """The guest's party name in the consultation's Janus room."""
        return f"guest-{self.id}"

    @property
    def role_label(self) -> str:
        return GUEST_ROLE_LABELS[self.role]
