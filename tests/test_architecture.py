"""The dependency rules of DESIGN.md stay enforced as the hub grows new modules."""

from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
import sys
import tomllib
import types

import grimp
from sqlalchemy import Table

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


# Who may touch a slice's tables (its ORM classes and Table objects) besides the slice itself:
# hub.reporting, the declared read-only aggregate reader (see its docstring), and the wiring
# that has to know every table: the models aggregator, the migrations, the demo's seeding and
# the app factory. Anyone else gets another slice's rows from that slice's service functions,
# and may name their class for type hints only, under ``if TYPE_CHECKING:``.
AGGREGATE_READERS = {"reporting"}
# deps: FastAPI's dependency aliases (CurrentUser...) name the User class at run time; it issues
# no query of its own (identity.service resolves the login).
WIRING = {"models", "migrations", "app", "deps", "demo", "demo_agenda", "demo_history"}
WIRING |= {"demo_runner"}
# Where one statement joining slices was measured much faster than a query per slice (the
# booking page's per-site probe, a booking's slot + site + patient read: bench/booking.py), the
# owning slice provides the statement piece (``hub.<slice>.queries``: a selectable, a subquery of
# the columns needed, a loader option) and the caller composes it: that goes through the owning
# slice too, and imports no other slice's table.


def _table_owners() -> dict[int, str]:
    """id() of every ORM class and Table of the hub -> the module that defines it."""
    from hub import models  # noqa: F401  - every table on the metadata
    from hub.db import Base

    owners = {id(m.class_): m.class_.__module__ for m in Base.registry.mappers}
    for name, module in list(sys.modules.items()):
        if name.startswith("hub."):
            owners |= {id(v): name for v in vars(module).values() if isinstance(v, Table)}
    return owners


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for inner in ast.walk(node)
    }


def _runtime_table_imports(module: str, tree: ast.Module, owners: dict[int, str]) -> set[str]:
    """``importer -> hub.slice.Table`` for each table of another slice imported at run time."""
    slice_ = module.split(".")[1]
    hidden = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or id(node) in hidden:
            continue
        if node.level or not (node.module or "").startswith("hub."):
            continue
        source = importlib.import_module(str(node.module))
        for alias in node.names:
            target = getattr(source, alias.name, None)
            if isinstance(target, types.ModuleType):  # `from hub.x import models`: its tables used
                local = alias.asname or alias.name
                names = {
                    n.attr
                    for n in ast.walk(tree)
                    if isinstance(n, ast.Attribute)
                    and isinstance(n.value, ast.Name)
                    and n.value.id == local
                }
                targets = [(getattr(target, n, None), n) for n in names]
            else:
                targets = [(target, alias.name)]
            for obj, name in targets:
                owner = owners.get(id(obj))
                if owner and owner.split(".")[1] != slice_:
                    found.add(f"{module} -> {owner}.{name}")
    return found


def test_slices_read_each_others_tables_only_through_service_functions() -> None:
    owners = _table_owners()
    readers = set()
    for path in sorted((ROOT / "hub").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module.count(".") and module.split(".")[1] not in AGGREGATE_READERS | WIRING:
            readers |= _runtime_table_imports(module, ast.parse(path.read_text()), owners)
    assert not readers, "ask the owning slice's service functions instead:\n" + "\n".join(
        sorted(readers)
    )


def test_the_aggregate_reader_is_declared_as_such() -> None:
    import hub.reporting

    assert "read-only aggregate reader" in str(hub.reporting.__doc__)
    floors = [set(f.replace(" ", "").split("|")) for f in _contract("hub layers")["layers"]]  # type: ignore[attr-defined]
    assert {"reporting"} in floors, "the aggregate reader has a floor of its own"
