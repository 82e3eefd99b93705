"""The signed link to a patient's own record page (no account): make it, read it, send it,
revoke it.

The token carries the patient's id, ``record_link_nonce`` and the moment it was issued. A link
is valid ``HUB_RECORD_LINK_DAYS`` after it was issued: each new document sends a new link valid
that long, and the links sent before it stay valid until their own expiry. Giving the patient a
new nonce (``revoke_record_links``, by the patient or by staff) makes every link sent before it
stop working at once.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from dataclasses import dataclass
from http import HTTPStatus

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.service import record_event
from hub.errors import HubError, NotFound
from hub.identity import service as identity
from hub.notify import outbox
from hub.notify.mailer import check_address
from hub.notify.sms import normalise_french_mobile
from hub.records.patients import Patient

logger = logging.getLogger(__name__)

RECORD_LINK_INVALID = (
    "Ce lien vers votre dossier n'est plus valable. "
    "Demandez un nouveau lien au secrétariat de la CPTS."
)
RECORD_LINK_EXPIRED = (
    "Ce lien vers votre dossier a expiré : pour protéger vos données, un lien ne reste valable "
    "que quelque temps après l'envoi d'un document. Pour consulter votre dossier, demandez un "
    "nouveau lien au secrétariat de la CPTS."
)
RECORD_LINK_REVOKED = (
    "Ce lien vers votre dossier a été désactivé et ne fonctionnera plus. Pour consulter votre "
    "dossier, demandez un nouveau lien au secrétariat de la CPTS."
)
PURPOSE = "record_link"


class RecordLinkGone(HubError):
    """A genuine record link that has expired or was revoked."""

    status = HTTPStatus.GONE


@dataclass(frozen=True, slots=True)
class RecordLink:
    """A valid record link: whose record it opens, and until when."""

    patient: Patient
    expires_at: dt.datetime


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="cpts-record-link")


def _new_nonce() -> str:
    return secrets.token_urlsafe(16)  # 22 characters


def record_token(secret: str, patient: Patient, *, now: dt.datetime) -> str:
    """The token of a record link issued now (gives the patient a nonce if they have none;
    the caller commits it)."""
    if not patient.record_link_nonce:
        patient.record_link_nonce = _new_nonce()
    issued = int(now.timestamp())
    return str(_serializer(secret).dumps([patient.id, patient.record_link_nonce, issued]))


def revoke_record_links(
    *,
    session: AsyncSession,
    patient: Patient,
    actor_kind: str,
    actor_id: int | None = None,
    ip: str = "",
) -> None:
    """Make every record link sent to this patient stop working (traced); the caller commits."""
    patient.record_link_nonce = _new_nonce()
    record_event(
        session=session,
        action="dmp.link_revoked",
        actor_kind=actor_kind,
        actor_id=actor_id,
        target=f"patient:{patient.id}",
        ip=ip,
    )


async def record_link_from_token(
    *,
    session: AsyncSession,
    secret: str,
    token: str,
    now: dt.datetime,
    valid_for: dt.timedelta,
) -> RecordLink:
    """The record link this token is; NotFound if it is forged, RecordLinkGone if it has
    expired or was revoked."""
    try:
        value = _serializer(secret).loads(token)
    except BadSignature:
        raise NotFound(RECORD_LINK_INVALID) from None
    if not (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], int)
        and isinstance(value[1], str)
        and isinstance(value[2], int)
    ):
        raise NotFound(RECORD_LINK_INVALID)
    patient = await session.get(Patient, value[0])
    if patient is None:
        raise NotFound(RECORD_LINK_INVALID)
    if not patient.record_link_nonce or not hmac.compare_digest(
        patient.record_link_nonce, value[1]
    ):
        raise RecordLinkGone(RECORD_LINK_REVOKED)
    expires_at = dt.datetime.fromtimestamp(value[2], dt.UTC) + valid_for
    if now >= expires_at:
        raise RecordLinkGone(RECORD_LINK_EXPIRED)
    return RecordLink(patient=patient, expires_at=expires_at)


def record_url(base_url: str, secret: str, patient: Patient, *, now: dt.datetime) -> str:
    """The address of a record link issued now."""
    return f"{base_url.rstrip('/')}/mon-dossier/{record_token(secret, patient, now=now)}"


def _mobile(phone: str) -> str | None:
    try:
        return normalise_french_mobile(phone) if phone else None
    except ValueError:
        return None  # a landline: no SMS


async def send_record_link(
    *,
    session: AsyncSession,
    patient: Patient,
    base_url: str,
    secret: str,
    now: dt.datetime,
    valid_for: dt.timedelta,
    requested_by: int | None = None,
) -> bool:
    """Queue an e-mail and/or an SMS telling the patient a document awaits them (or, when a
    staff member ``requested_by`` sends it, that here is the link they asked for), with a new
    link to their record page and no health information; False when the patient has neither
    a usable e-mail address nor a mobile number. The caller commits."""
    url = record_url(base_url, secret, patient, now=now)
    if requested_by is None:
        subject = "Un nouveau document est disponible dans votre dossier"
        news = "Un nouveau document vous concernant est disponible dans votre dossier"
    else:
        subject = "Le lien vers votre dossier"
        news = "Voici le nouveau lien vers votre dossier, que vous avez demandé au secrétariat"
    org = await identity.get_organisation(session=session, organisation_id=patient.organisation_id)
    signature = org.name if org is not None else "Votre CPTS"
    sent = False
    if patient.email:
        try:
            check_address(patient.email)
        except ValueError:
            logger.warning("a patient's stored e-mail address is unusable; no record link e-mail")
        else:
            await outbox.enqueue_email(
                session=session,
                to=patient.email,
                purpose=PURPOSE,
                subject=subject,
                text=(
                    "Bonjour,\n\n"
                    f"{news} de téléconsultation.\n"
                    f"Pour le consulter : {url}\n\n"
                    f"Ce lien est personnel et valable {valid_for.days} jours : ne le "
                    "transmettez pas. Sur cette page, vous pouvez aussi voir qui a consulté "
                    "votre dossier, et désactiver ce lien.\n\n"
                    f"{signature}\n"
                ),
                related_kind="patient",
                related_id=patient.id,
                now=now,
            )
            sent = True
    mobile = _mobile(patient.phone)
    if mobile is not None:
        await outbox.enqueue_sms(
            session=session,
            to=mobile,
            text=f"{signature} : {news[0].lower()}{news[1:]} : {url}",
            purpose=PURPOSE,
            related_kind="patient",
            related_id=patient.id,
            now=now,
        )
        sent = True
    if sent:
        record_event(
            session=session,
            action="dmp.link_sent",
            actor_kind="system" if requested_by is None else "user",
            actor_id=requested_by,
            target=f"patient:{patient.id}",
        )
    return sent
