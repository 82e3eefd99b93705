"""Patients: identity traits (INS strict traits), contact, médecin traitant, identity status."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, IntPk, utcnow
from hub.identity.models import enum_column


class Sex(StrEnum):
    FEMALE = "F"
    MALE = "M"
    UNKNOWN = "I"  # indéterminé, as the INS referential allows


class IdentityStatus(StrEnum):
    """INS identity status: only a qualified identity carries the INS into shared documents."""

    PROVISIONAL = "provisoire"
    RETRIEVED = "recuperee"
    VALIDATED = "validee"
    QUALIFIED = "qualifiee"


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (
        Index("ix_patients_search", "organisation_id", "birth_name_key", "birth_date"),
        Index("ix_patients_phone", "organisation_id", "phone"),
    )

    id: Mapped[IntPk]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    birth_name: Mapped[str] = mapped_column(String(100))
    birth_name_key: Mapped[str] = mapped_column(String(100))  # upper-cased, accents removed
    first_names: Mapped[str] = mapped_column(String(200))
    used_name: Mapped[str] = mapped_column(String(100), default="")
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(enum_column(Sex, "sex"))
    birth_place_code: Mapped[str] = mapped_column(String(5), default="")
    nir: Mapped[str] = mapped_column(String(15), default="")
    # The INS authority OID (INS-NIR or INS-NIA) of ``nir``, set only from an answer of the
    # national INSi teleservice: "" for a number typed or read from a card.
    ins_oid: Mapped[str] = mapped_column(String(40), default="")
    identity_status: Mapped[IdentityStatus] = mapped_column(
        enum_column(IdentityStatus, "identity_status"), default=IdentityStatus.PROVISIONAL
    )
    phone: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    guardian_name: Mapped[str] = mapped_column(String(200), default="")
    has_medecin_traitant: Mapped[bool | None] = mapped_column(default=None)
    medecin_traitant_name: Mapped[str] = mapped_column(String(200), default="")
    # The médecin traitant's secure-messaging (MSSanté) address: where reports are relayed.
    medecin_traitant_mssante: Mapped[str] = mapped_column(String(200), default="")
    # The médecin traitant as shared documents name them: RPPS (11 digits, "" when unknown),
    # family and given names. Older rows have only the free-text name above.
    medecin_traitant_rpps: Mapped[str] = mapped_column(String(11), default="")
    medecin_traitant_family_name: Mapped[str] = mapped_column(String(100), default="")
    medecin_traitant_given_name: Mapped[str] = mapped_column(String(100), default="")
    # Changing it revokes the signed link to the patient's record page.
    record_link_nonce: Mapped[str] = mapped_column(String(32), default="")
    # A pending identity: the traits or contact an unverified path (a booking) gave for a person
    # who matches this existing patient but disagrees with them. Staff resolve it: same person
    # (merged into it) or a different person (the link is cleared).
    pending_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="SET NULL"), default=None, index=True
    )
    pending_reason: Mapped[str] = mapped_column(String(300), default="")  # what disagrees
    # Set when this record was merged into another one (a duplicate, or a pending identity
    # found to be the same person): kept for the trace, hidden from searches.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def display_name(self) -> str:
        first = self.first_names.split(" ")[0] if self.first_names else ""
        return f"{self.used_name or self.birth_name} {first}".strip()


class DistinctPatients(Base):
    """Two records with close traits that staff said are different persons, not duplicates
    (``first_id`` < ``second_id``)."""

    __tablename__ = "distinct_patients"
    __table_args__ = (UniqueConstraint("first_id", "second_id"),)

    id: Mapped[IntPk]
    first_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    second_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
