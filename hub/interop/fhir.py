"""FHIR R4 JSON of the ANS SAS guide, CPTS subset: pure functions, no I/O.

Search parameters of the slot search (flow INT_R04) are parsed into a ``SlotSearch``; slots,
sites and the CPTS become the guide's resources (FrSlotAgregateurCPTS, FrScheduleAgregateur,
FrLocationAgregateur, FrHealthcareServiceAgregateurCPTS, FrOrganizationAgregateurCPTS) in a
BundleAgregateurCPTS; a regulator's Appointment is read into an ``AppointmentRequest``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hub.errors import HubError
from hub.records.patients import Sex
from hub.scheduling.models import BookingStatus, Reservation

if TYPE_CHECKING:
    from hub.identity.models import Organisation, Site
    from hub.scheduling.models import Booking, Slot

Json = dict[str, Any]

# Canonical URLs, as the guide's validator page lists them (its own note admits two bases).
SAS_IG = "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/"
PROFILE_BUNDLE = SAS_IG + "sas-cpts-bundle-aggregator"
PROFILE_SLOT = SAS_IG + "sas-cpts-slot-aggregator"
PROFILE_HEALTHCARE_SERVICE = SAS_IG + "sas-cpts-healthcareservice-aggregator"
# FrOrganizationAgregateurCPTS has Id sas-cpts-organization-aggregator in the FSH; the page's
# list says "sas-sos-organization-aggregator" (the SOS Médecins profile): the FSH wins.
PROFILE_ORGANIZATION = SAS_IG + "sas-cpts-organization-aggregator"
PROFILE_SCHEDULE = "http://sas.fr/fhir/StructureDefinition/FrScheduleAgregateur"
PROFILE_LOCATION = "http://sas.fr/fhir/StructureDefinition/FrLocationAgregateur"

SYSTEM_TYPE_CRENEAU = (
    "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau"
)
SYSTEM_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SYSTEM_APPOINTMENT_REASON = "http://terminology.hl7.org/CodeSystem/v2-0276"
SYSTEM_CATEGORIE_ETABLISSEMENT = "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"
CPTS_CATEGORY = "604"  # TRE_R66: Communauté Professionnelle Territoriale de Santé
EXT_SLOT_SERVICE_TYPE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Slot.serviceType"
EXT_APPOINTMENT_OPERATOR = "http://interopsante.org/fhir/StructureDefinition/FrAppointmentOperator"
SYSTEM_FR_V2_0203 = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"
SYSTEM_FINESS = "urn:oid:1.2.250.1.71.4.2.2"
TELECONSULTATION_TEXT = "Téléconsultation assistée par un·e infirmier·ère"

INCLUDE_SCHEDULE = "Slot:schedule"
INCLUDE_SCHEDULE_ACTOR = "Schedule:actor"
INCLUDE_SERVICE = "Slot:service-type-reference"
INCLUDE_ORGANIZATION = "HealthcareService:organization"
DEFAULT_TZ = ZoneInfo("Europe/Paris")
MAX_WINDOW = dt.timedelta(days=31)


class FhirInvalid(HubError):
    """A request the FHIR interface cannot execute (HTTP 400); the message is in French."""


# --- search parameters --------------------------------------------------------------------------

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def parse_fhir_date(value: str, *, tz: ZoneInfo = DEFAULT_TZ) -> tuple[dt.datetime, dt.datetime]:
    """The instants a FHIR date/dateTime covers, as [low, high); dates are taken in ``tz``."""
    # An unencoded "+02:00" in a query string arrives as " 02:00".
    match = _DATE.match(re.sub(r" (\d{2}:\d{2})$", r"+\1", value.strip()))
    if match is None:
        raise FhirInvalid(
            f"Date « {value} » illisible : format FHIR attendu, par exemple "
            "2024-06-12 ou 2024-06-12T16:20:00+02:00."
        )
    try:
        year = int(match["y"])
        if match["time"]:
            if not match["tz"]:
                raise FhirInvalid(
                    f"La date-heure « {value} » doit préciser son fuseau (Z ou +02:00)."
                )
            moment = dt.datetime.fromisoformat(
                f"{year:04d}-{match['m']}-{match['d']}T{match['time']}"
                + ("+00:00" if match["tz"] == "Z" else match["tz"])
            )
            step = dt.timedelta(minutes=1)
            if "." in match["time"]:
                step = dt.timedelta(microseconds=1)
            elif match["time"].count(":") == 2:
                step = dt.timedelta(seconds=1)
            return moment.astimezone(dt.UTC), (moment + step).astimezone(dt.UTC)
        if match["d"]:
            first = dt.date(year, int(match["m"]), int(match["d"]))
            after = first + dt.timedelta(days=1)
        elif match["m"]:
            first = dt.date(year, int(match["m"]), 1)
            after = dt.date(year + (first.month == 12), first.month % 12 + 1, 1)
        else:
            first, after = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    except ValueError:
        raise FhirInvalid(f"Date « {value} » impossible (jour ou mois hors calendrier).") from None
    low = dt.datetime.combine(first, dt.time(0), tz).astimezone(dt.UTC)
    return low, dt.datetime.combine(after, dt.time(0), tz).astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class SlotSearch:
    """A parsed ``GET /Slot``: slots starting in [start_from, start_until), and what to include."""

    start_from: dt.datetime
    start_until: dt.datetime
    includes: frozenset[str]


def parse_slot_search(params: Sequence[tuple[str, str]]) -> SlotSearch:
    """The slot search these query parameters ask for; raises FhirInvalid saying what is wrong."""
    lows: list[dt.datetime] = []
    highs: list[dt.datetime] = []
    statuses: list[str] = []
    includes: set[str] = set()
    for name, raw in params:
        if name == "start":
            for value in raw.split(","):
                prefix, rest = value[:2], value[2:]
                if prefix == "ge":
                    lows.append(parse_fhir_date(rest)[0])
                elif prefix == "le":
                    highs.append(parse_fhir_date(rest)[1])
                else:
                    raise FhirInvalid(
                        f"Paramètre start=« {value} » : seuls les préfixes ge (début de la "
                        "recherche) et le (fin de la recherche) sont pris en charge."
                    )
        elif name == "status":
            statuses.extend(v.strip() for v in raw.split(","))
        elif name in ("_include", "_include:iterate"):
            includes.update(v.strip() for v in raw.split(","))
        elif name == "_format" and "json" not in raw:
            raise FhirInvalid(f"Format « {raw} » non pris en charge : seul le JSON est servi.")
    if len(lows) != 1 or len(highs) != 1:
        raise FhirInvalid(
            "Indiquez une fois et une seule le début (start=ge…) et la fin (start=le…) "
            "de la période recherchée."
        )
    if not statuses:
        raise FhirInvalid("Le paramètre status est obligatoire (status=free).")
    if set(statuses) != {"free"}:
        raise FhirInvalid("Seuls les créneaux disponibles sont servis : utilisez status=free.")
    if highs[0] <= lows[0]:
        raise FhirInvalid("La fin de la période recherchée (start=le…) précède son début.")
    if highs[0] - lows[0] > MAX_WINDOW + dt.timedelta(days=1):
        raise FhirInvalid(f"Période trop longue : {MAX_WINDOW.days} jours au plus par recherche.")
    return SlotSearch(start_from=lows[0], start_until=highs[0], includes=frozenset(includes))


# --- resources -----------------------------------------------------------------------------------


def _instant(moment: dt.datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


def _ref(kind: str, rid: int | str) -> Json:
    return {"reference": f"{kind}/{rid}"}


def _coding(system: str, code: str) -> Json:
    return {"system": system, "code": code}


def e164(phone: str) -> str:
    """A French number as +33…, or the number without spaces when it is not a French one."""
    digits = re.sub(r"[\s.\-()]", "", phone)
    if re.fullmatch(r"0[1-9]\d{8}", digits):
        return "+33" + digits[1:]
    return digits


def slot_resource(slot: Slot, *, booking_url: str | None, free: bool = True) -> Json:
    """A slot of a room as FrSlotAgregateurCPTS (a teleconsultation of the CPTS; bookable when
    ``free``, else busy)."""
    visibility = "SNP" if slot.reserved_for is Reservation.SAS else "PUBLIC"
    resource: Json = {
        "resourceType": "Slot",
        "id": str(slot.id),
        "meta": {
            "profile": [PROFILE_SLOT],
            "security": [
                _coding(SYSTEM_TYPE_CRENEAU, visibility),
                _coding(SYSTEM_TYPE_CRENEAU, "CPTS"),
            ],
        },
        "serviceType": [
            {"coding": [_coding(SYSTEM_ACT_CODE, "VR")]},
            {
                "extension": [
                    {
                        "url": EXT_SLOT_SERVICE_TYPE,
                        "valueReference": _ref("HealthcareService", slot.site_id),
                    }
                ],
                "coding": [_coding(SYSTEM_CATEGORIE_ETABLISSEMENT, CPTS_CATEGORY)],
            },
            {"text": TELECONSULTATION_TEXT},
        ],
        "appointmentType": {"coding": [_coding(SYSTEM_APPOINTMENT_REASON, "ROUTINE")]},
        "schedule": _ref("Schedule", slot.site_id),
        "status": "free" if free else "busy",
        "start": _instant(slot.starts_at, slot.site.timezone),
        "end": _instant(slot.ends_at, slot.site.timezone),
    }
    if booking_url:
        resource["comment"] = booking_url
    return resource


def schedule_resource(site: Site) -> Json:
    """The agenda of one room (FrScheduleAgregateur); its actor is the room's Location."""
    return {
        "resourceType": "Schedule",
        "id": str(site.id),
        "meta": {"profile": [PROFILE_SCHEDULE]},
        "actor": [_ref("Location", site.id)],
    }


def location_resource(site: Site) -> Json:
    """Where the patient goes: the teleconsultation room (FrLocationAgregateur)."""
    address: Json = {
        "line": [site.address] if site.address else [],
        "postalCode": site.postcode,
        "city": site.city,
    }
    return {
        "resourceType": "Location",
        "id": str(site.id),
        "meta": {"profile": [PROFILE_LOCATION]},
        "name": site.name,
        "address": {k: v for k, v in address.items() if v},
    }


def healthcare_service_resource(site: Site) -> Json:
    """The room's teleconsultation service given by the CPTS (FrHealthcareServiceAgregateurCPTS)."""
    return {
        "resourceType": "HealthcareService",
        "id": str(site.id),
        "meta": {"profile": [PROFILE_HEALTHCARE_SERVICE]},
        "providedBy": _ref("Organization", site.organisation_id),
    }


def organization_resource(org: Organisation, *, finess: str | None) -> Json:
    """The CPTS (FrOrganizationAgregateurCPTS): FINESS with its prefix 1, name, phone."""
    resource: Json = {
        "resourceType": "Organization",
        "id": str(org.id),
        "meta": {"profile": [PROFILE_ORGANIZATION]},
    }
    if finess:
        resource["identifier"] = [
            {
                "type": {"coding": [_coding(SYSTEM_FR_V2_0203, "IDNST")]},
                "system": SYSTEM_FINESS,
                "value": "1" + finess,
            }
        ]
    resource["name"] = org.name
    if org.phone:
        resource["telecom"] = [{"system": "phone", "value": e164(org.phone)}]
    return resource


def entry(base: str, resource: Json, mode: str) -> Json:
    """A Bundle entry with its fullUrl and search mode (match or include)."""
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def searchset_bundle(
    *,
    bundle_id: str,
    self_url: str,
    base: str,
    matches: Sequence[Json],
    included: Iterable[Json],
    now: dt.datetime,
) -> Json:
    """A BundleAgregateurCPTS: the matching slots first, then the included resources."""
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"profile": [PROFILE_BUNDLE], "lastUpdated": now.isoformat(timespec="seconds")},
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [entry(base, r, "match") for r in matches]
        + [entry(base, r, "include") for r in included],
    }


def capability_statement(*, base: str, now: dt.datetime, software: str) -> Json:
    """What this server does, as the SAS guide's gestionnaire d'agenda CPTS declares it: Slot
    read and search (with the guide's _include), Appointment create, read and conditional
    update (cancellation); JSON only."""

    def interactions(*codes: str) -> list[Json]:
        return [{"code": c} for c in codes]

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.date().isoformat(),
        "kind": "instance",
        "software": {"name": software},
        "implementation": {"description": "Hub de téléconsultation de la CPTS", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "implementationGuide": ["https://interop.esante.gouv.fr/ig/fhir/sas"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Jeton d'accès de la plateforme SAS (Authorization: Bearer), "
                    "derrière l'authentification mutuelle TLS du proxy."
                },
                "resource": [
                    {
                        "type": "Slot",
                        "profile": PROFILE_SLOT,
                        "interaction": interactions("read", "search-type"),
                        "searchInclude": [
                            INCLUDE_SCHEDULE,
                            INCLUDE_SCHEDULE_ACTOR,
                            INCLUDE_SERVICE,
                            INCLUDE_ORGANIZATION,
                        ],
                        "searchParam": [
                            {
                                "name": "start",
                                "definition": "https://interop.esante.gouv.fr/ig/fhir/sas/"
                                "SearchParameter/slot-sp-start",
                                "type": "date",
                            }
                        ],
                    },
                    {
                        "type": "Appointment",
                        "interaction": interactions("create", "read", "update"),
                        "conditionalUpdate": True,
                    },
                ],
            }
        ],
    }


def operation_outcome(*, code: str, diagnostics: str, severity: str = "error") -> Json:
    """An OperationOutcome with one issue (the diagnostics are for a person: French)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


# --- appointments --------------------------------------------------------------------------------

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


def _regulator(body: Mapping[str, Any]) -> tuple[str, str]:
    candidates = [
        e.get("valueReference")
        for e in _dicts(body.get("extension"))
        if e.get("url") == EXT_APPOINTMENT_OPERATOR
    ]
    candidates += [p.get("actor") for p in _dicts(body.get("participant"))]
    for actor in candidates:
        reference = _text(actor.get("reference")) if isinstance(actor, Mapping) else "#"
        if not isinstance(actor, Mapping) or reference.startswith(("#", "Patient")):
            continue
        ident = actor.get("identifier")
        value = _text(ident.get("value")) if isinstance(ident, Mapping) else ""
        if _text(actor.get("display")) or value:
            return _text(actor.get("display")) or f"Régulateur SAS {value}", value
    raise FhirInvalid(
        "Indiquez le régulateur qui prend le rendez-vous (extension FrAppointmentOperator ou "
        "participant, avec son nom et/ou son identifiant)."
    )


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
    label, identifier = _regulator(body)
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
        regulator_label=label[:200],
        regulator_identifier=identifier[:100],
        created=created,
        reason=next((r for r in reasons if r), DEFAULT_REASON),
    )


def appointment_resource(booking: Booking, *, base: str, identifier_system: str) -> Json:
    """A booking as an Appointment (id = booking reference; booked, cancelled or noshow)."""
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
    resource: Json = {
        "resourceType": "Appointment",
        "id": booking.reference,
        "contained": [
            {
                "resourceType": "Patient",
                "id": "patient",
                "name": names,
                "birthDate": patient.birth_date.isoformat(),
                "gender": gender,
            }
        ],
        "extension": [
            {
                "url": EXT_APPOINTMENT_OPERATOR,
                "valueReference": {"display": booking.booked_by_label},
            }
        ],
        "identifier": [{"system": identifier_system, "value": booking.reference}],
        "status": APPOINTMENT_STATUS[booking.status],
        "description": booking.reason,
        "start": _instant(booking.starts_at, tz),
        "end": _instant(booking.slot.ends_at, tz),
        "created": booking.created_at.isoformat(timespec="seconds"),
        "slot": [_ref("Slot", booking.slot_id)],
        "participant": [
            {
                "actor": {"reference": "#patient", "display": patient.display_name},
                "status": "accepted",
            },
            {
                "actor": {**_ref("Location", booking.site_id), "display": booking.site.name},
                "status": "accepted",
            },
        ],
    }
    if booking.status is BookingStatus.CANCELLED:
        resource["cancelationReason"] = {"text": booking.cancel_reason or "annulé"}
    return resource
