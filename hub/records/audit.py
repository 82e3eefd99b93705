"""Recording audit events (the caller commits them with its own transaction)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.records.models import AuditEvent

ACTION_LABELS = {
    "login": "Connexion",
    "login.throttled": "Connexion bloquée (trop de tentatives)",
    "logout": "Déconnexion",
    "agent.connected": "Agent de cabine connecté",
    "agent.refused": "Agent de cabine refusé (jeton)",
    "cabin.created": "Cabine créée",
    "cabin.token_issued": "Nouveau jeton de cabine",
    "cabin.token_revoked": "Jeton de cabine révoqué",
    "sas.slot_search": "Recherche de créneaux (SAS)",
    "sas.appointment": "Rendez-vous pris par le SAS",
    "sas.appointment_read": "Lecture d'un rendez-vous (SAS)",
    "sas.refused": "Accès SAS refusé (jeton)",
    "patient_data.read": "Consultation de données patient",
    "consultation.check_in": "Accueil d'un patient",
    "consultation.emergency": "Urgence signalée",
}


def record_event(
    *,
    session: AsyncSession,
    action: str,
    actor_kind: str,
    actor_id: int | None = None,
    outcome: str = "success",
    site_id: int | None = None,
    target: str = "",
    ip: str = "",
    detail: str = "",
) -> AuditEvent:
    """Add an audit event to the session; it is stored when the caller commits."""
    event = AuditEvent(
        action=action,
        actor_kind=actor_kind,
        actor_id=actor_id,
        outcome=outcome,
        site_id=site_id,
        target=target,
        ip=ip,
        detail=detail,
    )
    session.add(event)
    return event


async def trace_read(
    *, session: AsyncSession, user_id: int, target: str, site_id: int | None = None, ip: str = ""
) -> None:
    """Record that a member of staff opened a patient's data, and commit it at once."""
    record_event(
        session=session,
        action="patient_data.read",
        actor_kind="user",
        actor_id=user_id,
        site_id=site_id,
        target=target,
        ip=ip,
    )
    await session.commit()


async def recent_events(*, session: AsyncSession, limit: int = 50) -> list[AuditEvent]:
    """The latest audit events, newest first."""
    rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))
    return list(rows)
