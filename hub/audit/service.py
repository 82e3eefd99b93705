"""Recording audit events (the caller commits them with its own transaction), and sealing them
into a hash chain so that an edited, deleted, inserted or reordered event is detected.

Events are sealed shortly after they are written (``seal_pending``, run by the periodic jobs),
in id order: seal(n) = sha256(seal(n-1) | id | content). ``verify_chain`` recomputes it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.models import AuditEvent

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
    "sas.appointment_reported": "Rendez-vous pris depuis le lien du SAS transmis à sa plateforme",
    "sas.refused": "Accès SAS refusé (jeton)",
    "patient_data.read": "Consultation de données patient",
    "consultation.check_in": "Accueil d'un patient",
    "consultation.emergency": "Urgence signalée",
    "dmp.deposit": "Dépôt d'un document dans le dossier partagé",
    "dmp.deposit_skipped": "Document non déposé dans le dossier partagé (opposition du patient)",
    "dmp.deposit_waiting": (
        "Dépôt au dossier partagé en attente : identité du patient non qualifiée"
    ),
    "dmp.replace": "Document remplacé par une nouvelle version",
    "dmp.list": "Consultation de la liste des documents du dossier partagé",
    "dmp.read": "Consultation d'un document du dossier partagé",
    "dmp.patient_view": "Consultation de son dossier par le patient",
    "dmp.patient_read": "Téléchargement d'un document par le patient",
    "dmp.mask": "Document masqué aux autres professionnels par le patient",
    "dmp.unmask": "Document de nouveau visible par les professionnels",
    "dmp.disclose": "Document rendu visible au patient par son médecin",
    "dmp.link_sent": "Lien vers son dossier envoyé au patient",
    "dmp.link_revoked": "Liens du patient vers son dossier désactivés",
    "report.draft_saved": "Brouillon de compte rendu enregistré",
    "report.signed": "Compte rendu signé",
    "report.amendment_opened": "Nouvelle version de compte rendu ouverte",
    "relay.resend": "Renvoi d'un compte rendu à un médecin",
    "relay.delivered": "Compte rendu remis au médecin (avis de remise)",
    "relay.delivery_failed": "Échec de remise d'un compte rendu (avis de non-remise)",
    "relay.read": "Compte rendu lu par le médecin (accusé de lecture)",
    "relay.disposition": "Accusé de traitement d'un compte rendu sans lecture",
    "patient.medecin_traitant": "Médecin traitant du patient renseigné",
    "patient.contact": "Coordonnées du patient modifiées (portable, e-mail)",
    "identity.pending": "Identité en attente (données d'une prise de rendez-vous différentes)",
    "identity.resolved_same": "Identité en attente : même personne",
    "identity.resolved_different": "Identité en attente : personne différente",
    "identity.data_taken": "Données d'identité ou de contact reprises",
    "identity.merged": "Fiches patient fusionnées",
    "identity.distinct": "Fiches proches notées comme deux personnes différentes",
    "identity.status": "Statut de l'identité changé",
    "identity.downgraded": "Identité redevenue provisoire",
    "consultation.close": "Consultation close",
    "consultation.guest_invited": "Tiers invité à la consultation (lien envoyé)",
    "consultation.guest_joined": "Tiers entré dans la consultation",
    "consultation.guest_left": "Tiers sorti de la consultation",
    "consultation.guest_removed": "Tiers retiré de la consultation par le médecin",
    "consultation.sfu_room_closed": "Salle à plusieurs (Janus) fermée, inoccupée",
    "consultation.referral": "Patient orienté vers un médecin relais",
    "reporting.export": "Export des indicateurs de la CPTS",
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


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An audit event to record with others (`record_events`); fields as `record_event`'s."""

    action: str
    actor_kind: str
    actor_id: int | None = None
    outcome: str = "success"
    site_id: int | None = None
    target: str = ""
    ip: str = ""
    detail: str = ""


async def record_events(*, session: AsyncSession, events: Sequence[NewEvent]) -> None:
    """Insert many audit events, one row each, in one statement of the caller's transaction
    (stored when it commits, in this order)."""
    if events:
        await session.execute(insert(AuditEvent), [asdict(event) for event in events])


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


async def recent_events(
    *,
    session: AsyncSession,
    site_ids: Collection[int],
    user_ids: Collection[int],
    cabin_ids: Collection[int],
    usernames: Collection[str],
    limit: int = 50,
) -> list[AuditEvent]:
    """The latest audit events of one CPTS, newest first: those at its sites, by its users or
    its cabins, and the logins tried on its accounts (a hub may serve several CPTS)."""
    ours = or_(
        AuditEvent.site_id.in_(list(site_ids)),
        and_(AuditEvent.actor_kind == "user", AuditEvent.actor_id.in_(list(user_ids))),
        and_(AuditEvent.actor_kind == "cabin", AuditEvent.actor_id.in_(list(cabin_ids))),
        AuditEvent.target.in_([f"user:{name.strip().lower()}" for name in usernames]),
    )
    rows = await session.scalars(
        select(AuditEvent).where(ours).order_by(AuditEvent.id.desc()).limit(limit)
    )
    return list(rows)


async def events_about(
    *,
    session: AsyncSession,
    targets: list[str],
    newest_first: bool = False,
    leave_out_actor_kind: str | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    """The audit events about these targets (``patient:12``, ``document:3``...), in order."""
    query = select(AuditEvent).where(AuditEvent.target.in_(targets))
    if leave_out_actor_kind is not None:
        query = query.where(AuditEvent.actor_kind != leave_out_actor_kind)
    if newest_first:
        query = query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    else:
        query = query.order_by(AuditEvent.id)
    return list(await session.scalars(query.limit(limit)))


GENESIS = "0" * 64
SETTLE = dt.timedelta(seconds=5)  # concurrent transactions have committed by then


def _content(event: AuditEvent) -> str:
    return json.dumps(
        [
            event.id,
            event.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            event.actor_kind,
            event.actor_id,
            event.action,
            event.outcome,
            event.site_id,
            event.target,
            event.ip,
            event.detail,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def seal_of(previous: str, event: AuditEvent) -> str:
    return hashlib.sha256(f"{previous}|{_content(event)}".encode()).hexdigest()


async def seal_pending(*, session: AsyncSession, now: dt.datetime) -> int:
    """Seal the unsealed events older than a few seconds, in id order; returns how many."""
    head = (
        await session.scalar(
            select(AuditEvent.seal)
            .where(AuditEvent.seal.is_not(None))
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        or GENESIS
    )
    pending = list(
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.seal.is_(None), AuditEvent.at <= now - SETTLE)
            .order_by(AuditEvent.id)
        )
    )
    for event in pending:
        event.seal = head = seal_of(head, event)
    await session.commit()
    return len(pending)


@dataclass(frozen=True, slots=True)
class ChainReport:
    sealed: int
    pending: int
    problems: list[str]


async def verify_chain(*, session: AsyncSession) -> ChainReport:
    """Recompute the chain; every problem names the event where the chain breaks."""
    previous = GENESIS
    sealed = pending = 0
    problems: list[str] = []
    unsealed_ids: list[int] = []
    for event in await session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        if event.seal is None:
            pending += 1
            unsealed_ids.append(event.id)
            continue
        if unsealed_ids:
            problems.append(
                f"les événements {', '.join(map(str, unsealed_ids))} ne sont pas scellés mais "
                f"l'événement {event.id} l'est : ajoutés après coup ou privés de leur sceau"
            )
            unsealed_ids = []
        sealed += 1
        if seal_of(previous, event) != event.seal:
            problems.append(
                f"événement {event.id} : le sceau ne correspond pas (modifié, ou un événement "
                "antérieur supprimé ou déplacé)"
            )
        previous = event.seal
    return ChainReport(sealed=sealed, pending=pending, problems=problems)
