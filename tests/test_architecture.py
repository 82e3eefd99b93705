"""The dependency rules of DESIGN.md stay enforced as the hub grows new modules."""

from __future__ import annotations

import itertools
import pkgutil
import tomllib

import grimp

import hub
from tests.conftest import ROOT


def _contract(name_start: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["name"].startswith(name_start):
            return dict(contract)
    raise AssertionError(f"no contract {name_start!r}")


def _hub_units() -> set[str]:
    """The hub's top-level modules and packages (``deps``, ``rendering``, ``records``...)."""
    return {m.name for m in pkgutil.iter_modules(hub.__path__)}


def test_the_agent_contract_forbids_every_hub_module_but_the_wire() -> None:
    contract = _contract("the cabin agent uses only")
    assert "hub.*" in contract["forbidden_modules"]  # type: ignore[operator]
    assert set(contract["ignore_imports"]) == {  # type: ignore[call-overload]
        "cabin_agent.** -> hub.wire",
        "cabin_agent.** -> hub.wire.**",
    }


def test_every_hub_module_is_on_one_floor_of_the_layers_contract() -> None:
    contract = _contract("hub layers")
    assert contract["containers"] == ["hub"] and contract["exhaustive"] is True
    floors = [
        {name.strip() for name in floor.replace(":", "|").split("|")}
        for floor in contract["layers"]  # type: ignore[attr-defined]
    ]
    placed = [name for floor in floors for name in floor]
    assert len(placed) == len(set(placed)), "a module is on two floors"
    missing = _hub_units() - set(placed)
    assert not missing, f"put {sorted(missing)} on a floor of the layers contract (pyproject.toml)"


def test_no_two_hub_units_import_each_other() -> None:
    graph = grimp.build_graph("hub", cache_dir=None)
    members = {
        unit: {m for m in graph.modules if m == f"hub.{unit}" or m.startswith(f"hub.{unit}.")}
        for unit in sorted({m.split(".")[1] for m in graph.modules if m.count(".") >= 1})
    }

    def imports(importer: str, imported: str) -> bool:
        return any(
            graph.direct_import_exists(importer=a, imported=b)
            for a in members[importer]
            for b in members[imported]
        )

    mutual = [
        (a, b) for a, b in itertools.combinations(members, 2) if imports(a, b) and imports(b, a)
    ]
    assert mutual == []
