"""The audit trail of a patient's data as FHIR AuditEvents (DICOM "Patient Record" events).

Each access names its agent: a professional by the national identifier of their RPPS (the
IDNPS "8" + RPPS, as the CDA and FR Core's Practitioner do), any other actor by the hub's own id;
a person is a "humanuser", a program (cabin agent, SAS platform, the hub) an application. The
action code (C, R, U, D, E) is the hub action's own when listed, else its last word's.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from hub.reports.facts import OID_RPPS
from hub.reports.fhir_common import FR_CORE_V2_0203, RFC_3986, Json, coding, concept, instant

DICOM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SECURITY_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
# Last word of an audit action ("patient_data.read", "sas.appointment_read") -> AuditEvent.action;
# any other action changes the record, hence "U".
AUDIT_VERBS = {
    "read": "R",
    "search": "E",
    "create": "C",
    "created": "C",
    "update": "U",
    "updated": "U",
    "delete": "D",
    "deleted": "D",
}
# Hub actions whose last word does not say what they do to the record.
AUDIT_ACTIONS = {
    "login": "E",
    "logout": "E",
    "login.throttled": "E",
    "sas.appointment": "C",
    "sas.slot_search": "E",
    "dmp.list": "E",
    "dmp.deposit": "C",
    "dmp.patient_view": "R",
    "dmp.link_sent": "C",
    "relay.resend": "E",
    "reporting.export": "R",
    "identity.pending": "C",
}
# Who acted: a person ("humanuser") or a program (DICOM "Application").
EXTRA_SECURITY_ROLE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
DICOM_APPLICATION = ("110150", "Application")
AUDIT_OUTCOMES = {"success": "0", "refused": "4"}  # anything else: "8" (serious failure)
HUB_NAME = "Hub de téléconsultation de la CPTS"


@dataclass(frozen=True, slots=True)
class AccessFacts:
    """One audit event about this patient's data, as the export shows it."""

    at: dt.datetime  # aware
    actor_kind: str  # user, agent, api_client, system
    actor_id: int | None
    actor_name: str
    actor_role: str  # "Médecin", "Infirmier·ère", "Plateforme SAS"...
    action: str  # the hub's action code ("patient_data.read")
    action_label: str  # its French label
    outcome: str  # success, refused...
    site_name: str
    target: str
    actor_rpps: str = ""  # 11 digits when the actor is a professional with a known RPPS


def audit_event(access: AccessFacts, *, patient: str, base_url: str) -> Json:
    """An access to the patient's record, as a DICOM "Patient Record" AuditEvent."""
    who: Json = {"display": access.actor_name or access.actor_kind}
    if access.actor_rpps:
        who["identifier"] = {
            "use": "official",
            "type": concept(
                FR_CORE_V2_0203, "IDNPS", "Identifiant National de Professionnel de Santé"
            ),
            "system": f"urn:oid:{OID_RPPS}",
            "value": "8" + access.actor_rpps,
        }
    elif access.actor_id is not None:
        who["identifier"] = {
            "system": f"{base_url}/{access.actor_kind}s",
            "value": str(access.actor_id),
        }
    person = access.actor_kind == "user"
    agent: Json = {
        "type": concept(EXTRA_SECURITY_ROLE, "humanuser", "human user")
        if person
        else concept(DICOM, *DICOM_APPLICATION),
        "who": who,
        "requestor": True,
    }
    if access.actor_role:
        agent["role"] = [{"text": access.actor_role}]
    subtype: Json = {"system": f"{base_url}/audit-actions", "code": access.action}
    if access.action_label:
        subtype["display"] = access.action_label
    source: Json = {
        "observer": {"display": HUB_NAME, "identifier": {"system": RFC_3986, "value": base_url}},
        "type": [coding(SECURITY_SOURCE_TYPE, "4", "Application Server")],
    }
    if access.site_name:
        source = {"site": access.site_name} | source
    entity: Json = {
        "what": {"reference": patient},
        "type": coding(AUDIT_ENTITY_TYPE, "1", "Person"),
        "role": coding(OBJECT_ROLE, "1", "Patient"),
    }
    if access.target:
        entity["description"] = access.target
    return {
        "resourceType": "AuditEvent",
        "type": coding(DICOM, "110110", "Patient Record"),
        "subtype": [subtype],
        "action": audit_action(access.action),
        "recorded": instant(access.at, dt.UTC),
        "outcome": AUDIT_OUTCOMES.get(access.outcome, "8"),
        "outcomeDesc": access.action_label or access.action,
        "agent": [agent],
        "source": source,
        "entity": [entity],
    }


def audit_action(action: str) -> str:
    """The AuditEvent action code (C, R, U, D, E) of a hub action ("patient_data.read" → R)."""
    if action in AUDIT_ACTIONS:
        return AUDIT_ACTIONS[action]
    verb = re.split(r"[._]", action)[-1]
    return AUDIT_VERBS.get(verb, "U")
