"""A small FHIR profile validator driven by published StructureDefinitions (tests only).

``Registry`` loads the StructureDefinitions, ValueSets and CodeSystems shipped under
``tests/conformance/fhir/`` (see its ORIGIN.md). ``Registry.validate(resource)`` checks the
resource against every profile its ``meta.profile`` claims and against each profile's parents
(FR Core bp → HL7 bp → HL7 vitalsigns), element by element:

- cardinality (``min``/``max``) of every element the definition lists, counted per parent
  instance, slices included (``component:SystolicBP``, ``identifier:PI``, ``meta.profile:…``);
- ``fixed[x]`` (equality) and ``pattern[x]`` (containment) values;
- ``required`` bindings whose ValueSet is shipped (others are not checked);
- the datatypes allowed for a choice element (``value[x]`` of a bp component is a Quantity);
- closed slicings (no item outside the defined slices);
- extensions whose own StructureDefinition is shipped, against it.

A slice's members are found from its slicing's discriminators (``value``/``pattern`` on a path,
``type``): an item belongs to the slice when, for each discriminator, some value at that path
equals the slice's fixed or pattern value there, looked up in the profile, its parents, and the
profile of the element's type (an extension slice's url is its extension's canonical). Profiles
given as a differential (FR Core's, see ORIGIN.md) are checked over their parents' snapshots,
which is what their snapshot says for the constraints above.

Not checked: invariants (FHIRPath ``constraint`` expressions), reference targets, extensible or
preferred bindings, ``mustSupport``, slice order, and the base resource structure (the tests run
fhir.resources for that). Errors name the profile, the element id and where in the resource.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "fhir"

Json = dict[str, Any]
Node = tuple[str, Any]  # (where in the resource, the value)


def _canonical(url: str) -> str:
    return url.split("|", 1)[0]


@dataclass(frozen=True)
class Profile:
    """One StructureDefinition: its elements (snapshot, else differential) by id."""

    url: str
    name: str
    type: str
    base: str
    elements: tuple[Json, ...]

    @cached_property
    def by_id(self) -> dict[str, Json]:
        return {e["id"]: e for e in self.elements}


class Registry:
    """The shipped definitions, and the validation of resources against them."""

    def __init__(self, folder: Path = CONFORMANCE) -> None:
        self.profiles: dict[str, Profile] = {}
        self.value_sets: dict[str, Json] = {}
        self.code_systems: dict[str, Json] = {}
        for path in sorted(folder.rglob("*.json")):
            resource = json.loads(path.read_text(encoding="utf-8"))
            kind = resource["resourceType"]
            if kind == "StructureDefinition":
                elements = (resource.get("snapshot") or resource["differential"])["element"]
                self.profiles[resource["url"]] = Profile(
                    url=resource["url"],
                    name=resource["id"],
                    type=resource["type"],
                    base=_canonical(resource["baseDefinition"]),
                    elements=tuple(elements),
                )
            elif kind == "ValueSet":
                self.value_sets[resource["url"]] = resource
            elif kind == "CodeSystem":
                self.code_systems[resource["url"]] = resource

    def chain(self, url: str) -> list[Profile]:
        """The profile and the parents of it that are shipped, most derived first."""
        profiles: list[Profile] = []
        url = _canonical(url)
        while url in self.profiles:
            profiles.append(self.profiles[url])
            url = self.profiles[url].base
        return profiles

    def validate(self, resource: Json) -> list[str]:
        """Every violation of the profiles the resource claims (and of their parents)."""
        errors: list[str] = []
        for claimed in resource.get("meta", {}).get("profile", []):
            chain = self.chain(claimed)
            if not chain:
                errors.append(f"{claimed}: profile not shipped in {CONFORMANCE}")
            for profile in chain:
                errors += _Check(self, chain, profile, resource).errors()
        return errors

    # --- terminology ----------------------------------------------------------------------

    def codes(self, value_set: str) -> set[tuple[str, str]] | None:
        """The (system, code) pairs of a shipped ValueSet; None when it is not shipped."""
        vs = self.value_sets.get(_canonical(value_set))
        if vs is None:
            return None
        included: set[tuple[str, str]] = set()
        for part in vs["compose"].get("include", []):
            found = self._part(part)
            if found is None:
                return None
            included |= found
        for part in vs["compose"].get("exclude", []):
            included -= self._part(part) or set()
        return included

    def _part(self, part: Json) -> set[tuple[str, str]] | None:
        if "valueSet" in part:
            found: set[tuple[str, str]] = set()
            for url in part["valueSet"]:
                codes = self.codes(url)
                if codes is None:
                    return None
                found |= codes
            return found
        system = part["system"]
        if "concept" in part:
            return {(system, c["code"]) for c in part["concept"]}
        cs = self.code_systems.get(system)
        if cs is None:
            return None
        return {(system, c["code"]) for c in _all_concepts(cs.get("concept", []))}


def _all_concepts(concepts: list[Json]) -> Iterator[Json]:
    for concept in concepts:
        yield concept
        yield from _all_concepts(concept.get("concept", []))


class _Check:
    """One resource against one profile's elements; slices resolved through the chain."""

    def __init__(
        self, registry: Registry, chain: list[Profile], profile: Profile, resource: Json
    ) -> None:
        self.registry = registry
        self.chain = chain
        self.profile = profile
        self.resource = resource
        self.root = profile.type
        self._nodes: dict[str, list[Node]] = {self.root: [(self.root, resource)]}

    def errors(self) -> list[str]:
        found: list[str] = []
        for element in self.profile.elements:
            element_id = element["id"]
            if element_id == self.root or "." not in element_id:
                continue
            parent_id, segment = element_id.rsplit(".", 1)
            for where, parent in self.nodes(parent_id):
                values = self.children(where, parent, element_id, segment)
                found += [self._say(element_id, where, m) for m in self._card(element, values)]
                found += [self._say(element_id, w, m) for w, m in _types(element, values)]
                for value_where, value in values:
                    found += [
                        self._say(element_id, value_where, m) for m in self._value(element, value)
                    ]
                    found += self._extension(element_id, value)
            found += [self._say(element_id, w, m) for w, m in self._closed(element_id)]
        return found

    def _say(self, element_id: str, where: str, message: str) -> str:
        return f"{self.profile.name}: {element_id} at {where}: {message}"

    # --- navigation -----------------------------------------------------------------------

    def nodes(self, element_id: str) -> list[Node]:
        """The values of the resource an element id (slices included) designates."""
        if element_id not in self._nodes:
            parent_id, segment = element_id.rsplit(".", 1)
            self._nodes[element_id] = [
                node
                for where, parent in self.nodes(parent_id)
                for node in self.children(where, parent, element_id, segment)
            ]
        return self._nodes[element_id]

    def children(self, where: str, parent: Any, element_id: str, segment: str) -> list[Node]:
        name, _, slice_name = segment.partition(":")
        values = _child_values(where, parent, name)
        if not slice_name:
            return values
        sliced_id = element_id.rsplit(":", 1)[0]
        return [node for node in values if self.in_slice(node, sliced_id, element_id)]

    def lookup(self, element_id: str) -> Json:
        """The element's properties merged along the chain (most derived wins), falling back
        to the profile of an enclosing element's type (an extension's, an Address's)."""
        merged: Json = {}
        for profile in reversed(self.chain):
            merged |= profile.by_id.get(element_id, {})
        if merged.get("type") or merged.get("slicing") or "." not in element_id:
            return merged
        prefix = element_id
        while "." in prefix:
            prefix = prefix.rsplit(".", 1)[0]
            profiles = [
                url for t in self.lookup(prefix).get("type", []) for url in t.get("profile", [])
            ]
            for url in profiles:
                chain = self.registry.chain(url)
                if chain:
                    mapped = chain[0].type + element_id[len(prefix) :]
                    inner = _Check(self.registry, chain, chain[0], {})
                    return inner.lookup(mapped) | merged
        return merged

    def in_slice(self, node: Node, sliced_id: str, slice_id: str) -> bool:
        slicing = self.lookup(sliced_id).get("slicing")
        if slicing is None and sliced_id.endswith(("extension", "modifierExtension")):
            slicing = {"discriminator": [{"type": "value", "path": "url"}]}
        if slicing is None:
            raise LookupError(f"{self.profile.name}: no slicing for {sliced_id}")
        slice_name = slice_id.rsplit(":", 1)[1]
        where, value = node
        for discriminator in slicing["discriminator"]:
            path = discriminator["path"]
            if discriminator["type"] == "type":
                key = where.rsplit(".", 1)[-1].split("[", 1)[0]
                if key != slice_name:
                    return False
                continue
            expected = self._discriminating(slice_id, path)
            if expected is None:
                raise LookupError(f"{self.profile.name}: {slice_id} has no value at {path}")
            kind, wanted = expected
            found = [v for _, v in _at_path(where, value, path)]
            if not any(_matches(kind, v, wanted) for v in found):
                return False
        return True

    def _discriminating(self, slice_id: str, path: str) -> tuple[str, Any] | None:
        """The fixed or pattern value a slice sets at a discriminator's path."""
        target = slice_id if path == "$this" else f"{slice_id}.{path}"
        candidates = [target] + [
            element["id"]
            for profile in self.chain
            for element in profile.elements
            if element["id"].startswith(slice_id + ".")
            and _unsliced_below(element["id"], slice_id) == target
        ]
        for candidate in candidates:
            element = self.lookup(candidate)
            for key, value in element.items():
                if key.startswith("fixed"):
                    return "fixed", value
                if key.startswith("pattern"):
                    return "pattern", value
        if path == "url":
            for t in self.lookup(slice_id).get("type", []):
                for url in t.get("profile", []):
                    return "fixed", _canonical(url)
        return None

    # --- checks ---------------------------------------------------------------------------

    def _card(self, element: Json, values: list[Node]) -> list[str]:
        problems = []
        if "min" in element and len(values) < element["min"]:
            problems.append(f"{len(values)} found, at least {element['min']} required")
        maximum = element.get("max", "*")
        if maximum != "*" and len(values) > int(maximum):
            problems.append(f"{len(values)} found, at most {maximum} allowed")
        return problems

    def _value(self, element: Json, value: Any) -> list[str]:
        problems = []
        for key, wanted in element.items():
            if key.startswith("fixed") and not _matches("fixed", value, wanted):
                problems.append(f"{json.dumps(value)} is not the fixed {json.dumps(wanted)}")
            if key.startswith("pattern") and not _matches("pattern", value, wanted):
                problems.append(f"{json.dumps(value)} does not match {json.dumps(wanted)}")
        binding = element.get("binding", {})
        if binding.get("strength") == "required":
            codes = self.registry.codes(binding["valueSet"])
            if codes is not None and not _coded_in(value, codes):
                problems.append(f"{json.dumps(value)} is not in {binding['valueSet']}")
        return problems

    def _extension(self, element_id: str, value: Any) -> list[str]:
        """An extension against its own StructureDefinition, when shipped."""
        if not isinstance(value, dict) or "url" not in value:
            return []
        for t in self.lookup(element_id).get("type", []):
            for url in t.get("profile", []):
                chain = self.registry.chain(url)
                if t["code"] == "Extension" and chain:
                    return [
                        f"{element_id} → {problem}"
                        for profile in chain
                        for problem in _Check(self.registry, chain, profile, value).errors()
                    ]
        return []

    def _closed(self, element_id: str) -> Iterator[tuple[str, str]]:
        """Items of a closed slicing that belong to none of its slices."""
        slicing = self.profile.by_id.get(element_id, {}).get("slicing")
        if not slicing or slicing.get("rules") != "closed":
            return
        slices = {
            e["id"]
            for p in self.chain
            for e in p.elements
            if e["id"].startswith(element_id + ":") and "." not in e["id"][len(element_id) :]
        }
        for node in self.nodes(element_id):
            if not any(self.in_slice(node, element_id, s) for s in slices):
                yield node[0], "in none of the slices of a closed slicing"


def _types(element: Json, values: list[Node]) -> Iterator[tuple[str, str]]:
    """Values of a choice element (``value[x]``) whose datatype the element does not allow."""
    if not element["id"].endswith("[x]") or "type" not in element:
        return
    allowed = {t["code"][:1].upper() + t["code"][1:] for t in element["type"]}
    stem = element["path"].rsplit(".", 1)[-1][:-3]
    for where, _ in values:
        key = where.rsplit(".", 1)[-1].split("[", 1)[0]
        if key[len(stem) :] not in allowed:
            yield where, f"{key} is not one of the allowed types {sorted(allowed)}"


def _child_values(where: str, parent: Any, name: str) -> list[Node]:
    """The values named ``name`` (``value[x]``: any ``valueQuantity``...) under ``parent``."""
    if not isinstance(parent, dict):
        return []
    if name.endswith("[x]"):
        stem = name[:-3]
        keys = [k for k in parent if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()]
    else:
        keys = [name] if name in parent else []
    nodes: list[Node] = []
    for key in keys:
        value = parent[key]
        if isinstance(value, list):
            nodes += [(f"{where}.{key}[{i}]", item) for i, item in enumerate(value)]
        else:
            nodes.append((f"{where}.{key}", value))
    return nodes


def _at_path(where: str, value: Any, path: str) -> list[Node]:
    nodes: list[Node] = [(where, value)]
    if path == "$this":
        return nodes
    for name in path.split("."):
        nodes = [child for w, v in nodes for child in _child_values(w, v, name)]
    return nodes


def _unsliced_below(element_id: str, slice_id: str) -> str:
    """The id with the slice names below ``slice_id`` removed (``…:SBPCode.code`` → ``….code``)."""
    rest = element_id[len(slice_id) :]
    return slice_id + ".".join(part.split(":")[0] for part in rest.split("."))


def _matches(kind: str, value: Any, wanted: Any) -> bool:
    if kind == "fixed" or not isinstance(wanted, dict | list):
        return bool(value == wanted)
    if isinstance(wanted, list):
        return isinstance(value, list) and all(
            any(_matches(kind, v, w) for v in value) for w in wanted
        )
    return isinstance(value, dict) and all(
        k in value and _matches(kind, value[k], w) for k, w in wanted.items()
    )


def _coded_in(value: Any, codes: set[tuple[str, str]]) -> bool:
    """A code, Coding, CodeableConcept or Quantity taken from the given codes."""
    if isinstance(value, str):
        return any(code == value for _, code in codes)
    if not isinstance(value, dict):
        return False
    if "coding" in value:
        return any(_coded_in(c, codes) for c in value["coding"])
    if "code" not in value:
        return True  # a Quantity or Coding without a code: nothing bound to check
    return (value.get("system", ""), value["code"]) in codes
