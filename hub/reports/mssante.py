"""Relay of a signed report to the médecin traitant (or a relay doctor) by MSSanté-style
secure e-mail: the IHE_XDM.ZIP package (``hub.reports.xdm``) attached to a message carrying the
SMTP headers of the ANS "Référentiel socle MSSanté #2" (§3.8): ``X-MSS-CODECDA`` (the CDA's
``code``), ``X-MSS-INS`` (``O`` when the package carries a qualified INS, ``N`` otherwise) and
``X-MSS-NIL`` (the product reference the ANS gives the software; a sentinel until then). It
asks for a read receipt (``Disposition-Notification-To``, RFC 8098) at the hub's MSSanté
address, hence for delivery status notifications too (``hub.notify.outbox``); the hub reads
both back from that mailbox (``hub.notify.mailbox``).

Delivery, retries and failure are the outbox's (``hub.notify.outbox.deliver_due``); the
secretariat follows them with ``hub.reports.tracking``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.notify import outbox
from hub.notify.mailer import Attachment
from hub.notify.models import MessageStatus
from hub.reports.facts import (
    ReportFacts,
)
from hub.reports.xdm import (
    CDA_TYPE_CODE,
    XDM_FILENAME,
    build_xdm_zip,
    carries_qualified_ins,
    date_fr,
    doctor_name,
)

if TYPE_CHECKING:
    from hub.notify.models import OutboundMessage

PURPOSE_MEDECIN_TRAITANT = "report_relay"
PURPOSE_RELAY_DOCTOR = "referral_report"
PURPOSE_REQUESTER = "requester_report"  # the doctor who asked for the consultation
RELAY_PURPOSES = (PURPOSE_MEDECIN_TRAITANT, PURPOSE_RELAY_DOCTOR, PURPOSE_REQUESTER)
RELATED_KIND = "report"
HEADER_CODE_CDA = "X-MSS-CODECDA"
HEADER_INS = "X-MSS-INS"
HEADER_PRODUCT = "X-MSS-NIL"
UNASSIGNED_PRODUCT_REFERENCE = "NIL-NON-ATTRIBUE"  # until the ANS registers the software
# The outbox's technical text of a relay refused before sending (hub.reports.tracking says it
# in French).
OUTSIDE_TRUST_SPACE = "recipient outside the MSSanté trust space"


def in_trust_space(address: str, domains: Sequence[str]) -> bool:
    """Whether a secure-messaging address belongs to the MSSanté trust space: its domain is
    one of ``domains`` or under one (``medecin.mssante.fr`` under ``mssante.fr``)."""
    _, at, domain = address.strip().lower().rpartition("@")
    return bool(at) and any(domain == d or domain.endswith(f".{d}") for d in domains)


OUTSIDE_TRUST_SPACE_IN_WORDS = (
    "L'adresse n'appartient pas à l'espace de confiance MSSanté : le compte rendu ne lui a pas "
    "été envoyé. Corrigez l'adresse du médecin, ou transmettez-le par un autre moyen sécurisé."
)


def mssante_headers(facts: ReportFacts, *, product_reference: str = "") -> dict[str, str]:
    """The X-MSS-* headers of a message carrying the report's CDA in an IHE_XDM package.

    ``X-MSS-NIL`` is always there: the ANS's reference once it has given one, a sentinel
    (`UNASSIGNED_PRODUCT_REFERENCE`) until then, so operators can tell the software apart."""
    return {
        HEADER_CODE_CDA: CDA_TYPE_CODE,
        HEADER_INS: "O" if carries_qualified_ins(facts) else "N",
        HEADER_PRODUCT: product_reference.strip() or UNASSIGNED_PRODUCT_REFERENCE,
    }


def relay_subject(facts: ReportFacts) -> str:
    """« Compte rendu de téléconsultation du 20/11/2026 — réf. 42 »: neither the patient's name
    nor anything clinical (a subject travels outside the encrypted content and shows in every
    inbox list); the patient is named in the body and in the attached document."""
    version = f", version {facts.version}" if facts.version > 1 else ""
    return (
        f"Compte rendu de téléconsultation du {date_fr(facts.started_at, facts)} — "
        f"réf. {facts.report_id}{version}"
    )


def relay_body(facts: ReportFacts, *, recipient_name: str) -> str:
    """The short French text of the relay message."""
    patient, place = facts.patient, facts.place
    nurse = ""
    if facts.nurse is not None:
        nurse = f", avec {facts.nurse.given_name} {facts.nurse.family_name}, infirmier·ère"
    lines = [
        f"Bonjour {recipient_name.strip() or 'Docteur'},",
        "",
        "Veuillez trouver ci-joint le compte rendu de la téléconsultation de "
        f"{patient.birth_name} {patient.first_names} "
        f"(né·e le {patient.birth_date.strftime('%d/%m/%Y')}), réalisée le "
        f"{date_fr(facts.started_at, facts)} au {place.site_name} ({place.site_city}) "
        f"par le {doctor_name(facts.doctor)}{nurse}.",
        "",
        f"Le document est joint au format CDA dans l'archive {XDM_FILENAME}, "
        "intégrable dans votre logiciel métier.",
    ]
    if facts.version > 1:
        reason = f" : {facts.amendment_reason}" if facts.amendment_reason.strip() else "."
        lines += ["", f"Cette version {facts.version} remplace la précédente{reason}"]
    lines += ["", f"{place.organisation_name} — {place.organisation_phone}", ""]
    return "\n".join(lines)


_NAME_UNSAFE = re.compile(r'[<>"@,;:\\\r\n]')


async def enqueue_report_relay(
    *,
    session: AsyncSession,
    facts: ReportFacts,
    cda: bytes,
    recipient: str,
    recipient_name: str,
    sender: str,
    now: dt.datetime,
    trust_space: Sequence[str],
    purpose: str = PURPOSE_MEDECIN_TRAITANT,
    product_reference: str = "",
) -> OutboundMessage:
    """Queue the report's relay to ``recipient`` (an MSSanté address) in the outbox; the caller
    commits. The outbox's periodic delivery sends it, retries it and gives up after the
    maximum attempts. A recipient outside the ``trust_space`` is refused before sending: the
    message is kept, failed, for the secretariat to see. Raises ``Invalid`` for an unusable
    address."""
    if purpose not in RELAY_PURPOSES:
        raise ValueError(f"not a report relay purpose: {purpose!r}")
    name = _NAME_UNSAFE.sub(" ", recipient_name).strip()
    package = build_xdm_zip(
        facts, cda, sender=sender, recipient=recipient.strip(), recipient_name=name
    )
    message = await outbox.enqueue_email(
        session=session,
        to=f"{name} <{recipient.strip()}>" if name else recipient.strip(),
        subject=relay_subject(facts),
        text=relay_body(facts, recipient_name=name),
        attachments=[Attachment(XDM_FILENAME, package, "application/zip")],
        headers={
            **mssante_headers(facts, product_reference=product_reference),
            outbox.RECEIPT_REQUEST_HEADER: sender,
        },
        purpose=purpose,
        related_kind=RELATED_KIND,
        related_id=facts.report_id,
        now=now,
    )
    if not in_trust_space(recipient, trust_space):
        message.status = MessageStatus.FAILED
        message.last_error = OUTSIDE_TRUST_SPACE
        await session.flush()
    return message


# --- follow-up for the secretariat -------------------------------------------------------------
