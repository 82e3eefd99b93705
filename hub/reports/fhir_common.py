"""What the FHIR export's modules share: JSON type, code systems, FR Core canonical URLs, and
the small builders of codings, concepts, instants and ``meta.profile``."""

from __future__ import annotations

import datetime as dt

Json = dict[str, object]

LOINC = "http://loinc.org"
RFC_3986 = "urn:ietf:rfc:3986"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# FR Core (Interop'Santé): the IG's canonical is https://hl7.fr/ig/fhir/core (sushi-config.yaml
# of github.com/Interop-Sante/hl7.fhir.fr.core); its profiles are StructureDefinition/<Id>.
FR_CORE = "https://hl7.fr/ig/fhir/core/"
FR_CORE_V2_0203 = FR_CORE + "CodeSystem/fr-core-cs-v2-0203"


def fr_core_profile(profile_id: str) -> str:
    """The canonical URL of a FR Core profile ("fr-core-patient" → https://hl7.fr/.../...)."""
    return f"{FR_CORE}StructureDefinition/{profile_id}"


def meta_profile(profile_id: str) -> Json:
    """The ``meta`` claiming one FR Core profile."""
    return {"profile": [fr_core_profile(profile_id)]}


def instant(moment: dt.datetime, tz: dt.tzinfo) -> str:
    """A FHIR dateTime/instant of an aware datetime, in ``tz``."""
    if moment.tzinfo is None:
        raise ValueError("FHIR instants need an aware datetime")
    spec = "seconds" if moment.microsecond == 0 else "milliseconds"
    return moment.astimezone(tz).isoformat(timespec=spec)


def coding(system: str, code: str, display: str) -> Json:
    return {"system": system, "code": code, "display": display}


def concept(system: str, code: str, display: str) -> Json:
    return {"coding": [coding(system, code, display)]}
