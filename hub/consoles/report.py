"""The report in the doctor's console: save a draft, sign and send, open a new version; and
the signed PDF for the clinicians of the site."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from hub import deps
from hub.audit.service import trace_read
from hub.consoles.consultation_console import DoctorCall
from hub.consultation import service
from hub.consultation.models import State
from hub.deps import Permitted, SessionDep
from hub.errors import NotFound
from hub.lengths import Text
from hub.reports import publication
from hub.reports import service as report_service

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])
AMENDMENT_REASON = Text("Ce que corrige la nouvelle version", 2000)


def _draft(form: dict[str, str]) -> report_service.ReportDraft:
    return report_service.ReportDraft(
        reason=form.get("reason", ""),
        examination=form.get("examination", ""),
        conclusion=form.get("conclusion", ""),
        prescriptions=form.get("prescriptions", ""),
        orientation=form.get("orientation", ""),
        doctor_act=form.get("doctor_act", ""),
        nurse_act=form.get("nurse_act", ""),
        psychiatric=form.get("psychiatric") == "oui",
        hidden_from_patient=form.get("hidden_from_patient") == "oui",
    )


@router.post("/medecin/consultations/{consultation_id}/compte-rendu", response_class=HTMLResponse)
async def write_report(call: DoctorCall, consultation_id: int) -> Response:
    form = {k: v for k, v in (await call.request.form()).items() if isinstance(v, str)}
    draft = _draft(form)

    async def save_or_sign() -> None:
        consultation = await service.get_consultation(
            session=call.session, user=call.user, consultation_id=consultation_id
        )
        # The draft is kept first, so a refused signature loses nothing of what was typed.
        await report_service.save_draft(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
            consultation=consultation,
            draft=draft,
        )
        if form.get("action") != "sign":
            return
        await publication.sign_and_publish(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
            consultation=consultation,
            draft=draft,
        )
        if consultation.state is State.REPORTING:
            await call.transition(consultation_id, "close")

    return await call.act(consultation_id, save_or_sign(), suffix="#compte-rendu")


@router.post(
    "/medecin/consultations/{consultation_id}/compte-rendu/nouvelle-version",
    response_class=HTMLResponse,
)
async def amend_report(
    call: DoctorCall,
    consultation_id: int,
    amendment_reason: Annotated[str, Form()] = "",
) -> Response:
    if problem := AMENDMENT_REASON.problem(amendment_reason):
        return await call.console(consultation_id, error=problem, status=422)

    async def amend() -> None:
        consultation = await service.get_consultation(
            session=call.session, user=call.user, consultation_id=consultation_id
        )
        await report_service.amend(
            session=call.session,
            ctx=call.ctx,
            user=call.user,
            consultation=consultation,
            reason=amendment_reason,
        )

    return await call.act(consultation_id, amend(), suffix="#compte-rendu")


@router.get("/comptes-rendus/{report_id}.pdf")
async def report_pdf(
    request: Request, report_id: int, user: Permitted, session: SessionDep
) -> Response:
    """A signed report's PDF, for the clinicians of the consultation's site (traced)."""
    report = await report_service.get_report(session=session, report_id=report_id)
    if report is None or report.pdf is None:
        raise NotFound("Compte rendu introuvable.")
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=report.consultation_id
    )
    await trace_read(
        session=session,
        user_id=user.id,
        site_id=consultation.site_id,
        target=f"consultation:{consultation.id}",
        ip=request.client.host if request.client else "",
    )
    return Response(
        report.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": (
                f'inline; filename="compte-rendu-{consultation.id}-v{report.version}.pdf"'
            ),
            "Cache-Control": "no-store",
        },
    )
