"""What the room's console (nurse or facility staff) and the doctor's console share: the page
of a consultation with everything it shows, and ``Call``, the request every action of either
console runs in (a change, then the console again or the reason it was refused)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub import deps
from hub.audit.service import trace_read
from hub.cabins.live import ObservationPublic
from hub.cabins.overview import home_context
from hub.consoles.kit import kit_view
from hub.consoles.vitals import measuring_devices, vitals_view
from hub.consultation import checks, guests, identity_review, insi_query, service
from hub.consultation.models import STATE_LABELS
from hub.context import HubContext
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import HubError
from hub.lengths import Text
from hub.records.observations import observations_of_booking
from hub.records.vigilance import STATUS_LABELS
from hub.relay import service as relay
from hub.rendering import render
from hub.reports import view as report_view

if TYPE_CHECKING:
    from hub.consultation.models import Consultation
    from hub.identity.models import User

# The note of a state change (why the patient is redirected, an emergency's cause).
NOTE = Text("Motif", 300)
# How much the nurse's preconsultation notes may hold.
PRECONSULTATION_TEXT = {
    "reason": Text("Motif", 1000),
    "history": Text("Antécédents", 4000),
    "treatments": Text("Traitements", 4000),
    "allergies": Text("Allergies", 1000),
}


async def _console(
    request: Request,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation_id: int,
    *,
    template: str,
    error: str | None = None,
    status_code: int = 200,
    identity: IdentityAnswer | None = None,
    extra: dict[str, object] | None = None,
) -> Response:
    """The console; ``identity`` is a refused identity check, shown in its form; ``extra``
    more of the template's data (a refused invitation's form)."""
    consultation = await service.get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    await trace_read(
        session=session,
        user_id=user.id,
        site_id=consultation.site_id,
        target=f"patient:{consultation.patient_id}",
        ip=request.client.host if request.client else "",
    )
    data = await home_context(ctx, session, user)
    data["sites"] = [s for s in data["sites"] if s.id == consultation.site_id]  # type: ignore[attr-defined]
    data.update(await kit_view(ctx, session, user, consultation, data))
    trolley = [  # the devices of the consultation's cabins: the room's, the kit lent to it
        d
        for site in data["sites"]  # type: ignore[attr-defined]
        for st in data["statuses"].get(site.id, [])  # type: ignore[attr-defined]
        for d in data["devices"].get(st.cabin_id, [])  # type: ignore[attr-defined]
    ]
    now = ctx.clock()
    observations = await observations_of_booking(
        session=session, booking_id=consultation.booking_id
    )
    data.update(
        {
            "c": consultation,
            "patient": consultation.booking.patient,
            "now": now,
            "state_label": STATE_LABELS[consultation.state],
            "documents": checks.IDENTITY_DOCUMENTS,
            "document_options": [("", "—"), *checks.IDENTITY_DOCUMENTS.items()],
            "error": error,
            **_identity_form(consultation, identity),
            **await guests.console_view(session=session, ctx=ctx, consultation=consultation),
            "identity_status": STATUS_LABELS[consultation.booking.patient.identity_status],
            # "Interroger INSi" when the teleservice is configured; else why it is not there.
            "insi_unavailable": "" if ctx.settings.insi_url else insi_query.UNAVAILABLE,
            "observations": observations,
            "pre_limits": {name: t.max_length for name, t in PRECONSULTATION_TEXT.items()},
            "vitals": vitals_view(
                (ObservationPublic.of_row(o) for o in observations),
                consultation.booking.site.timezone,
            ),
            # "Mesurer" in the vitals' tiles, for those who may command the room's cabin.
            "measuring": measuring_devices(trolley) if data["can_command"] else {},
            "events": await service.history(session=session, consultation_id=consultation.id),
            "phq9_severity": checks.phq9_severity(consultation.phq9)
            if consultation.phq9 is not None
            else "",
            "gad7_severity": checks.gad7_severity(consultation.gad7)
            if consultation.gad7 is not None
            else "",
            "waiting": service.elapsed_minutes(consultation.ready_at, now),
            "captures": await service.captures_of(session=session, consultation_id=consultation.id),
            "relay_doctors": await relay.directory(
                session=session, organisation_id=user.organisation_id, accepting_only=True
            ),
            "referrals": await relay.referrals_of(session=session, consultation_id=consultation.id),
            "pending_case": await identity_review.pending_case(
                session=session,
                organisation_id=user.organisation_id,
                pending_id=consultation.patient_id,
            )
            if consultation.booking.patient.pending_of_id is not None
            else None,
        }
    )
    data.update(
        await report_view.console_view(
            session=session,
            consultation=consultation,
            observations=observations,
        )
    )
    data.update(extra or {})
    return render(request, template, data, status_code=status_code)


@dataclass(frozen=True)
class IdentityAnswer:
    """A refused identity check: what was typed and why it was refused."""

    values: dict[str, object]
    error: HubError


def _identity_form(consultation: Consultation, answer: IdentityAnswer | None) -> dict[str, object]:
    """The identity form's values and its problems by field (any other refusal is said at the
    top of the console, as every action's is)."""
    patient = consultation.booking.patient
    if answer is None:
        values: dict[str, object] = {
            "birth_place_code": patient.birth_place_code,
            "nir": patient.nir,
            "document": consultation.identity_document or "",
        }
        return {"identity_values": values, "identity_errors": {}}
    return {"identity_values": answer.values, "identity_errors": answer.error.fields}


@dataclass(frozen=True)
class Call:
    """One request to a consultation console: who, where, and how to answer it."""

    request: Request
    session: AsyncSession
    ctx: HubContext
    user: User
    template: str
    base: str  # the console's URL prefix

    async def console(
        self,
        cid: int,
        *,
        error: str | None = None,
        status: int = 200,
        identity: IdentityAnswer | None = None,
        extra: dict[str, object] | None = None,
    ) -> Response:
        return await _console(
            self.request,
            self.session,
            self.ctx,
            self.user,
            cid,
            template=self.template,
            error=error,
            status_code=status,
            identity=identity,
            extra=extra,
        )

    async def act(self, cid: int, action: Awaitable[object], *, suffix: str = "") -> Response:
        """Run a change; redirect to the console, or show it again with the reason."""
        try:
            await action
        except HubError as exc:
            await deps.rollback_keeping_user(self.session, self.user)
            return await self.console(cid, error=exc.message, status=exc.status)
        return RedirectResponse(f"{self.base}/{cid}{suffix}", status_code=303)

    def transition(self, cid: int, action: str, note: str = "") -> Awaitable[object]:
        return service.transition(
            session=self.session,
            ctx=self.ctx,
            user=self.user,
            consultation_id=cid,
            action=action,
            note=note,
        )

    async def transition_posted(self, cid: int, action: str, note: str) -> Response:
        """A state change posted from the console: its note checked, then the change run."""
        if problem := NOTE.problem(note):
            return await self.console(cid, error=problem, status=422)
        return await self.act(cid, self.transition(cid, action, note))


ROOM = "consultation/room.html"
DOCTOR = "consultation/doctor.html"


async def room_call(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted
) -> Call:
    return Call(request, session, ctx, user, ROOM, "/salle/consultations")


async def doctor_call(
    request: Request, session: SessionDep, ctx: ContextDep, user: Permitted
) -> Call:
    return Call(request, session, ctx, user, DOCTOR, "/medecin/consultations")


RoomCall = Annotated[Call, Depends(room_call)]
DoctorCall = Annotated[Call, Depends(doctor_call)]
