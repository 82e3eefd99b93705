"""The DMP-style shared record: documents deposited for a patient, with XDS-style metadata.

A document is never edited: a new version replaces it (``replaced_by_id``, status
``deprecated``). ``masked`` hides it from professionals other than its author (the patient's
right to mask); ``hidden_from_patient`` withholds it from the patient until ``disclosed_at``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
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


async def document_by_unique_id(*, session: AsyncSession, unique_id: str) -> SharedDocument | None:
    """The shared document with this XDS uniqueId (an OID), None if there is none."""
    return await session.scalar(select(SharedDocument).where(SharedDocument.unique_id == unique_id))


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A document to deposit, with its XDS metadata (``hub.reports.registry`` fills it in)."""

    organisation_id: int
    patient_id: int
    report_id: int | None
    unique_id: str
    set_id: str
    version: int
    title: str
    class_code: tuple[str, str]  # (code, display)
    type_code: tuple[str, str]  # LOINC (code, display)
    format_code: str
    practice_setting: str
    confidentiality: Confidentiality
    hidden_from_patient: bool
    mime_type: str
    content: bytes
    author_id: int | None
    author_name: str
    service_start: dt.datetime | None
    service_stop: dt.datetime | None


async def add_version(
    *, session: AsyncSession, new: NewVersion
) -> tuple[SharedDocument, list[SharedDocument]]:
    """Store a document and deprecate the approved earlier versions of its set for the same
    patient, now replaced by it; the patient's choice to mask a document carries over to its new
    versions. The stored document and the versions it replaced, flushed; the caller commits."""
    previous = list(
        await session.scalars(
            select(SharedDocument).where(
                SharedDocument.set_id == new.set_id,
                SharedDocument.patient_id == new.patient_id,
                SharedDocument.status == DocumentStatus.APPROVED,
                SharedDocument.version < new.version,
            )
        )
    )
    document = SharedDocument(
        organisation_id=new.organisation_id,
        patient_id=new.patient_id,
        report_id=new.report_id,
        unique_id=new.unique_id,
        set_id=new.set_id,
        version=new.version,
        title=new.title,
        class_code=new.class_code[0],
        class_display=new.class_code[1],
        type_code=new.type_code[0],
        type_display=new.type_code[1],
        format_code=new.format_code,
        practice_setting=new.practice_setting,
        confidentiality=new.confidentiality,
        masked=any(p.masked for p in previous),
        hidden_from_patient=new.hidden_from_patient,
        status=DocumentStatus.APPROVED,
        mime_type=new.mime_type,
        content=new.content,
        content_sha1=hashlib.sha1(new.content, usedforsecurity=False).hexdigest(),
        author_id=new.author_id,
        author_name=new.author_name,
        service_start=new.service_start,
        service_stop=new.service_stop,
    )
    session.add(document)
    await session.flush()
    for old in previous:
        old.status = DocumentStatus.DEPRECATED
        old.replaced_by_id = document.id
    await session.flush()
    return document, previous


async def documents_of(
    *,
    session: AsyncSession,
    patient_id: int,
    include_deprecated: bool = False,
    organisation_id: int | None = None,
    unmasked_or_by: int | None = None,
    to_patient: bool = False,
) -> list[SharedDocument]:
    """The patient's documents, newest first: only the current versions unless
    ``include_deprecated``; of one CPTS if ``organisation_id``; when ``unmasked_or_by`` is a
    user's id, those the patient did not mask or that user wrote; when ``to_patient``, not those
    still withheld from the patient."""
    query = select(SharedDocument).where(SharedDocument.patient_id == patient_id)
    if organisation_id is not None:
        query = query.where(SharedDocument.organisation_id == organisation_id)
    if unmasked_or_by is not None:
        query = query.where(
            SharedDocument.masked.is_(False) | (SharedDocument.author_id == unmasked_or_by)
        )
    if to_patient:
        query = query.where(SharedDocument.hidden_from_patient.is_(False))
    if not include_deprecated:
        query = query.where(SharedDocument.status == DocumentStatus.APPROVED)
    order = (SharedDocument.created_at.desc(), SharedDocument.id.desc())
    return list(await session.scalars(query.order_by(*order)))


async def versions_of(*, session: AsyncSession, document: SharedDocument) -> list[SharedDocument]:
    """Every version of this document (its set, for the same patient)."""
    return list(
        await session.scalars(
            select(SharedDocument).where(
                SharedDocument.set_id == document.set_id,
                SharedDocument.patient_id == document.patient_id,
            )
        )
    )


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
