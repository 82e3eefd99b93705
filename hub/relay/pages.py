"""The coordinator's relay-doctor directory (referrals are made from the consoles:
``hub.consoles.referrals``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import deps
from hub.deps import Permitted, SessionDep
from hub.errors import HubError
from hub.relay import service
from hub.rendering import render

router = APIRouter(dependencies=[Depends(deps.csrf_protect)])


@router.get("/coordination/medecins-relais", response_class=HTMLResponse)
async def directory_page(
    request: Request, session: SessionDep, user: Permitted, error: str | None = None
) -> Response:
    doctors = await service.directory(session=session, organisation_id=user.organisation_id)
    return render(
        request,
        "coordination/relay_doctors.html",
        {"doctors": doctors, "error": error, "message": request.query_params.get("message", "")},
    )


@router.post("/coordination/medecins-relais", response_class=HTMLResponse)
async def add_doctor(
    request: Request,
    session: SessionDep,
    user: Permitted,
    name: Annotated[str, Form()] = "",
    speciality: Annotated[str, Form()] = "",
    city: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
) -> Response:
    """Add a relay doctor; refused, the form comes back as typed, each problem by its field."""
    try:
        await service.add_doctor(
            session=session,
            organisation_id=user.organisation_id,
            name=name,
            speciality=speciality,
            city=city,
            phone=phone,
            email=email,
        )
    except HubError as exc:
        await deps.rollback_keeping_user(session, user)
        doctors = await service.directory(session=session, organisation_id=user.organisation_id)
        typed = {"name": name, "speciality": speciality, "city": city, "phone": phone}
        return render(
            request,
            "coordination/relay_doctors.html",
            {
                "doctors": doctors,
                "error": None if exc.fields else exc.message,
                "errors": exc.fields,
                "values": typed | {"email": email},
                "message": "",
            },
            status_code=exc.status,
        )
    await session.commit()
    return RedirectResponse("/coordination/medecins-relais?message=ajoute", status_code=303)


@router.post("/coordination/medecins-relais/{doctor_id}/disponibilite")
async def toggle(session: SessionDep, user: Permitted, doctor_id: int) -> Response:
    doctor = await service.get_doctor(
        session=session, organisation_id=user.organisation_id, doctor_id=doctor_id
    )
    doctor.accepts_new_patients = not doctor.accepts_new_patients
    await session.commit()
    return RedirectResponse("/coordination/medecins-relais?message=modifie", status_code=303)
