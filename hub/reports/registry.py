"""The document-sharing adapter (DMP-style shared record) and its embedded implementation.

``DocumentSharing`` is what the hub needs from a shared record: deposit a signed report's CDA
with its XDS metadata, list and read documents as a professional or as the patient, let the
patient mask a document from other professionals, let the author disclose a withheld document,
and tell the patient who accessed their data. ``EmbeddedRegistry`` keeps the record in the
``shared_documents`` table; a real DMP (or PDSm) client would implement the same Protocol and be
chosen by ``document_sharing``.

Every write and every read leaves an audit event. Writes are added to the caller's session (the
caller commits, so a deposit and the report it belongs to commit together); reads commit their
trace at once, like ``audit.trace_read``, so a read is traced even if the request fails later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import ACTION_LABELS, events_about, record_event
from hub.config import Settings
from hub.consultation.service import consultation_ids_of
from hub.context import HubContext
from hub.db import utcnow
from hub.errors import Forbidden, NotFound
from hub.identity import service as identity_service
from hub.identity.models import ROLE_LABELS, Role
from hub.records import documents
from hub.records.documents import Confidentiality, document_ids_of
from hub.records.patient_service import patient_by_id
from hub.reports.facts import ReportFacts
from hub.reports.models import Report

if TYPE_CHECKING:
    from hub.audit.models import AuditEvent
    from hub.identity.models import User
    from hub.records.documents import SharedDocument

# XDS metadata of a TLM-CR (compte rendu de télémédecine), from the ANS value sets:
# classCode from JDV_J06 XdsClassCode-CISIS (TRE_A03 ClasseDocument, 1.2.250.1.213.1.1.4.1),
# typeCode from JDV_J07 XdsTypeCode-CISIS (LOINC), formatCode from JDV_J10: the TLM-CR is a
# level 1 document with a PDF body (XDS-SD), and TRE_A06 has no code of its own for it.
CLASS_CODE = ("10", "Compte rendu")
TYPE_CODE = ("85208-7", "CR de télémédecine")
FORMAT_CODE = "urn:ihe:iti:xds-sd:pdf:2008"
# practiceSettingCode from JDV_J04 (TRE_A01 CadreExercice): the CPTS rooms are ambulatory care.
PRACTICE_SETTING = "AMBULATOIRE"
CDA_MIME_TYPE = "text/xml"

OPPOSITION = "opposition du patient"
DOCUMENT_MISSING = "Ce document n'existe pas ou n'est plus disponible."
ONLY_AUTHOR = "Seul le médecin auteur de ce document peut le rendre visible au patient."
GENERIC_ACCESS = "Accès au dossier"


@dataclass(frozen=True, slots=True)
class AccessLine:
    """One access to a patient's data, as the patient is shown it."""

    at: dt.datetime
    actor_name: str
    actor_role: str  # in French ("Infirmier·ère"), "" when not a member of staff
    action: str  # in French
    refused: bool
    times: int = 1  # repeated accesses of one person for one purpose, grouped (see grouped)
    since: dt.datetime | None = None  # the first of them, when grouped


REPEAT_WINDOW = dt.timedelta(hours=1)


def grouped(lines: list[AccessLine], window: dt.timedelta = REPEAT_WINDOW) -> list[AccessLine]:
    """The accesses as a patient can read them: one person's repeated accesses for one purpose
    (a nurse's page reloading the record through a consultation) become one line — how many
    times, from when to when — as long as each follows the previous within ``window``.
    ``lines`` newest first, as ``access_history`` gives them."""
    out: list[AccessLine] = []
    for line in lines:
        last = out[-1] if out else None
        if (
            last is not None
            and (last.actor_name, last.actor_role, last.action, last.refused)
            == (line.actor_name, line.actor_role, line.action, line.refused)
            and (last.since or last.at) - line.at <= window
        ):
            out[-1] = replace(last, times=last.times + 1, since=line.at)
        else:
            out.append(line)
    return out


class DocumentSharing(Protocol):
    """What the hub needs from a shared health record (embedded registry, DMP, PDSm…)."""

    async def deposit(
        self,
        *,
        session: AsyncSession,
        facts: ReportFacts,
        cda: bytes,
        actor: User,
        opposed: bool,
        hidden_from_patient: bool,
    ) -> SharedDocument | None: ...

    async def documents_for_professional(
        self,
        *,
        session: AsyncSession,
        patient_id: int,
        reader: User,
        include_deprecated: bool = False,
    ) -> list[SharedDocument]: ...

    async def documents_for_patient(
        self, *, session: AsyncSession, patient_id: int, include_deprecated: bool = False
    ) -> list[SharedDocument]: ...

    async def get_for_professional(
        self, *, session: AsyncSession, document_id: int, reader: User
    ) -> SharedDocument: ...

    async def get_for_patient(
        self, *, session: AsyncSession, document_id: int, patient_id: int
    ) -> SharedDocument: ...

    async def set_masked(
        self, *, session: AsyncSession, document_id: int, patient_id: int, masked: bool
    ) -> SharedDocument: ...

    async def disclose(
        self,
        *,
        session: AsyncSession,
        document_id: int,
        author: User,
        now: dt.datetime | None = None,
    ) -> SharedDocument: ...

    async def access_history(
        self, *, session: AsyncSession, patient_id: int
    ) -> list[AccessLine]: ...


def document_sharing(ctx_or_settings: HubContext | Settings) -> DocumentSharing:
    """The shared record this hub deposits into: for now always the embedded registry."""
    return EmbeddedRegistry()


def _trace(
    session: AsyncSession,
    *,
    action: str,
    document: SharedDocument,
    actor_kind: str,
    actor_id: int | None,
    outcome: str = "success",
) -> None:
    record_event(
        session=session,
        action=action,
        actor_kind=actor_kind,
        actor_id=actor_id,
        outcome=outcome,
        target=f"document:{document.id}",
        detail=f"patient:{document.patient_id}",
    )


def _author_name(facts: ReportFacts) -> str:
    """As the report itself names its author (hub.reports.pdf)."""
    return f"Dr {facts.doctor.given_name} {facts.doctor.family_name}".strip()


class EmbeddedRegistry:
    """The shared record kept in the hub's own database (table ``shared_documents``)."""

    async def deposit(
        self,
        *,
        session: AsyncSession,
        facts: ReportFacts,
        cda: bytes,
        actor: User,
        opposed: bool,
        hidden_from_patient: bool,
    ) -> SharedDocument | None:
        """Store the signed report's CDA with its XDS metadata and return it; None when the
        patient opposed (the refusal is traced). A later version deprecates the previous one.
        Depositing the same document twice returns the stored one. The caller commits."""
        patient_id = int(facts.patient.local_id)
        patient = await patient_by_id(session=session, patient_id=patient_id)
        if patient is None:
            raise NotFound("Ce patient n'existe pas.")
        if opposed:
            record_event(
                session=session,
                action="dmp.deposit_skipped",
                actor_kind="user",
                actor_id=actor.id,
                outcome="refused",
                target=f"patient:{patient_id}",
                detail=OPPOSITION,
            )
            return None
        existing = await documents.document_by_unique_id(
            session=session, unique_id=facts.document_oid
        )
        if existing is not None:
            return existing
        report = await session.get(Report, facts.report_id)
        document, previous = await documents.add_version(
            session=session,
            new=documents.NewVersion(
                organisation_id=patient.organisation_id,
                patient_id=patient_id,
                report_id=report.id if report is not None else None,
                unique_id=facts.document_oid,
                set_id=facts.set_oid,
                version=facts.version,
                title=facts.title,
                class_code=CLASS_CODE,
                type_code=TYPE_CODE,
                format_code=FORMAT_CODE,
                practice_setting=PRACTICE_SETTING,
                confidentiality=Confidentiality(facts.confidentiality),
                hidden_from_patient=hidden_from_patient,
                mime_type=CDA_MIME_TYPE,
                content=cda,
                author_id=facts.doctor.user_id,
                author_name=_author_name(facts),
                service_start=facts.started_at,
                service_stop=facts.ended_at,
            ),
        )
        _trace(
            session, action="dmp.deposit", document=document, actor_kind="user", actor_id=actor.id
        )
        for old in previous:
            _trace(
                session, action="dmp.replace", document=old, actor_kind="user", actor_id=actor.id
            )
        await session.flush()
        return document

    async def documents_for_professional(
        self,
        *,
        session: AsyncSession,
        patient_id: int,
        reader: User,
        include_deprecated: bool = False,
    ) -> list[SharedDocument]:
        """The patient's documents this professional may see, newest first (traced)."""
        rows = await documents.documents_of(
            session=session,
            patient_id=patient_id,
            include_deprecated=include_deprecated,
            organisation_id=reader.organisation_id,
            unmasked_or_by=reader.id,
        )
        record_event(
            session=session,
            action="dmp.list",
            actor_kind="user",
            actor_id=reader.id,
            target=f"patient:{patient_id}",
        )
        await session.commit()
        return rows

    async def documents_for_patient(
        self, *, session: AsyncSession, patient_id: int, include_deprecated: bool = False
    ) -> list[SharedDocument]:
        """The documents the patient may see (withheld ones only once disclosed), newest first;
        the patient's view is traced."""
        rows = await documents.documents_of(
            session=session,
            patient_id=patient_id,
            include_deprecated=include_deprecated,
            to_patient=True,
        )
        record_event(
            session=session,
            action="dmp.patient_view",
            actor_kind="patient",
            actor_id=patient_id,
            target=f"patient:{patient_id}",
        )
        await session.commit()
        return rows

    async def get_for_professional(
        self, *, session: AsyncSession, document_id: int, reader: User
    ) -> SharedDocument:
        """One document for this professional (traced). A document masked by the patient is
        reported missing, exactly like one that does not exist, to anyone but its author."""
        document = await documents.document_by_id(session=session, document_id=document_id)
        if document is None or document.organisation_id != reader.organisation_id:
            raise NotFound(DOCUMENT_MISSING)
        if document.masked and document.author_id != reader.id:
            _trace(
                session,
                action="dmp.read",
                document=document,
                actor_kind="user",
                actor_id=reader.id,
                outcome="refused",
            )
            await session.commit()
            raise NotFound(DOCUMENT_MISSING)
        _trace(session, action="dmp.read", document=document, actor_kind="user", actor_id=reader.id)
        await session.commit()
        return document

    async def get_for_patient(
        self, *, session: AsyncSession, document_id: int, patient_id: int
    ) -> SharedDocument:
        """One of the patient's own documents, unless still withheld (traced)."""
        document = await documents.document_by_id(session=session, document_id=document_id)
        if document is None or document.patient_id != patient_id or document.hidden_from_patient:
            raise NotFound(DOCUMENT_MISSING)
        _trace(
            session,
            action="dmp.patient_read",
            document=document,
            actor_kind="patient",
            actor_id=patient_id,
        )
        await session.commit()
        return document

    async def set_masked(
        self, *, session: AsyncSession, document_id: int, patient_id: int, masked: bool
    ) -> SharedDocument:
        """The patient masks a document (every version of it) from the other professionals, or
        shows it again. The caller commits."""
        document = await documents.document_by_id(session=session, document_id=document_id)
        if document is None or document.patient_id != patient_id or document.hidden_from_patient:
            raise NotFound(DOCUMENT_MISSING)
        for version in await documents.versions_of(session=session, document=document):
            version.masked = masked
        _trace(
            session,
            action="dmp.mask" if masked else "dmp.unmask",
            document=document,
            actor_kind="patient",
            actor_id=patient_id,
        )
        await session.flush()
        return document

    async def disclose(
        self,
        *,
        session: AsyncSession,
        document_id: int,
        author: User,
        now: dt.datetime | None = None,
    ) -> SharedDocument:
        """The author doctor makes a withheld document (every version) visible to the patient,
        having told them. The caller commits."""
        document = await documents.document_by_id(session=session, document_id=document_id)
        if document is None or document.organisation_id != author.organisation_id:
            raise NotFound(DOCUMENT_MISSING)
        if document.author_id != author.id:
            if document.masked:
                raise NotFound(DOCUMENT_MISSING)
            raise Forbidden(ONLY_AUTHOR)
        moment = now or utcnow()
        for version in await documents.versions_of(session=session, document=document):
            if version.hidden_from_patient:
                version.hidden_from_patient = False
                version.disclosed_at = moment
        _trace(
            session, action="dmp.disclose", document=document, actor_kind="user", actor_id=author.id
        )
        await session.flush()
        return document

    async def access_history(
        self, *, session: AsyncSession, patient_id: int, limit: int = 500
    ) -> list[AccessLine]:
        """Who accessed this patient's data (their record, documents and consultations), when
        and to do what, newest first. The patient's own visits are left out."""
        documents = await document_ids_of(session=session, patient_id=patient_id)
        consultations = await consultation_ids_of(session=session, patient_id=patient_id)
        targets = [f"patient:{patient_id}"]
        targets += [f"document:{i}" for i in documents]
        targets += [f"consultation:{i}" for i in consultations]
        events = await events_about(
            session=session,
            targets=targets,
            newest_first=True,
            leave_out_actor_kind="patient",
            limit=limit,
        )
        users = await identity_service.actors_of(session=session, events=events)
        return [_line(event, users) for event in events]


_ACTOR_KINDS = {
    "cabin": "Chariot de téléconsultation",
    "system": "Service automatique de la CPTS",
    "anonymous": "Personne non connectée",
}


def _line(event: AuditEvent, users: dict[int, User]) -> AccessLine:
    name, role = _ACTOR_KINDS.get(event.actor_kind, "Système d'information"), ""
    if event.actor_kind == "user":
        user = users.get(event.actor_id or 0)
        if user is None:
            name = "Compte supprimé"
        else:
            name, role = user.full_name, ROLE_LABELS[Role(user.role)]
    return AccessLine(
        at=event.at,
        actor_name=name,
        actor_role=role,
        action=ACTION_LABELS.get(event.action, GENERIC_ACCESS),
        refused=event.outcome == "refused",
    )
