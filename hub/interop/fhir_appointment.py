"""A SAS regulator's Appointment, both ways: pure functions, no I/O.

``parse_appointment`` reads what a regulator's Appointment asks for into an
``AppointmentRequest``: the slot, the caller's traits (contained Patient), who booked (the
FrAppointmentOperator extension: the regulator's national identifier IDNPS, or the SAS's
technical id INTRN), the calling platform's own identifier of the appointment, and the doctor
the regulator booked with (a participant named by IDNPS). ``appointment_resource`` reports a
booking back; it claims the guide's FrAppointmentSAS profile when it has what that profile
requires: the regulator's typed identifier and the doctor's IDNPS (the profile asks every
participant for an IDNPS, so the caller and the room then travel as ``supportingInformation``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.interop.fhir import (
    PROFILE_APPOINTMENT,
    SYSTEM_FR_V2_0203,
    FhirInvalid,
    Json,
    instant,
    parse_fhir_date,
)
from hub.interop.fhir_actors import SYSTEM_IDNPS, SYSTEM_SAS_INTERNAL, idnps_identifier
from hub.interop.models import SasAppointment
from hub.records.patients import Sex
from hub.scheduling.models import BookingStatus

if TYPE_CHECKING:
    from hub.scheduling.models import Booking

EXT_APPOINTMENT_OPERATOR = "http://interopsante.org/fhir/StructureDefinition/FrAppointmentOperator"
OPERATOR_TYPES = {SYSTEM_IDNPS: "IDNPS", SYSTEM_SAS_INTERNAL: "INTRN"}


def _ref(kind: str, rid: int | str) -> Json:
    return {"reference": f"{kind}/{rid}"}


APPOINTMENT_STATUS = {
    BookingStatus.BOOKED: "booked",
    BookingStatus.CANCELLED: "cancelled",
    BookingStatus.NO_SHOW: "noshow",
}
_GENDERS = {"female": Sex.FEMALE, "male": Sex.MALE, "other": Sex.UNKNOWN, "unknown": Sex.UNKNOWN}
_SLOT_REF = re.compile(r"^(?:.*/)?Slot/(\d{1,18})$")
DEFAULT_REASON = "Patient orienté par la régulation du SAS"


@dataclass(frozen=True, slots=True)
class AppointmentRequest:
    """What a regulator's Appointment asks for: a slot, a patient's traits, who booked."""

    slot_id: int
    birth_name: str
    first_names: str
    used_name: str
    birth_date: dt.date
    sex: Sex
    phone: str
    email: str
    regulator_label: str
    regulator_identifier: str
    created: dt.datetime | None
    reason: str
    # The regulator's identifier: its system and type (IDNPS or INTRN), "" when not given.
    regulator_system: str = ""
    regulator_type: str = ""
    # The calling platform's own identifier of the appointment, "" when it gave none.
    caller_system: str = ""
    caller_value: str = ""
    # The doctor the regulator booked with: a participant's IDNPS ("8" + RPPS), or "".
    practitioner: str = ""

    def record(self, booking_id: int) -> SasAppointment:
        """What the booking keeps of the Appointment beyond the booking itself."""
        return SasAppointment(
            booking_id=booking_id,
            operator_type=self.regulator_type,
            operator_system=self.regulator_system,
            operator_value=self.regulator_identifier,
            caller_system=self.caller_system,
            caller_value=self.caller_value,
            practitioner_idnps=self.practitioner,
        )


@dataclass(frozen=True, slots=True)
class _Operator:
    label: str
    value: str
    system: str
    type: str
    participant: int | None  # the participant it was read from, None for the extension


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _slot_id(body: Mapping[str, Any]) -> int:
    refs = [_text(s.get("reference")) for s in _dicts(body.get("slot"))]
    matches = [m for m in (_SLOT_REF.match(r) for r in refs) if m]
    if len(refs) != 1 or len(matches) != 1:
        raise FhirInvalid("Le rendez-vous doit désigner un et un seul créneau (slot: Slot/<id>).")
    return int(matches[0].group(1))


def _patient(body: Mapping[str, Any]) -> Mapping[str, Any]:
    patients = [r for r in _dicts(body.get("contained")) if r.get("resourceType") == "Patient"]
    if len(patients) != 1:
        raise FhirInvalid(
            "Joignez l'identité du patient dans une ressource Patient contenue (contained)."
        )
    return patients[0]


def _names(patient: Mapping[str, Any]) -> tuple[str, str, str]:
    names = _dicts(patient.get("name"))
    maiden = next((n for n in names if n.get("use") == "maiden"), None)
    usual = next((n for n in names if n.get("use") in ("official", "usual")), None)
    main = maiden or usual or (names[0] if names else {})
    given = (
        " ".join(_text(g) for g in main.get("given", []) if _text(g))
        if isinstance(main.get("given"), list)
        else ""
    )
    if not _text(main.get("family")) or not given:
        raise FhirInvalid("Indiquez le nom de naissance (family) et le prénom (given) du patient.")
    used = _text(usual.get("family")) if maiden and usual else ""
    return _text(main.get("family")), given, used


def _regulator(body: Mapping[str, Any]) -> _Operator:
    candidates: list[tuple[object, int | None]] = [
        (e.get("valueReference"), None)
        for e in _dicts(body.get("extension"))
        if e.get("url") == EXT_APPOINTMENT_OPERATOR
    ]
    candidates += [(p.get("actor"), i) for i, p in enumerate(_dicts(body.get("participant")))]
    for actor, participant in candidates:
        reference = _text(actor.get("reference")) if isinstance(actor, Mapping) else "#"
        if not isinstance(actor, Mapping) or reference.startswith(("#", "Patient")):
            continue
        ident = actor.get("identifier")
        ident = ident if isinstance(ident, Mapping) else {}
        value, system = _text(ident.get("value")), _text(ident.get("system"))
        if participant is not None and system == SYSTEM_IDNPS and candidates[0][1] is None:
            continue  # with the extension present, an IDNPS participant is the doctor
        if _text(actor.get("display")) or value:
            return _Operator(
                label=_text(actor.get("display")) or f"Régulateur SAS {value}",
                value=value,
                system=system if value else "",
                type=_identifier_type(ident) if value else "",
                participant=participant,
            )
    raise FhirInvalid(
        "Indiquez le régulateur qui prend le rendez-vous (extension FrAppointmentOperator ou "
        "participant, avec son nom et/ou son identifiant)."
    )


def _identifier_type(identifier: Mapping[str, Any]) -> str:
    """IDNPS or INTRN: the identifier's own type code, else the one its system implies."""
    kind = identifier.get("type")
    codes = [
        _text(c.get("code"))
        for c in _dicts(kind.get("coding") if isinstance(kind, Mapping) else None)
    ]
    known = [c for c in codes if c in OPERATOR_TYPES.values()]
    return known[0] if known else OPERATOR_TYPES.get(_text(identifier.get("system")), "")


def _practitioner(body: Mapping[str, Any], operator: _Operator) -> str:
    """The IDNPS of the doctor a participant names (not the regulator), "" when none does."""
    named = set()
    for i, participant in enumerate(_dicts(body.get("participant"))):
        actor = participant.get("actor")
        ident = actor.get("identifier") if isinstance(actor, Mapping) else None
        if i == operator.participant or not isinstance(ident, Mapping):
            continue
        if _text(ident.get("system")) == SYSTEM_IDNPS and _text(ident.get("value")):
            named.add(_text(ident.get("value")))
    if len(named) > 1:
        raise FhirInvalid("Le rendez-vous doit désigner un seul médecin (participant IDNPS).")
    return named.pop() if named else ""


def _caller_identifier(body: Mapping[str, Any]) -> tuple[str, str]:
    identifiers = [i for i in _dicts(body.get("identifier")) if _text(i.get("value"))]
    if len(identifiers) > 1:
        raise FhirInvalid("Le rendez-vous ne peut porter qu'un identifiant (identifier).")
    if not identifiers:
        return "", ""
    return _text(identifiers[0].get("system"))[:200], _text(identifiers[0].get("value"))[:100]


def parse_datetime(value: str) -> dt.datetime:
    """An aware datetime from a FHIR dateTime with a time and a zone."""
    low, _high = parse_fhir_date(value)
    if "T" not in value:
        raise FhirInvalid(f"« {value} » : une date-heure complète est attendue.")
    return low


def parse_appointment(body: object) -> AppointmentRequest:
    """A regulator's Appointment read into a booking request; raises FhirInvalid when unusable."""
    if not isinstance(body, Mapping) or body.get("resourceType") != "Appointment":
        raise FhirInvalid("Le corps de la requête doit être une ressource Appointment en JSON.")
    if body.get("status", "booked") not in ("booked", "pending", "proposed"):
        raise FhirInvalid(
            f"Statut « {body.get('status')} » impossible pour un nouveau rendez-vous."
        )
    slot_id = _slot_id(body)
    patient = _patient(body)
    birth_name, first_names, used_name = _names(patient)
    try:
        birth_date = dt.date.fromisoformat(_text(patient.get("birthDate")))
    except ValueError:
        raise FhirInvalid(
            "Indiquez la date de naissance du patient (birthDate, AAAA-MM-JJ)."
        ) from None
    gender = _text(patient.get("gender"))
    if gender not in _GENDERS:
        raise FhirInvalid("Indiquez le sexe du patient (gender : female, male, other ou unknown).")
    telecom = _dicts(patient.get("telecom"))
    phones = [_text(t.get("value")) for t in telecom if t.get("system") in ("phone", "sms")]
    phone = phones[0] if phones else ""
    email = next((_text(t.get("value")) for t in telecom if t.get("system") == "email"), "")
    operator = _regulator(body)
    caller_system, caller_value = _caller_identifier(body)
    created = parse_datetime(_text(body["created"])) if _text(body.get("created")) else None
    reasons = [_text(body.get("description")), _text(body.get("comment"))]
    reasons += [_text(r.get("text")) for r in _dicts(body.get("reasonCode"))]
    return AppointmentRequest(
        slot_id=slot_id,
        birth_name=birth_name,
        first_names=first_names,
        used_name=used_name,
        birth_date=birth_date,
        sex=_GENDERS[gender],
        phone=phone,
        email=email,
        regulator_label=operator.label[:200],
        regulator_identifier=operator.value[:100],
        created=created,
        reason=next((r for r in reasons if r), DEFAULT_REASON),
        regulator_system=operator.system[:100],
        regulator_type=operator.type,
        caller_system=caller_system,
        caller_value=caller_value,
        practitioner=_practitioner(body, operator)[:20],
    )


def appointment_resource(
    booking: Booking, *, base: str, identifier_system: str, sas: SasAppointment | None = None
) -> Json:
    """A booking as an Appointment (id = booking reference; booked, cancelled or noshow): the
    regulator by identifier, the calling platform's identifier of it when it gave one, the
    doctor by IDNPS when the regulator named one."""
    tz, patient = booking.site.timezone, booking.patient
    gender = {Sex.FEMALE: "female", Sex.MALE: "male"}.get(patient.sex, "unknown")
    names: list[Json] = [
        {
            "use": "official",
            "family": patient.used_name or patient.birth_name,
            "given": patient.first_names.split(),
        }
    ]
    if patient.used_name:
        names.append(
            {"use": "maiden", "family": patient.birth_name, "given": patient.first_names.split()}
        )
    operator: Json = {"display": booking.booked_by_label}
    if sas is not None and sas.operator_value:
        ident: Json = {"system": sas.operator_system, "value": sas.operator_value}
        if sas.operator_type:
            ident = {
                "type": {"coding": [{"system": SYSTEM_FR_V2_0203, "code": sas.operator_type}]},
                **ident,
            }
        operator["identifier"] = ident
    caller = {"reference": "#patient", "display": patient.display_name}
    room = {**_ref("Location", booking.site_id), "display": booking.site.name}
    doctor = sas.practitioner_idnps if sas is not None else ""
    conforms = bool(doctor) and "type" in operator.get("identifier", {})
    resource: Json = {"resourceType": "Appointment", "id": booking.reference}
    if conforms:
        resource["meta"] = {"profile": [PROFILE_APPOINTMENT]}
    resource |= {
        "contained": [
            {
                "resourceType": "Patient",
                "id": "patient",
                "name": names,
                "birthDate": patient.birth_date.isoformat(),
                "gender": gender,
            }
        ],
        "extension": [{"url": EXT_APPOINTMENT_OPERATOR, "valueReference": operator}],
        "identifier": [
            {"system": sas.caller_system, "value": sas.caller_value}
            if sas is not None and sas.caller_value
            else {"system": identifier_system, "value": booking.reference}
        ],
        "status": APPOINTMENT_STATUS[booking.status],
        "description": booking.reason,
        "start": instant(booking.starts_at, tz),
        "end": instant(booking.slot.ends_at, tz),
        "created": booking.created_at.isoformat(timespec="seconds"),
        "slot": [_ref("Slot", booking.slot_id)],
    }
    if doctor:
        # FrAppointmentSAS asks every participant for an IDNPS: the caller and the room are
        # then supporting information.
        resource["supportingInformation"] = [caller, room]
        resource["participant"] = [
            {"actor": {"identifier": idnps_identifier(doctor)}, "status": "accepted"}
        ]
    else:
        resource["participant"] = [
            {"actor": caller, "status": "accepted"},
            {"actor": room, "status": "accepted"},
        ]
    if booking.status is BookingStatus.CANCELLED:
        resource["cancelationReason"] = {"text": booking.cancel_reason or "annulé"}
    return resource
