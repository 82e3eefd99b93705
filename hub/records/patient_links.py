"""The signed link to a patient's own record page (no account): make it, read it, send it.

The token carries the patient's id and ``record_link_nonce``; giving the patient a new nonce
(``revoke_record_links``) makes every link sent before it stop working.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import NotFound
from hub.identity.models import Organisation
from hub.notify import outbox
from hub.notify.mailer import check_address
from hub.notify.sms import normalise_french_mobile
from hub.records.audit import record_event
from hub.records.patients import Patient

logger = logging.getLogger(__name__)

RECORD_LINK_INVALID = (
    "Ce lien vers votre dossier n'est plus valable. "
    "Demandez un nouveau lien au secrétariat de la CPTS."
)
PURPOSE = "record_link"


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="cpts-record-link")


def _new_nonce() -> str:
    return secrets.token_urlsafe(16)  # 22 characters


def record_token(secret: str, patient: Patient) -> str:
    """The token of the patient's record link (gives the patient a nonce if they have none;
    the caller commits it)."""
    if not patient.record_link_nonce:
        patient.record_link_nonce = _new_nonce()
    return str(_serializer(secret).dumps([patient.id, patient.record_link_nonce]))


def revoke_record_links(patient: Patient) -> None:
    """Make every record link sent to this patient stop working; the caller commits."""
    patient.record_link_nonce = _new_nonce()


async def patient_from_token(*, session: AsyncSession, secret: str, token: str) -> Patient:
    """The patient a record link belongs to; NotFound if it is forged or revoked."""
    try:
        value = _serializer(secret).loads(token)
    except BadSignature:
        raise NotFound(RECORD_LINK_INVALID) from None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    ):
        raise NotFound(RECORD_LINK_INVALID)
    patient = await session.get(Patient, value[0])
    if (
        patient is None
        or not patient.record_link_nonce
        or not hmac.compare_digest(patient.record_link_nonce, value[1])
    ):
        raise NotFound(RECORD_LINK_INVALID)
    return patient


def record_url(base_url: str, secret: str, patient: Patient) -> str:
    return f"{base_url.rstrip('/')}/mon-dossier/{record_token(secret, patient)}"


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
) -> None:
    """Queue an e-mail and/or an SMS telling the patient a document awaits them, with the link
    to their record page and no health information. The caller commits."""
    url = record_url(base_url, secret, patient)
    org = await session.get(Organisation, patient.organisation_id)
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
                subject="Un nouveau document est disponible dans votre dossier",
                text=(
                    "Bonjour,\n\n"
                    "Un nouveau document vous concernant est disponible dans votre dossier "
                    "de téléconsultation.\n"
                    f"Pour le consulter : {url}\n\n"
                    "Ce lien est personnel : ne le transmettez pas. Sur cette page, vous pouvez "
                    "aussi voir qui a consulté votre dossier.\n\n"
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
            text=f"{signature} : un nouveau document est disponible dans votre dossier : {url}",
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
            actor_kind="system",
            target=f"patient:{patient.id}",
        )
