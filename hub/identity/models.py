"""Identity tables: organisations (CPTS), sites, cabins, staff users, sessions, login failures."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Column,
    Enum,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, IntPk, Str80, Str200, utcnow


class Role(StrEnum):
    COORDINATOR = "coordinator"
    SECRETARY = "secretary"
    NURSE = "nurse"
    DOCTOR = "doctor"
    FACILITY_STAFF = "facility_staff"

    @property
    def label(self) -> str:
        """The role's name as the users say it."""
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.COORDINATOR: "Coordination de la CPTS",
    Role.SECRETARY: "Secrétariat",
    Role.NURSE: "Infirmier·ère",
    Role.DOCTOR: "Médecin téléconsultant",
    Role.FACILITY_STAFF: "Personnel d'établissement",
}


# A doctor's specialty, from a closed list: the label staff see, and its TRE_R38 "Spécialité
# ordinale" code and label as shared documents carry them (JDV_J01_XdsAuthorSpecialty_CISIS).
GENERAL_PRACTICE = "Médecine générale"
PSYCHIATRY = "Psychiatrie"
SPECIALTIES: dict[str, tuple[str, str]] = {
    GENERAL_PRACTICE: ("SM54", "Médecine générale (SM)"),
    PSYCHIATRY: ("SM42", "Psychiatrie (SM)"),
}


class SiteKind(StrEnum):
    TELECONSULTATION_ROOM = "teleconsultation_room"
    DISABILITY_FACILITY = "disability_facility"
    MOBILE_KIT = "mobile_kit"

    @property
    def label(self) -> str:
        return SITE_KIND_LABELS[self]


SITE_KIND_LABELS = {
    SiteKind.TELECONSULTATION_ROOM: "Cabinet de téléconsultation",
    SiteKind.DISABILITY_FACILITY: "Établissement pour personnes en situation de handicap",
    SiteKind.MOBILE_KIT: "Kit mobile",
}


def enum_column(cls: type[StrEnum], name: str) -> Enum:
    """A StrEnum stored as its value in a plain string column (no native database enum)."""
    return Enum(
        cls, name=name, native_enum=False, length=40, values_callable=lambda e: [m.value for m in e]
    )


user_sites = Table(
    "user_sites",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
)


class Organisation(Base):
    """A CPTS: the association that runs the teleconsultation rooms of a territory."""

    __tablename__ = "organisations"

    id: Mapped[IntPk]
    name: Mapped[Str200]
    slug: Mapped[Str80] = mapped_column(unique=True)
    # SIRET of the CPTS (its association), identifying it as author and custodian of documents.
    siret: Mapped[str] = mapped_column(String(14), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    sites: Mapped[list[Site]] = relationship(back_populates="organisation", order_by="Site.name")


class Site(Base):
    """A place where consultations happen: a room, a disability facility, or a mobile kit."""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[IntPk]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[Str200]
    kind: Mapped[SiteKind] = mapped_column(enum_column(SiteKind, "site_kind"))
    address: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    opening_hours: Mapped[str] = mapped_column(Text, default="")
    emergency_contact_name: Mapped[str] = mapped_column(String(200), default="")
    emergency_contact_phone: Mapped[str] = mapped_column(String(40), default="")
    timezone: Mapped[str] = mapped_column(String(40), default="Europe/Paris")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="sites")
    cabins: Mapped[list[Cabin]] = relationship(back_populates="site", order_by="Cabin.name")


class Cabin(Base):
    """One connected trolley and its agent. The agent's token is stored only as a hash."""

    __tablename__ = "cabins"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[IntPk]
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    name: Mapped[Str200]
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    token_hint: Mapped[str] = mapped_column(String(16), default="")
    token_issued_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    token_revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    agent_version: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    site: Mapped[Site] = relationship(back_populates="cabins")


class User(Base):
    """A member of staff. One role each; the sites they act for are in ``user_sites``."""

    __tablename__ = "users"

    id: Mapped[IntPk]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    username: Mapped[Str80] = mapped_column(unique=True)
    full_name: Mapped[Str200]
    email: Mapped[str] = mapped_column(String(200), default="")
    # RPPS number of a health professional (11 digits), their national identifier.
    rpps: Mapped[str] = mapped_column(String(11), default="")
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    # A doctor's specialty, one of SPECIALTIES ("" for other roles: general practice assumed).
    specialty: Mapped[str] = mapped_column(String(60), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    sites: Mapped[list[Site]] = relationship(secondary=user_sites, order_by="Site.name")


class UserSession(Base):
    """A logged-in browser. The cookie carries a signed random key; only its hash is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[IntPk]
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class LoginFailure(Base):
    """A failed login, kept for the throttling window (by account and by address)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[IntPk]
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
