"""The ANS value sets shipped under tests/conformance/ans-terminologie, and the coded metadata of
an XDM package read back against them (so a test checks the ANS's list, not the product's own
constants)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

TERMINOLOGIE = Path(__file__).resolve().parents[1] / "conformance" / "ans-terminologie"
RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
# IHE ITI TF-3 §4.2.5.2 (ebRIM identifiers): XDSSubmissionSet.contentTypeCode.
SUBMISSION_SET_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"


@dataclass(frozen=True, slots=True)
class Coded:
    """One coded metadata as ebRIM carries it."""

    classified: str  # the id of the classified registry object
    coding_scheme: str  # the codingScheme slot (an OID)
    code: str  # nodeRepresentation
    display: str  # Name/LocalizedString/@value


def jdv_j59() -> dict[tuple[str, str], str]:
    """JDV_J59-ContentTypeCode-DMP as {(code system OID, code): display in the value set}, for
    the code systems whose OID is shipped beside it."""
    value_set = json.loads((TERMINOLOGIE / "ValueSet-JDV-J59-ContentTypeCode-DMP.json").read_text())
    systems = json.loads((TERMINOLOGIE / "CodeSystems-JDV-J59.json").read_text())
    oids = {
        entry["resource"]["url"]: identifier["value"].removeprefix("urn:oid:")
        for entry in systems["entry"]
        for identifier in entry["resource"]["identifier"]
        if identifier["value"].startswith("urn:oid:")
    }
    return {
        (oids[include["system"]], concept["code"]): concept["display"]
        for include in value_set["compose"]["include"]
        if include["system"] in oids
        for concept in include["concept"]
    }


def classifications(metadata: bytes, scheme: str) -> list[Coded]:
    """Every classification of ``scheme`` in an XDM ``METADATA.XML``."""
    found = []
    for element in ET.fromstring(metadata).iter(f"{RIM}Classification"):
        if element.get("classificationScheme") != scheme:
            continue
        [coding_scheme] = [
            value.text or ""
            for slot in element.findall(f"{RIM}Slot")
            if slot.get("name") == "codingScheme"
            for value in slot.iter(f"{RIM}Value")
        ]
        [name] = element.iter(f"{RIM}LocalizedString")
        found.append(
            Coded(
                classified=element.get("classifiedObject", ""),
                coding_scheme=coding_scheme,
                code=element.get("nodeRepresentation", ""),
                display=name.get("value", ""),
            )
        )
    return found


def submission_set_id(metadata: bytes) -> str:
    """The id of the package's only submission set (RegistryPackage)."""
    [package] = ET.fromstring(metadata).iter(f"{RIM}RegistryPackage")
    return package.get("id", "")
