"""The DMP-style shared record: documents deposited for a patient, with XDS-style metadata.

A document is never edited: a new version replaces it (``replaced_by_id``, status
``deprecated``). ``masked`` hides it from professionals other than its author (the patient's
right to mask); ``hidden_from_patient`` withholds it from the patient until ``disclosed_at``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, LargeBinary, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, IntPk, utcnow
from hub.identity.models import enum_column


class Confidentiality(StrEnum):
    """HL7 confidentiality codes used by the DMP."""

    NORMAL = "N"
    RESTRICTED = "R"
    VERY_RESTRICTED = "V"


class DocumentStatus(StrEnum):
    APPROVED = "approved"
    DEPRECATED = "deprecated"


class SharedDocument(Base):
    __tablename__ = "shared_documents"

    id: Mapped[IntPk]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id", ondelete="SET NULL"), default=None
    )
    unique_id: Mapped[str] = mapped_column(String(128), unique=True)  # XDS uniqueId
    set_id: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(String(300))
    class_code: Mapped[str] = mapped_column(String(40))
    class_display: Mapped[str] = mapped_column(String(200))
    type_code: Mapped[str] = mapped_column(String(40))  # LOINC
    type_display: Mapped[str] = mapped_column(String(200))
    format_code: Mapped[str] = mapped_column(String(120))
    practice_setting: Mapped[str] = mapped_column(String(120), default="")
    confidentiality: Mapped[Confidentiality] = mapped_column(
        enum_column(Confidentiality, "confidentiality"), default=Confidentiality.NORMAL
    )
    masked: Mapped[bool] = mapped_column(default=False)
    hidden_from_patient: Mapped[bool] = mapped_column(default=False)
    disclosed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    status: Mapped[DocumentStatus] = mapped_column(
        enum_column(DocumentStatus, "document_status"), default=DocumentStatus.APPROVED
    )
    replaced_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("shared_documents.id", ondelete="SET NULL"), default=None
    )
    mime_type: Mapped[str] = mapped_column(String(60), default="text/xml")
    content: Mapped[bytes] = mapped_column(LargeBinary)
    content_sha1: Mapped[str] = mapped_column(String(40))
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    author_name: Mapped[str] = mapped_column(String(200), default="")
    service_start: Mapped[dt.datetime | None] = mapped_column(default=None)
    service_stop: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


async def document_by_id(*, session: AsyncSession, document_id: int) -> SharedDocument | None:
    """The shared document with this id, None if there is none."""
    return await session.get(SharedDocument, document_id)


async def document_ids_of(*, session: AsyncSession, patient_id: int) -> list[int]:
    """The ids of the patient's shared documents."""
    return list(
        await session.scalars(
            select(SharedDocument.id).where(SharedDocument.patient_id == patient_id)
        )
    )


async def deposited_unique_ids(*, session: AsyncSession, unique_ids: list[str]) -> set[str]:
    """Which of these document unique ids (OIDs) are in the shared record."""
    if not unique_ids:
        return set()
    return set(
        await session.scalars(
            select(SharedDocument.unique_id).where(SharedDocument.unique_id.in_(unique_ids))
        )
    )


async def any_masked(*, session: AsyncSession, set_id: str) -> bool:
    """Whether a version of this set of documents is masked from the patient."""
    found = await session.scalar(
        select(SharedDocument.id)
        .where(SharedDocument.set_id == set_id, SharedDocument.masked.is_(True))
        .limit(1)
    )
    return found is not None


async def reassign_patient(*, session: AsyncSession, from_id: int, to_id: int) -> int:
    """Move every shared-record document of one patient record to another (identity merge)."""
    rows = list(
        await session.scalars(select(SharedDocument).where(SharedDocument.patient_id == from_id))
    )
    for document in rows:
        document.patient_id = to_id
    await session.flush()
    return len(rows)
