"""The measurements of a report as FHIR vital-sign Observations claiming their FR Core profile.

The kinds and their LOINC codes come from the device registry (``devices.measurements.KINDS``):
the systolic, diastolic and mean pressures of one cuff reading (same time, same device) are the
components of one blood pressure panel (LOINC 85354-9, profile ``fr-core-observation-bp``); the
pulse that came with them is its own heart-rate Observation; SpO2 carries both its pulse
oximetry code (59408-5) and the HL7 vital-signs code (2708-6). A kind FR Core has no profile for
(perfusion index) is exported as a plain vital-sign Observation, and claims nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from devices.measurements import (
    KINDS,
    PANELS,
    KindInfo,
    MeasurementKind,
    Unit,
    reference_value,
)
from hub.reports.facts import MeasurementFacts
from hub.reports.fhir_common import (
    LOINC,
    OBSERVATION_CATEGORY,
    UCUM,
    Json,
    concept,
    instant,
    meta_profile,
)

BLOOD_PRESSURE_PROFILE = "fr-core-observation-bp"
PROFILE_OF_KIND: dict[str, str] = {
    MeasurementKind.PULSE_RATE: "fr-core-observation-heartrate",
    MeasurementKind.SPO2: "fr-core-observation-saturation-oxygen",
    MeasurementKind.BODY_TEMPERATURE: "fr-core-observation-body-temperature",
    MeasurementKind.BODY_WEIGHT: "fr-core-observation-body-weight",
}
# The panel's components in the order the HL7 bp profile lists them; systolic and diastolic
# are both required (1..1) for the panel to claim the profile.
BLOOD_PRESSURE_COMPONENTS = (
    MeasurementKind.BLOOD_PRESSURE_SYSTOLIC,
    MeasurementKind.BLOOD_PRESSURE_DIASTOLIC,
    MeasurementKind.BLOOD_PRESSURE_MEAN,
)
REQUIRED_COMPONENTS = frozenset(BLOOD_PRESSURE_COMPONENTS[:2])


@dataclass(frozen=True, slots=True)
class VitalSign:
    """What one Observation holds: a single measurement, or the components of a panel."""

    panel: str  # the panel's LOINC code, "" for a single measurement
    measurements: tuple[MeasurementFacts, ...]

    @property
    def at(self) -> dt.datetime:
        return self.measurements[0].at

    @property
    def key(self) -> str:
        """Names the Observation among the report's (stable from one export to the next)."""
        kinds = "+".join(m.kind for m in self.measurements)
        return f"{self.panel or kinds}/{kinds}/{self.at.isoformat()}/{self.measurements[0].device}"


def vital_signs(measurements: Sequence[MeasurementFacts]) -> list[VitalSign]:
    """The Observations of a report's measurements, in the order they were taken: the
    components of one panel taken together (same time, same device) share one."""
    signs: list[list[MeasurementFacts] | MeasurementFacts] = []
    open_panels: dict[tuple[str, dt.datetime, str], list[MeasurementFacts]] = {}
    for m in measurements:
        panel = _panel_of(m.kind)
        if not panel:
            signs.append(m)
            continue
        group = open_panels.get((panel, m.at, m.device))
        if group is None or any(other.kind == m.kind for other in group):
            group = open_panels[(panel, m.at, m.device)] = []
            signs.append(group)
        group.append(m)
    return [
        VitalSign(
            panel=_panel_of(s[0].kind),
            measurements=tuple(sorted(s, key=lambda m: _component_rank(m.kind))),
        )
        if isinstance(s, list)
        else VitalSign(panel="", measurements=(s,))
        for s in signs
    ]


def vital_sign_observation(
    sign: VitalSign, *, patient: str, encounter: str, performer: str | None, tz: dt.tzinfo
) -> Json:
    """The Observation of one vital sign (references are the bundle's fullUrls)."""
    first = sign.measurements[0]
    if sign.panel:
        complete = {m.kind for m in sign.measurements} >= REQUIRED_COMPONENTS
        profile = BLOOD_PRESSURE_PROFILE if complete else None
        code: Json = {
            "coding": [{"system": LOINC, "code": sign.panel, "display": PANELS[sign.panel]}],
            "text": PANELS[sign.panel],
        }
    else:
        profile = PROFILE_OF_KIND.get(first.kind)
        code = observation_code(first)
    resource: Json = {"resourceType": "Observation"}
    if profile is not None:
        resource["meta"] = meta_profile(profile)
    resource |= {
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
        "code": code,
        "subject": {"reference": patient},
        "encounter": {"reference": encounter},
        "effectiveDateTime": instant(first.at, tz),
    }
    if performer is not None:
        resource["performer"] = [{"reference": performer}]
    if sign.panel:
        resource["component"] = [
            {"code": observation_code(m), "valueQuantity": quantity(m)} for m in sign.measurements
        ]
    else:
        resource["valueQuantity"] = quantity(first)
    if first.device:
        resource["device"] = {"display": first.device}
    return resource


def observation_code(measurement: MeasurementFacts) -> Json:
    """The measurement's LOINC code, then the other codes its kind is known by (the kind's
    default when a device gave a more precise one, the HL7 vital-signs code)."""
    codes = [measurement.loinc]
    info = _info(measurement.kind)
    if info is not None:
        codes += [info.loinc, *info.also_loinc]
    unique = [c for i, c in enumerate(codes) if c and c not in codes[:i]]
    coding: list[Json] = [{"system": LOINC, "code": c} for c in unique]
    if coding:
        coding[0]["display"] = measurement.label
    return {"coding": coding, "text": measurement.label}


def quantity(measurement: MeasurementFacts) -> Json:
    """The UCUM quantity; pressures in mm[Hg], the one unit the HL7 bp profile allows."""
    value, unit = measurement.value, measurement.unit
    info = _info(measurement.kind)
    if info is not None and info.reference_unit is Unit.MMHG and unit != Unit.MMHG:
        value, unit = round(reference_value(value, unit), 1), str(Unit.MMHG)
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _info(kind: str) -> KindInfo | None:
    try:
        return KINDS[MeasurementKind(kind)]
    except ValueError:
        return None


def _panel_of(kind: str) -> str:
    info = _info(kind)
    return info.panel if info is not None else ""


def _component_rank(kind: str) -> int:
    try:
        return BLOOD_PRESSURE_COMPONENTS.index(MeasurementKind(kind))
    except ValueError:
        return len(BLOOD_PRESSURE_COMPONENTS)
