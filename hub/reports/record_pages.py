"""The shared record's pages: the patient's own page (signed link, no account) and the
professionals' view of a patient's shared documents."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import Invalid, NotFound
from hub.identity import policy
from hub.identity.policy import Permission
from hub.records import documents
from hub.records.patient_links import (
    RecordLink,
    record_link_from_token,
    revoke_record_links,
    send_record_link,
)
from hub.records.patient_service import patient_by_id
from hub.rendering import render
from hub.reports.models import Report
from hub.reports.registry import DOCUMENT_MISSING, document_sharing, grouped
from hub.scheduling.care import care_site_ids

if TYPE_CHECKING:
    from hub.identity.models import User
    from hub.records.documents import SharedDocument
    from hub.records.patients import Patient

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])

PATIENT_MISSING = "Ce patient n'existe pas."
NO_CARE_RELATIONSHIP = (
    "Vous ne pouvez pas ouvrir ce dossier partagé : ce patient est suivi sur un site pour "
    "lequel vous n'agissez pas."
)
NO_PDF = "Ce document n'a pas de version PDF."
CONFIRM_REVOCATION = "Cochez la case de confirmation pour désactiver les liens du patient."
_HL7 = "{urn:hl7-org:v3}"
_NO_STORE = {"cache-control": "no-store"}


def pdf_of(document: SharedDocument, report: Report | None) -> bytes:
    """The document as PDF: its report's, else the PDF carried in the CDA's nonXMLBody."""
    if report is not None and report.pdf:
        return report.pdf
    if b"<!DOCTYPE" in document.content.upper():
        raise NotFound(NO_PDF)  # no DTD, hence no entity to expand
    try:
        root = ET.fromstring(document.content)  # noqa: S314 - no DTD, checked above
    except ET.ParseError:
        raise NotFound(NO_PDF) from None
    text = root.find(f"{_HL7}component/{_HL7}nonXMLBody/{_HL7}text")
    if text is None or text.get("mediaType") != "application/pdf" or not text.text:
        raise NotFound(NO_PDF)
    try:
        return base64.b64decode(text.text, validate=False)
    except binascii.Error:
        raise NotFound(NO_PDF) from None


async def _pdf_response(session: AsyncSession, document: SharedDocument) -> Response:
    report = await session.get(Report, document.report_id) if document.report_id else None
    name = f"compte-rendu-{document.id}-v{document.version}.pdf"
    return Response(
        pdf_of(document, report),
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="{name}"', **_NO_STORE},
    )


# --- the patient's page ------------------------------------------------------------------------


async def _record_link(session: AsyncSession, ctx: HubContext, token: str) -> RecordLink:
    return await record_link_from_token(
        session=session,
        secret=ctx.secret,
        token=token,
        now=ctx.clock(),
        valid_for=dt.timedelta(days=ctx.settings.record_link_days),
    )


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""


@router.get("/mon-dossier/{token}", response_class=HTMLResponse)
async def patient_record(
    request: Request, session: SessionDep, ctx: ContextDep, token: str, message: str = ""
) -> Response:
    link = await _record_link(session, ctx, token)
    patient = link.patient
    registry = document_sharing(ctx)
    documents = await registry.documents_for_patient(session=session, patient_id=patient.id)
    history = await registry.access_history(session=session, patient_id=patient.id)
    return render(
        request,
        "records/patient_record.html",
        {
            "patient": patient,
            "documents": documents,
            "history": grouped(history),
            "token": token,
            "expires_at": link.expires_at,
            "message": message,
        },
    )


@router.get("/mon-dossier/{token}/documents/{document_id}.pdf")
async def patient_pdf(
    session: SessionDep, ctx: ContextDep, token: str, document_id: int
) -> Response:
    patient = (await _record_link(session, ctx, token)).patient
    document = await document_sharing(ctx).get_for_patient(
        session=session, document_id=document_id, patient_id=patient.id
    )
    return await _pdf_response(session, document)


@router.post("/mon-dossier/{token}/documents/{document_id}/masquage")
async def patient_mask(
    session: SessionDep,
    ctx: ContextDep,
    token: str,
    document_id: int,
    masquer: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    patient = (await _record_link(session, ctx, token)).patient
    masked = masquer == "oui"
    await document_sharing(ctx).set_masked(
        session=session, document_id=document_id, patient_id=patient.id, masked=masked
    )
    await session.commit()
    outcome = "masque" if masked else "visible"
    return RedirectResponse(f"/mon-dossier/{token}?message={outcome}", status_code=303)


@router.get("/mon-dossier/{token}/desactivation", response_class=HTMLResponse)
async def patient_revoke_page(
    request: Request, session: SessionDep, ctx: ContextDep, token: str
) -> Response:
    await _record_link(session, ctx, token)
    return render(request, "records/patient_link_revoke.html", {"token": token, "done": False})


@router.post("/mon-dossier/{token}/desactivation", response_class=HTMLResponse)
async def patient_revoke(
    request: Request, session: SessionDep, ctx: ContextDep, token: str
) -> Response:
    patient = (await _record_link(session, ctx, token)).patient
    revoke_record_links(session=session, patient=patient, actor_kind="patient", ip=_ip(request))
    await session.commit()
    return render(request, "records/patient_link_revoke.html", {"token": "", "done": True})


# --- the professionals' view -------------------------------------------------------------------


async def _check_care_relationship(
    session: AsyncSession,
    user: User,
    patient_id: int,
    permission: Permission = Permission.SHARED_RECORD,
) -> Patient:
    """The patient, if this professional's organisation knows them and the permission reaches
    them (a booking at one of the professional's sites); else NotFound / Forbidden."""
    patient = await patient_by_id(session=session, patient_id=patient_id)
    if patient is None or patient.organisation_id != user.organisation_id:
        raise NotFound(PATIENT_MISSING)
    policy.check(
        user,
        permission,
        sites=await care_site_ids(session=session, patient_id=patient_id),
        refusal=NO_CARE_RELATIONSHIP,
    )
    return patient


async def _professional_document(
    session: AsyncSession, ctx: HubContext, user: User, document_id: int
) -> SharedDocument:
    """A document, once the care relationship with its patient is checked (traced read)."""
    found = await documents.document_by_id(session=session, document_id=document_id)
    if found is None or found.organisation_id != user.organisation_id:
        raise NotFound(DOCUMENT_MISSING)
    await _check_care_relationship(session, user, found.patient_id)
    return await document_sharing(ctx).get_for_professional(
        session=session, document_id=document_id, reader=user
    )


@router.get("/dossier-partage/patients/{patient_id}", response_class=HTMLResponse)
async def shared_record(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
    patient_id: int,
    anciennes: str = "",
    message: str = "",
) -> Response:
    patient = await _check_care_relationship(session, user, patient_id)
    include_deprecated = anciennes == "1"
    documents = await document_sharing(ctx).documents_for_professional(
        session=session, patient_id=patient.id, reader=user, include_deprecated=include_deprecated
    )
    return render(
        request,
        "records/shared_record.html",
        {
            "patient": patient,
            "documents": documents,
            "include_deprecated": include_deprecated,
            "message": message,
        },
    )


@router.post("/dossier-partage/patients/{patient_id}/lien-dossier/desactivation")
async def professional_revoke_links(
    request: Request,
    session: SessionDep,
    user: Permitted,
    patient_id: int,
    confirmation: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    patient = await _check_care_relationship(session, user, patient_id)
    if confirmation != "oui":
        raise Invalid(CONFIRM_REVOCATION)
    revoke_record_links(
        session=session, patient=patient, actor_kind="user", actor_id=user.id, ip=_ip(request)
    )
    await session.commit()
    return RedirectResponse(
        f"/dossier-partage/patients/{patient.id}?message=liens_desactives", status_code=303
    )


# --- the secretariat: revoke the patient's links, send a new one --------------------------------


async def _organisation_patient(session: AsyncSession, user: User, patient_id: int) -> Patient:
    patient = await patient_by_id(session=session, patient_id=patient_id)
    if patient is None or patient.organisation_id != user.organisation_id:
        raise NotFound(PATIENT_MISSING)
    return patient


@router.post("/secretariat/patients/{patient_id}/lien-dossier/desactivation")
async def secretary_revoke_links(
    request: Request,
    session: SessionDep,
    user: Permitted,
    patient_id: int,
    confirmation: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    patient = await _organisation_patient(session, user, patient_id)
    if confirmation != "oui":
        raise Invalid(CONFIRM_REVOCATION)
    revoke_record_links(
        session=session, patient=patient, actor_kind="user", actor_id=user.id, ip=_ip(request)
    )
    await session.commit()
    return render(
        request,
        "records/staff_record_link.html",
        {"patient": patient, "outcome": "desactive"},
    )


@router.post("/secretariat/patients/{patient_id}/lien-dossier")
async def secretary_send_link(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted, patient_id: int
) -> Response:
    patient = await _organisation_patient(session, user, patient_id)
    sent = await send_record_link(
        session=session,
        patient=patient,
        base_url=ctx.settings.base_url,
        secret=ctx.secret,
        now=ctx.clock(),
        valid_for=dt.timedelta(days=ctx.settings.record_link_days),
        requested_by=user.id,
    )
    await session.commit()
    return render(
        request,
        "records/staff_record_link.html",
        {"patient": patient, "outcome": "envoye" if sent else "injoignable"},
        status_code=200 if sent else 422,
    )


@router.get("/dossier-partage/documents/{document_id}.pdf")
async def professional_pdf(
    session: SessionDep, ctx: ContextDep, user: Permitted, document_id: int
) -> Response:
    document = await _professional_document(session, ctx, user, document_id)
    return await _pdf_response(session, document)


@router.get("/dossier-partage/documents/{document_id}.xml")
async def professional_cda(
    session: SessionDep, ctx: ContextDep, user: Permitted, document_id: int
) -> Response:
    document = await _professional_document(session, ctx, user, document_id)
    name = f"compte-rendu-{document.id}-v{document.version}.xml"
    return Response(
        document.content,
        media_type=document.mime_type,
        headers={"content-disposition": f'attachment; filename="{name}"', **_NO_STORE},
    )


@router.post("/dossier-partage/documents/{document_id}/annonce")
async def disclose(
    session: SessionDep, ctx: ContextDep, user: Permitted, document_id: int
) -> Response:
    found = await documents.document_by_id(session=session, document_id=document_id)
    if found is None or found.organisation_id != user.organisation_id:
        raise NotFound(DOCUMENT_MISSING)
    await _check_care_relationship(session, user, found.patient_id, Permission.DISCLOSE)
    document = await document_sharing(ctx).disclose(
        session=session, document_id=document_id, author=user, now=ctx.clock()
    )
    await session.commit()
    return RedirectResponse(
        f"/dossier-partage/patients/{document.patient_id}?message=annonce", status_code=303
    )
