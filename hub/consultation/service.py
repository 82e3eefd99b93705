"""The consultation state machine: each transition checks who may do it, records an event,
traces it in the audit trail, and tells the consoles.

    booked → arrived → preconsultation → ready → in_consultation → reporting → closed
    exits: cancelled, no_show, redirected (emergency or physical consultation), aborted
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub.audit.service import record_event
from hub.consultation import guests
from hub.consultation.models import Capture, Consultation, ConsultationEvent, DmpChoice, State
from hub.context import HubContext
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.events import Event
from hub.identity import policy
from hub.identity.models import PSYCHIATRY, Role
from hub.identity.policy import Permission
from hub.notify import outbox
from hub.notify.sms import normalise_french_mobile
from hub.scheduling.lookups import get_booking, with_patient_and_site
from hub.scheduling.models import BookingStatus

if TYPE_CHECKING:
    from hub.identity.models import Site, User

ROOM_STAFF = frozenset({Role.NURSE, Role.FACILITY_STAFF})
CLINICIANS = frozenset({Role.NURSE, Role.FACILITY_STAFF, Role.DOCTOR})


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    sources: frozenset[State]
    target: State
    roles: frozenset[Role]
    label: str


TRANSITIONS = {
    t.action: t
    for t in (
        Transition(
            "start_preconsultation",
            frozenset({State.ARRIVED}),
            State.PRECONSULTATION,
            ROOM_STAFF,
            "commencer la préconsultation",
        ),
        Transition(
            "mark_ready",
            frozenset({State.PRECONSULTATION}),
            State.READY,
            ROOM_STAFF,
            "prêt pour le médecin",
        ),
        Transition(
            "join",
            frozenset({State.READY, State.IN_CONSULTATION}),
            State.IN_CONSULTATION,
            frozenset({Role.DOCTOR}),
            "rejoindre",
        ),
        Transition(
            "end",
            frozenset({State.IN_CONSULTATION}),
            State.REPORTING,
            frozenset({Role.DOCTOR}),
            "terminer la téléconsultation",
        ),
        Transition(
            "close", frozenset({State.REPORTING}), State.CLOSED, frozenset({Role.DOCTOR}), "clore"
        ),
        Transition(
            "redirect",
            frozenset({State.ARRIVED, State.PRECONSULTATION, State.READY, State.IN_CONSULTATION}),
            State.REDIRECTED,
            CLINICIANS,
            "réorienter",
        ),
        Transition(
            "abort",
            frozenset({State.PRECONSULTATION, State.READY, State.IN_CONSULTATION}),
            State.ABORTED,
            CLINICIANS,
            "interrompre (panne)",
        ),
        Transition("cancel", frozenset({State.ARRIVED}), State.CANCELLED, ROOM_STAFF, "annuler"),
    )
}


async def reload(session: AsyncSession, consultation_id: int) -> Consultation:
    consultation = await session.scalar(
        select(Consultation)
        .where(Consultation.id == consultation_id)
        .options(
            selectinload(Consultation.booking).options(*with_patient_and_site()),
        )
        .execution_options(populate_existing=True)
    )
    if consultation is None:
        raise NotFound("Consultation introuvable.")
    return consultation


def _may_act(user: User, site_id: int) -> None:
    policy.check(
        user,
        Permission.CONSULTATION_DATA,
        sites=[site_id],
        refusal="Cette consultation a lieu sur un site pour lequel vous n'agissez pas.",
    )


async def consultation_by_id(*, session: AsyncSession, consultation_id: int) -> Consultation | None:
    """The consultation with this id, None if there is none (no access check: the caller's)."""
    return await session.get(Consultation, consultation_id)


async def consultation_ids_of(*, session: AsyncSession, patient_id: int) -> list[int]:
    """The ids of the patient's consultations."""
    return list(
        await session.scalars(select(Consultation.id).where(Consultation.patient_id == patient_id))
    )


async def shareable_consultation_ids_of(*, session: AsyncSession, patient_id: int) -> list[int]:
    """The ids of the patient's consultations whose report may go into the shared record (the
    patient did not object), oldest first."""
    return list(
        await session.scalars(
            select(Consultation.id)
            .where(
                Consultation.patient_id == patient_id,
                Consultation.dmp_choice != DmpChoice.OPPOSES,
            )
            .order_by(Consultation.id)
        )
    )


async def get_consultation(
    *, session: AsyncSession, user: User, consultation_id: int
) -> Consultation:
    """A consultation the user may see (their site), with its booking and patient."""
    consultation = await reload(session, consultation_id)
    _may_act(user, consultation.site_id)
    return consultation


def trace(
    session: AsyncSession,
    ctx: HubContext,
    consultation: Consultation,
    user: User,
    action: str,
    before: State,
    note: str = "",
) -> None:
    now = ctx.clock()
    session.add(
        ConsultationEvent(
            consultation_id=consultation.id,
            at=now,
            user_id=user.id,
            action=action,
            from_state=before.value,
            to_state=consultation.state.value,
            note=note[:2000],
        )
    )
    record_event(
        session=session,
        action=f"consultation.{action}",
        actor_kind="user",
        actor_id=user.id,
        site_id=consultation.site_id,
        target=f"consultation:{consultation.id}",
        detail=note[:200],
    )


def _publish(ctx: HubContext, consultation: Consultation, kind: str, **data: object) -> None:
    ctx.events.publish(
        Event(
            site_id=consultation.site_id,
            kind=kind,
            data={"consultation_id": consultation.id, "state": consultation.state.value, **data},
        )
    )


async def check_in(
    *, session: AsyncSession, ctx: HubContext, user: User, booking_id: int
) -> Consultation:
    """The patient is at the room: the consultation begins (state ``arrived``)."""
    if user.role not in ROOM_STAFF:
        raise Forbidden("Seul le personnel de la salle accueille les patients.")
    booking = await get_booking(session=session, booking_id=booking_id)
    _may_act(user, booking.site_id)
    if booking.status is not BookingStatus.BOOKED:
        raise Conflict("Ce rendez-vous est annulé ou marqué non honoré.")
    existing = await session.scalar(
        select(Consultation).where(Consultation.booking_id == booking.id)
    )
    if existing is not None:
        return await reload(session, existing.id)
    now = ctx.clock()
    consultation = Consultation(
        booking_id=booking.id,
        site_id=booking.site_id,
        patient_id=booking.patient_id,
        state=State.ARRIVED,
        nurse_id=user.id,
        reason=booking.reason,
        arrived_at=now,
        created_at=now,
    )
    session.add(consultation)
    await session.flush()
    trace(session, ctx, consultation, user, "check_in", State.BOOKED)
    await session.commit()
    _publish(ctx, consultation, "consultation.arrived")
    return await reload(session, consultation.id)


async def transition(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation_id: int,
    action: str,
    note: str = "",
) -> Consultation:
    """Apply a named transition of the state machine, or say why it cannot happen."""
    rule = TRANSITIONS.get(action)
    if rule is None:
        raise Invalid("Action inconnue.")
    consultation = await get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    if user.role not in rule.roles:
        raise Forbidden(f"Votre rôle ne permet pas de « {rule.label} ».")
    if consultation.state not in rule.sources:
        raise Conflict(
            f"Impossible de « {rule.label} » : la consultation est « {consultation.state.value} »."
        )
    if action == "mark_ready":
        missing = []
        if consultation.identity_checked_at is None:
            missing.append("vérifier l'identité")
        if consultation.consent_at is None:
            missing.append("recueillir le consentement à la téléconsultation")
        if missing:
            raise Conflict("Avant d'appeler le médecin : " + " et ".join(missing) + ".")
    if action in ("redirect", "abort") and not note.strip():
        raise Invalid("Indiquez le motif.")
    before = consultation.state
    now = ctx.clock()
    consultation.state = rule.target
    if action == "mark_ready":
        consultation.ready_at = now
    elif action == "join":
        consultation.doctor_id = user.id
        consultation.started_at = consultation.started_at or now
    elif action == "end":
        consultation.ended_at = now
    elif action in ("redirect", "abort", "cancel"):
        consultation.exit_reason = note.strip()[:300]
        consultation.ended_at = now
    trace(session, ctx, consultation, user, action, before, note)
    await session.commit()
    _publish(ctx, consultation, f"consultation.{rule.target.value}")
    if before is State.IN_CONSULTATION and rule.target is not State.IN_CONSULTATION:
        # The live part is over (ended, redirected, aborted): its room and invitations too.
        await guests.end_of_consultation(session=session, ctx=ctx, consultation=consultation)
    return await reload(session, consultation.id)


async def raise_emergency(
    *,
    session: AsyncSession,
    ctx: HubContext,
    user: User,
    consultation_id: int,
    note: str,
) -> Consultation:
    """The nurse's « urgence » button: recorded, and every console of the site alerted."""
    consultation = await get_consultation(
        session=session, user=user, consultation_id=consultation_id
    )
    trace(
        session,
        ctx,
        consultation,
        user,
        "emergency",
        consultation.state,
        note or "urgence signalée",
    )
    await session.commit()
    site = consultation.booking.site
    await _alert_contact(session, ctx, site, user)
    _publish(
        ctx,
        consultation,
        "consultation.emergency",
        site_name=site.name,
        contact=site.emergency_contact_name,
        phone=site.emergency_contact_phone,
    )
    return consultation


async def _alert_contact(session: AsyncSession, ctx: HubContext, site: Site, user: User) -> None:
    """Text the site's on-call contact when their number is a mobile (no patient data in it)."""
    try:
        mobile = normalise_french_mobile(site.emergency_contact_phone)
    except ValueError:
        return  # a landline: the consoles show the number to call
    await outbox.enqueue_sms(
        session=session,
        to=mobile,
        purpose="emergency",
        related_kind="site",
        related_id=site.id,
        now=ctx.clock(),
        text=f"URGENCE au {site.name} : {user.full_name} demande un médecin sur place.",
    )
    await session.commit()


def for_specialty(consultation: Consultation, specialty: str) -> bool:
    """Whether a doctor of this specialty sees the consultation in her waiting room: a
    psychiatrist the ones booked for a psychiatric opinion (their reason says "psychiatr"),
    every other doctor all of them."""
    if specialty != PSYCHIATRY:
        return True
    return "psychiatr" in consultation.booking.reason.lower()


async def waiting_room(*, session: AsyncSession, user: User) -> list[Consultation]:
    """Consultations waiting for a doctor, or under way, at the sites the user serves (for a
    psychiatrist, those booked for a psychiatric opinion: ``for_specialty``)."""
    site_ids = [s.id for s in user.sites]
    rows = await session.scalars(
        select(Consultation)
        .where(
            Consultation.site_id.in_(site_ids),
            Consultation.state.in_([State.READY, State.IN_CONSULTATION, State.REPORTING]),
        )
        .options(
            selectinload(Consultation.booking).options(*with_patient_and_site()),
        )
        .order_by(Consultation.ready_at)
    )
    return [c for c in rows if for_specialty(c, user.specialty)]


async def closed_by_doctor(
    *, session: AsyncSession, doctor_id: int, since: dt.datetime, limit: int = 30
) -> list[Consultation]:
    """The doctor's own finished teleconsultations since a date, newest first (to reopen a
    report and correct it)."""
    rows = await session.scalars(
        select(Consultation)
        .where(
            Consultation.doctor_id == doctor_id,
            Consultation.state == State.CLOSED,
            Consultation.ended_at >= since,
        )
        .options(
            selectinload(Consultation.booking).options(*with_patient_and_site()),
        )
        .order_by(Consultation.ended_at.desc())
        .limit(limit)
    )
    return list(rows)


async def for_bookings(*, session: AsyncSession, booking_ids: list[int]) -> dict[int, Consultation]:
    """The consultations of these bookings, by booking."""
    if not booking_ids:
        return {}
    rows = await session.scalars(
        select(Consultation).where(Consultation.booking_id.in_(booking_ids))
    )
    return {c.booking_id: c for c in rows}


async def history(*, session: AsyncSession, consultation_id: int) -> list[ConsultationEvent]:
    rows = await session.scalars(
        select(ConsultationEvent)
        .where(ConsultationEvent.consultation_id == consultation_id)
        .order_by(ConsultationEvent.id)
    )
    return list(rows)


def elapsed_minutes(since: dt.datetime | None, now: dt.datetime) -> int | None:
    return None if since is None else max(0, int((now - since).total_seconds() // 60))


async def captures_of(*, session: AsyncSession, consultation_id: int) -> list[Capture]:
    """The images saved during a consultation (without loading their bytes twice)."""
    rows = await session.scalars(
        select(Capture).where(Capture.consultation_id == consultation_id).order_by(Capture.id)
    )
    return list(rows)


async def add_capture(
    *,
    session: AsyncSession,
    consultation: Consultation,
    source: str,
    mime_type: str,
    data: bytes,
    taken_by: int,
    taken_at: dt.datetime,
) -> Capture:
    """Save an image taken during the consultation (its checks are the caller's)."""
    capture = Capture(
        consultation_id=consultation.id,
        source=source,
        mime_type=mime_type,
        data=data,
        taken_by=taken_by,
        taken_at=taken_at,
    )
    session.add(capture)
    await session.flush()
    return capture


async def get_capture(*, session: AsyncSession, capture_id: int) -> Capture | None:
    """The saved image with this id, None if there is none."""
    return await session.get(Capture, capture_id)


async def reassign_patient(*, session: AsyncSession, from_id: int, to_id: int) -> int:
    """Move every consultation of one patient record to another (identity merge)."""
    rows = list(
        await session.scalars(select(Consultation).where(Consultation.patient_id == from_id))
    )
    for consultation in rows:
        consultation.patient_id = to_id
    await session.flush()
    return len(rows)
