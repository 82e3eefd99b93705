"""The dependency rules of DESIGN.md stay enforced as the hub grows new modules."""

from __future__ import annotations

import pkgutil
import tomllib

import hub
from tests.conftest import ROOT


def _contract(name_start: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["name"].startswith(name_start):
            return dict(contract)
    raise AssertionError(f"no contract {name_start!r}")


def test_the_agent_contract_forbids_every_hub_module_but_the_wire() -> None:
    modules = {f"hub.{m.name}" for m in pkgutil.iter_modules(hub.__path__)} - {
        "hub.wire",
        "hub.__main__",
    }
    forbidden = set(_contract("the cabin agent uses only")["forbidden_modules"])  # type: ignore[call-overload]
    missing = modules - forbidden
    assert not missing, f"add {sorted(missing)} to the import-linter contracts in pyproject.toml"
