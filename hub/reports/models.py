"""The doctor's teleconsultation report (compte rendu), one row per version.

A report is written as a draft, then signed: signing freezes it, snapshots the session's
measurements, renders the French PDF and the CDA R2 "TLM-CR" document. An amendment is a new
version of the same document (same ``set_id``, ``version`` + 1, ``replaces_id`` → the previous
version), written and signed the same way.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, IntPk, utcnow
from hub.identity.models import enum_column


class Orientation(StrEnum):
    """Where the patient goes after the teleconsultation."""

    MEDECIN_TRAITANT = "medecin_traitant"
    PHYSICAL = "consultation_physique"
    RELAY = "medecin_relais"
    EMERGENCY = "urgences"


ORIENTATION_LABELS = {
    Orientation.MEDECIN_TRAITANT: "Retour vers le médecin traitant",
    Orientation.PHYSICAL: "Consultation physique nécessaire",
    Orientation.RELAY: "Suivi par un médecin relais",
    Orientation.EMERGENCY: "Urgences",
}


class DoctorAct(StrEnum):
    """The doctor's act (CCAM/NGAP teleconsultation codes used by the TLM-CR volet)."""

    TCG = "TCG"  # téléconsultation du médecin généraliste
    TC = "TC"  # téléconsultation du médecin spécialiste


class NurseAct(StrEnum):
    """The nurse's act of assistance to the teleconsultation (NGAP)."""

    TLL = "TLL"  # dans un lieu dédié aux téléconsultations
    TLS = "TLS"  # lors d'un soin infirmier déjà prévu
    TLD = "TLD"  # au domicile, en dehors d'un soin prévu


ACT_LABELS = {
    "TCG": "Téléconsultation du médecin généraliste",
    "TC": "Téléconsultation du médecin spécialiste",
    "TLL": "Accompagnement infirmier d'une téléconsultation dans un lieu dédié",
    "TLS": "Accompagnement infirmier d'une téléconsultation lors d'un soin prévu",
    "TLD": "Accompagnement infirmier d'une téléconsultation à domicile",
}


class ReportStatus(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("consultation_id", "version"),)

    id: Mapped[IntPk]
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(default=1)
    # OIDs of the CDA document (ClinicalDocument/id) and of its set (setId), "2.25.<uuid>".
    document_oid: Mapped[str] = mapped_column(String(64), unique=True)
    set_oid: Mapped[str] = mapped_column(String(64), index=True)
    replaces_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[ReportStatus] = mapped_column(
        enum_column(ReportStatus, "report_status"), default=ReportStatus.DRAFT
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    examination: Mapped[str] = mapped_column(Text, default="")
    conclusion: Mapped[str] = mapped_column(Text, default="")
    prescriptions: Mapped[str] = mapped_column(Text, default="")
    orientation: Mapped[Orientation] = mapped_column(
        enum_column(Orientation, "orientation"), default=Orientation.MEDECIN_TRAITANT
    )
    doctor_act: Mapped[DoctorAct] = mapped_column(
        enum_column(DoctorAct, "doctor_act"), default=DoctorAct.TCG
    )
    nurse_act: Mapped[NurseAct | None] = mapped_column(
        enum_column(NurseAct, "nurse_act"), default=NurseAct.TLL
    )
    # A psychiatric (mental-health) teleconsultation: counted apart in the CPTS indicators.
    psychiatric: Mapped[bool] = mapped_column(default=False)
    amendment_reason: Mapped[str] = mapped_column(Text, default="")
    # Withheld from the patient's own view until the doctor has told them (DMP "non visible
    # par le patient").
    hidden_from_patient: Mapped[bool] = mapped_column(default=False)
    # JSON list of the session's measurements, frozen at signing:
    # [{"at", "kind", "label", "value", "unit", "loinc", "device"}]
    measurements_json: Mapped[str] = mapped_column(Text, default="[]")
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    signed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    cda: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
