"""An id no row can have (too large for the database, zero, negative) is a page that does not
exist: every HTTP route with an integer path parameter answers 404, never 500, on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from typing import get_args

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from hub.config import Settings
from hub.identity import policy
from hub.identity.models import Role
from tests.conftest import csrf_from, login, text
from tests.support.access_world import ACCOUNTS, World, build_world, form_for
from tests.support.factories import Cpts

# Path parameters that are not row ids.
NOT_IDS = {"slug", "token", "appointment_id"}
# Beyond PostgreSQL's INTEGER, beyond 64 bits (SQLite), and below the first row.
IMPOSSIBLE_IDS = (2**31, 2**63, 2**64, 0, -1)
_PARAM = re.compile(r"\{(\w+)\}")


def _refused_in_words(page: str) -> bool:
    """The page says in French that the choice is not possible: the route's own words
    (« … invalide ») or the hub's for a request no form could send (« « 0 » n'est pas
    accepté : le nombre doit être au moins 1 »), which names no raw field."""
    return "invalide" in page or "n'est pas accepté" in page


def routes_with_ids() -> list[tuple[str, str]]:
    return sorted(
        (method, path)
        for method, path in policy.ROUTES
        if method != "WS" and set(_PARAM.findall(path)) - NOT_IDS
    )


def _url(path: str, world: World, impossible: int) -> str:
    return _PARAM.sub(
        lambda m: world.own.values[m.group(1)] if m.group(1) in NOT_IDS else str(impossible), path
    )


def _role_for(method: str, path: str) -> Role | None:
    """A role the route's permission is granted to (None: the route needs no staff account)."""
    roles = policy.roles_for(policy.ROUTES[(method, path)])
    return min(roles) if roles else None


def _check(response: httpx.Response, method: str, path: str) -> str | None:
    """None if the answer is the usual 404 (JSON for the API, the French page otherwise)."""
    if response.status_code != 404:
        return f"{method} {path}: {response.status_code}"
    if path.startswith("/api/"):
        ok = response.json().get("detail") == "Cette page n'existe pas."
    elif path.startswith("/fhir/"):  # the SAS reads OperationOutcomes
        ok = response.json()["issue"][0]["code"] == "not-found"
    else:
        ok = "Cette page n'existe pas." in text(response) and "<html" in response.text
    return None if ok else f"{method} {path}: not the usual 404 answer"


def test_the_routes_with_ids_are_found() -> None:
    paths = {path for _, path in routes_with_ids()}
    assert "/rdv/{slug}/creneau/{slot_id}" in paths  # without login
    assert len(paths) >= 30


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "allowed-role"])
async def test_an_impossible_id_is_a_page_that_does_not_exist(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, signed_in: bool
) -> None:
    world = await build_world(settings)
    problems = []
    for role in [*Role] if signed_in else [None]:
        if role is not None:
            username, password = ACCOUNTS[role]
            await login(client, username, password)
        token = csrf_from((await client.get("/connexion", follow_redirects=True)).text)
        for method, path in routes_with_ids():
            if signed_in and _role_for(method, path) != role:
                continue
            for impossible in IMPOSSIBLE_IDS:
                url = _url(path, world, impossible)
                response = await client.request(
                    method, url, headers={"x-csrf-token": token}, data={"csrf_token": token}
                )
                problem = _check(response, method, url)
                if problem:
                    problems.append(problem)
        if role is not None:
            await client.post("/deconnexion", data={"csrf_token": token})
    assert problems == [], "\n".join(problems)


def _form_id_fields(app: FastAPI) -> dict[tuple[str, str], list[str]]:
    """The form fields of each route that carry a row id (integers named like one)."""
    found: dict[tuple[str, str], list[str]] = {}
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context.route, "dependant", None)
        if not isinstance(dependant, Dependant) or not context.methods or context.path is None:
            continue
        names = [
            name
            for name, annotation in _body_fields(dependant)
            if int in (annotation, *get_args(annotation))
            and (name.endswith("_id") or name in {"first", "second", "keep"})
        ]
        if names:
            for method in context.methods:
                found[(method, context.path)] = names
    return found


def _body_fields(dependant: Dependant) -> list[tuple[str, object]]:
    """(name, type) of the form fields of a route and of its dependencies."""
    fields: list[tuple[str, object]] = []
    for param in dependant.body_params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            # A form model: its row-id fields are text the model parses (parse_row_id).
            fields.extend(
                (name, int)
                for name, field in annotation.model_fields.items()
                if name.endswith("_id")
            )
        else:
            fields.append((param.alias, annotation))
    for sub in dependant.dependencies:
        fields.extend(_body_fields(sub))
    return fields


async def test_an_impossible_id_in_a_form_is_refused_in_words(
    app: FastAPI, client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    world = await build_world(settings)
    routes = _form_id_fields(app)
    assert ("POST", "/secretariat/patients/{patient_id}/rdv") in routes
    problems = []
    for (method, path), fields in sorted(routes.items()):
        role = _role_for(method, path)
        if role is not None:
            username, password = ACCOUNTS[role]
            await login(client, username, password)
        token = csrf_from((await client.get("/connexion", follow_redirects=True)).text)
        url = _PARAM.sub(lambda m: world.own.values[m.group(1)], path)
        for field in fields:
            for impossible in (2**31, 2**63, 0):
                form = {**form_for(world.own, path), field: str(impossible), "csrf_token": token}
                response = await client.request(method, url, data=form)
                if response.status_code >= 500 or not _refused_in_words(text(response)):
                    problems.append(f"{method} {path} {field}={impossible}: {response.status_code}")
        if role is not None:
            await client.post("/deconnexion", data={"csrf_token": token})
    assert problems == [], "\n".join(problems)
