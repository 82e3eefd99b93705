"""FHIR R4 JSON of the ANS SAS guide, CPTS subset: pure functions, no I/O.

Search parameters of the slot search (flow INT_R04) are parsed into a ``SlotSearch``; slots,
sites and the CPTS become the guide's resources (FrSlotAgregateurCPTS, FrScheduleAgregateur,
FrLocationAgregateur, FrHealthcareServiceAgregateurCPTS, FrOrganizationAgregateurCPTS) in a
BundleAgregateurCPTS. The doctors behind a room's slots are ``fhir_actors``'; a regulator's
Appointment is ``fhir_appointment``'s.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hub.errors import HubError
from hub.scheduling.models import Reservation

if TYPE_CHECKING:
    from hub.identity.models import Organisation, Site
    from hub.scheduling.models import Slot

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
PROFILE_APPOINTMENT = "http://sas.fr/fhir/StructureDefinition/FrAppointmentSAS"

SYSTEM_TYPE_CRENEAU = (
    "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau"
)
SYSTEM_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SYSTEM_APPOINTMENT_REASON = "http://terminology.hl7.org/CodeSystem/v2-0276"
SYSTEM_CATEGORIE_ETABLISSEMENT = "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"
CPTS_CATEGORY = "604"  # TRE_R66: Communauté Professionnelle Territoriale de Santé
EXT_SLOT_SERVICE_TYPE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Slot.serviceType"
SYSTEM_FR_V2_0203 = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"
SYSTEM_FINESS = "urn:oid:1.2.250.1.71.4.2.2"
TELECONSULTATION_TEXT = "Téléconsultation assistée par un·e infirmier·ère"

INCLUDE_SCHEDULE = "Slot:schedule"
INCLUDE_SCHEDULE_ACTOR = "Schedule:actor"
INCLUDE_SERVICE = "Slot:service-type-reference"
INCLUDE_ORGANIZATION = "HealthcareService:organization"
PRACTITIONER_SEARCH = "schedule.actor:Practitioner.identifier"
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
    # The values of ``schedule.actor:Practitioner.identifier``, None when the search names no
    # professional (every room's slots); ``fhir_actors.parse_practitioner_tokens`` reads them.
    practitioners: tuple[str, ...] | None = None


def parse_slot_search(params: Sequence[tuple[str, str]]) -> SlotSearch:
    """The slot search these query parameters ask for; raises FhirInvalid saying what is wrong."""
    lows: list[dt.datetime] = []
    highs: list[dt.datetime] = []
    statuses: list[str] = []
    includes: set[str] = set()
    practitioners: list[str] = []
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
        elif name == PRACTITIONER_SEARCH:
            practitioners.append(raw)
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
    return SlotSearch(
        start_from=lows[0],
        start_until=highs[0],
        includes=frozenset(includes),
        practitioners=tuple(practitioners) if practitioners else None,
    )


# --- resources -----------------------------------------------------------------------------------


def instant(moment: dt.datetime, tz: str) -> str:
    """A FHIR instant in the site's time zone."""
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
        "start": instant(slot.starts_at, slot.site.timezone),
        "end": instant(slot.ends_at, slot.site.timezone),
    }
    if booking_url:
        resource["comment"] = booking_url
    return resource


def schedule_resource(site: Site, *, actors: Sequence[str]) -> Json:
    """The agenda of one room (FrScheduleAgregateur); its actors are the references
    ``fhir_actors.schedule_actors`` gives (the doctors serving the room, else the room)."""
    return {
        "resourceType": "Schedule",
        "id": str(site.id),
        "meta": {"profile": [PROFILE_SCHEDULE]},
        "actor": [{"reference": actor} for actor in actors],
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
                            },
                            {
                                "name": "schedule",
                                "type": "reference",
                                "documentation": f"Chaînée : {PRACTITIONER_SEARCH}=[système|]"
                                "IDNPS, les créneaux des cabinets où exercent ces médecins.",
                            },
                        ],
                    },
                    {
                        "type": "Appointment",
                        "profile": PROFILE_APPOINTMENT,
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
