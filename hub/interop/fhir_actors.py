"""Who a room's slots are with, as the ANS SAS guide's CPTS search wants them: pure functions.

A room's slot has no doctor of its own: its teleconsultation goes to whichever doctor serving
the room takes it (the doctors with the room among their sites, ``identity.doctors_serving``).
So the room's Schedule names, as its actors, each of those doctors who has an RPPS — their
Practitioner (FrPractitionerAgregateur, the national identifier "8" + RPPS) and their
PractitionerRole in the room (FrPractitionerRoleExerciceAgregateur, the room's Location
contained). A room no doctor with an RPPS serves keeps its Location as the Schedule's actor: no
identifier is ever made up. The search's ``schedule.actor:Practitioner.identifier`` keeps the
slots of the rooms one of the named doctors serves (several identifiers: any of them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hub.interop.fhir import (
    SYSTEM_FINESS,
    SYSTEM_FR_V2_0203,
    FhirInvalid,
    Json,
    e164,
    location_resource,
)

if TYPE_CHECKING:
    from hub.identity.models import Site, User

SYSTEM_IDNPS = "urn:oid:1.2.250.1.71.4.2.1"  # national identifiers of professionals
SYSTEM_SAS_INTERNAL = "urn:oid:1.2.250.1.213.3.6"  # the SAS's technical ids of regulators
PROFILE_PRACTITIONER = "http://sas.fr/fhir/StructureDefinition/FrPractitionerAgregateur"
PROFILE_PRACTITIONER_ROLE = (
    "http://sas.fr/fhir/StructureDefinition/FrPractitionerRoleExerciceAgregateur"
)
TRE_G15_PROFESSION = (
    "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
)
DOCTOR_PROFESSION = "10"  # TRE_G15: Médecin
MAX_PRACTITIONERS = 25  # the guide: 1..25 identifiers per search
_IDNPS_VALUE = re.compile(r"8\d{11}")


def idnps(rpps: str) -> str:
    """A doctor's national identifier: the RPPS prefixed by 8."""
    return "8" + rpps


def parse_practitioner_tokens(values: Sequence[str]) -> frozenset[str]:
    """The national identifiers (IDNPS values) a search names, from tokens ``[system|]value``
    (comma-separated, repeatable). A token of another system names nobody of ours: it is kept
    under its system so that it matches nothing."""
    tokens = [t.strip() for value in values for t in value.split(",") if t.strip()]
    if len(tokens) > MAX_PRACTITIONERS:
        raise FhirInvalid(
            f"{len(tokens)} identifiants de professionnels : {MAX_PRACTITIONERS} au plus par "
            "recherche."
        )
    named = set()
    for token in tokens:
        system, bar, value = token.rpartition("|")
        if bar and system != SYSTEM_IDNPS:
            named.add(token)
        elif not _IDNPS_VALUE.fullmatch(value.strip()):
            raise FhirInvalid(
                f"Identifiant « {token} » illisible : identifiant national attendu, "
                f"{SYSTEM_IDNPS}|8 suivi des 11 chiffres du RPPS."
            )
        else:
            named.add(value.strip())
    return frozenset(named)


def practitioner_id(doctor: User) -> str:
    return str(doctor.id)


def role_id(site: Site, doctor: User) -> str:
    return f"{site.id}-{doctor.id}"


def schedule_actors(site: Site, doctors: Sequence[User]) -> list[str]:
    """The references a room's Schedule names: its doctors and their roles, else the room."""
    if not doctors:
        return [f"Location/{site.id}"]
    actors: list[str] = []
    for doctor in doctors:
        actors += [
            f"Practitioner/{practitioner_id(doctor)}",
            f"PractitionerRole/{role_id(site, doctor)}",
        ]
    return actors


def idnps_identifier(value: str) -> Json:
    """A national identifier of a professional (type IDNPS, as the SAS guide's profiles fix it)."""
    return {
        "type": {"coding": [{"system": SYSTEM_FR_V2_0203, "code": "IDNPS"}]},
        "system": SYSTEM_IDNPS,
        "value": value,
    }


def person_name(full_name: str) -> Json:
    """A staff member's name as FHIR HumanName: first word given, the rest the family name."""
    parts = re.sub(r"^(Dr\.?|Pr\.?)\s+", "", full_name.strip()).split()
    if len(parts) < 2:
        return {"family": " ".join(parts) or full_name}
    return {"family": " ".join(parts[1:]), "given": parts[:1]}


def practitioner_resource(doctor: User) -> Json:
    """A doctor serving a room (FrPractitionerAgregateur): national identifier, name."""
    return {
        "resourceType": "Practitioner",
        "id": practitioner_id(doctor),
        "meta": {"profile": [PROFILE_PRACTITIONER]},
        "identifier": [idnps_identifier(idnps(doctor.rpps))],
        "name": [person_name(doctor.full_name)],
    }


def practitioner_role_resource(site: Site, doctor: User, *, finess: str | None, phone: str) -> Json:
    """The doctor's teleconsultations in this room (FrPractitionerRoleExerciceAgregateur): the
    room's Location contained, the CPTS by its national structure identifier when known."""
    location = location_resource(site)
    location["id"] = "room"
    resource: Json = {
        "resourceType": "PractitionerRole",
        "id": role_id(site, doctor),
        "meta": {"profile": [PROFILE_PRACTITIONER_ROLE]},
        "contained": [location],
        "practitioner": {"reference": f"Practitioner/{practitioner_id(doctor)}"},
    }
    if finess:
        resource["organization"] = {
            "identifier": {
                "type": {"coding": [{"system": SYSTEM_FR_V2_0203, "code": "IDNST"}]},
                "system": SYSTEM_FINESS,
                "value": "1" + finess,
            }
        }
    resource["code"] = [{"coding": [{"system": TRE_G15_PROFESSION, "code": DOCTOR_PROFESSION}]}]
    resource["location"] = [{"reference": "#room"}]
    if phone:
        resource["telecom"] = [{"system": "phone", "value": e164(phone)}]
    return resource
