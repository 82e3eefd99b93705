"""Who may open what, generated from the application's routes and the access policy: every
route against every role, at a site the account acts for and at another one, and anonymously;
the README's "Who goes where" against the policy; CSRF on every form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount, WebSocketRoute

from hub.config import Settings
from hub.identity import policy
from hub.identity.models import Role
from hub.identity.policy import Permission, Scope
from tests.conftest import ROOT, csrf_from, login, text
from tests.support.access_world import ACCOUNTS, SiteThings, World, build_world, form_for
from tests.support.factories import Cpts

NO_STAFF_ACCOUNT = {Permission.PUBLIC, Permission.PATIENT_LINK, Permission.GUEST_LINK}
# Routes whose site is the slot chosen in the form rather than a resource in the path.
SLOT_IN_FORM = {("POST", "/secretariat/patients/{patient_id}/rdv"), ("POST", "/etablissement/rdv")}
# Path parameters that name nothing site-bound.
UNSCOPED_PARAMS = {"slug", "token", "doctor_id", "appointment_id"}
# Requests that take the booking away from the others: sent last, but before logging out.
LAST = ("/annuler",)
# The live event stream never ends for a signed-in user (tested with a live hub elsewhere).
ENDLESS = ("GET", "/api/v1/evenements")
_PARAM = re.compile(r"\{(\w+)\}")


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the application serves; "WS" for WebSockets."""
    routes: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route, path = context.route, context.path
        assert path is not None
        if isinstance(route, Mount):
            routes.add(("GET", path))
        elif isinstance(route, WebSocketRoute) or not context.methods:
            routes.add(("WS", path))
        else:
            routes.update((m, path) for m in context.methods if m != "HEAD")
    return routes


def http_routes() -> list[tuple[str, str]]:
    """The policy's HTTP routes, in the order the matrix sends them."""
    routes = [r for r in policy.ROUTES if r[0] != "WS"]
    return sorted(
        routes,
        key=lambda r: (r[1] == "/deconnexion", r[1].endswith(LAST), r[0] != "GET", r[1]),
    )


def site_bound(method: str, path: str) -> bool:
    """Whether the route acts on something of one site (so the other site must be refused)."""
    named = set(_PARAM.findall(path)) - UNSCOPED_PARAMS
    return bool(named) or (method, path) in SLOT_IN_FORM


def fill(path: str, things: SiteThings) -> str:
    return _PARAM.sub(lambda m: things.values[m.group(1)], path)


@dataclass(frozen=True, slots=True)
class Case:
    method: str
    path: str
    permission: Permission
    actor: Role | None  # None: anonymous
    where: str  # "own" or "other" site


def cases(actor: Role | None) -> Iterator[Case]:
    for method, path in http_routes():
        permission = policy.ROUTES[(method, path)]
        if actor is not None and (method, path) == ENDLESS:
            continue
        yield Case(method, path, permission, actor, "own")
        if site_bound(method, path):
            yield Case(method, path, permission, actor, "other")


def expectation(case: Case) -> str:
    """What the policy says must happen: allowed, role, scope, login or token."""
    if case.permission in NO_STAFF_ACCOUNT:
        return "allowed"
    if case.permission is Permission.API_CLIENT:
        return "token"
    if case.actor is None:
        return "login"
    scope = policy.GRANTS.get(case.permission, {}).get(case.actor)
    if scope is None:
        return "role"
    if case.where == "other" and scope is not Scope.CPTS:
        return "scope"
    return "allowed"


def verdict(case: Case, response: httpx.Response) -> str | None:
    """None if the response is what the policy expects, else what went wrong."""
    expected = expectation(case)
    status = response.status_code
    if expected == "allowed":
        ok = status not in (401, 403) and status < 500
    elif expected == "token":
        ok = status == 401
    elif expected == "login":
        ok = (
            status == 401
            if case.path.startswith("/api/")
            else status == 303 and response.headers["location"].startswith("/connexion")
        )
    elif expected == "role":
        ok = status == 403 and policy.ROLE_REFUSED in text(response)
    else:  # refused by the scope, in words of the thing refused
        ok = status == 403 and policy.ROLE_REFUSED not in text(response)
    if ok:
        return None
    who = case.actor.value if case.actor else "anonymous"
    return (
        f"{case.method} {case.path} [{who}, {case.where} site]: expected {expected}, got {status}"
    )


async def _send(
    client: httpx.AsyncClient, case: Case, things: SiteThings, token: str
) -> httpx.Response:
    url = fill(case.path, things)
    if case.method == "GET":
        return await client.get(url)
    headers = {"x-csrf-token": token}
    if case.path.startswith("/api/v1/cabines/"):
        return await client.post(
            url, json={"device": "tensiometre", "action": "measure"}, headers=headers
        )
    return await client.request(case.method, url, data=form_for(things, case.path), headers=headers)


async def run_matrix(client: httpx.AsyncClient, world: World, actor: Role | None) -> list[str]:
    """Send every case of this actor; the list of those that went against the policy."""
    if actor is not None:
        username, password = ACCOUNTS[actor]
        response = await login(client, username, password)
        assert response.status_code == 303, response.text
    token = await _token(client)
    problems = []
    for case in cases(actor):
        things = world.own if case.where == "own" else world.other
        problem = verdict(case, await _send(client, case, things, token))
        if problem:
            problems.append(problem)
    return problems


async def _token(client: httpx.AsyncClient) -> str:
    """A CSRF token of this browser: the login form's, or the logout form's once signed in."""
    page = await client.get("/connexion", follow_redirects=True)
    return csrf_from(page.text)


def matrix_size() -> int:
    """Routes × roles (and anonymous) × sites: the cases the matrix sends."""
    return sum(len(list(cases(actor))) for actor in [*Role, None])


# --- the tests ---------------------------------------------------------------------------------


def test_every_route_of_the_hub_is_in_the_policy_table(app: FastAPI) -> None:
    served = app_routes(app)
    assert sorted(served - set(policy.ROUTES)) == [], "routes without an access rule"
    assert sorted(set(policy.ROUTES) - served) == [], "rules for routes that do not exist"


def test_every_staff_permission_is_granted_and_every_grant_is_used() -> None:
    used = set(policy.ROUTES.values())
    assert set(policy.GRANTS) <= used
    assert used - set(policy.GRANTS) == {
        Permission.PUBLIC,
        Permission.PATIENT_LINK,
        Permission.GUEST_LINK,
        Permission.API_CLIENT,
        Permission.CABIN_AGENT,
    }
    assert matrix_size() > 5 * len(policy.ROUTES)


@pytest.mark.parametrize("actor", [*Role, None], ids=lambda r: r.value if r else "anonymous")
async def test_each_route_answers_each_role_at_each_site_as_the_policy_says(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, actor: Role | None
) -> None:
    world = await build_world(settings)
    problems = await run_matrix(client, world, actor)
    assert problems == [], "\n".join(problems)


# --- finding: a secretary reached the patients of sites she does not act for -----------------


async def _as_clos_secretary(client: httpx.AsyncClient, settings: Settings) -> World:
    world = await build_world(settings)
    username, password = ACCOUNTS[Role.SECRETARY]
    await login(client, username, password)
    return world


async def test_secretary_sees_the_file_of_a_patient_followed_at_her_site(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    world = await _as_clos_secretary(client, settings)
    page = await client.get(f"/secretariat/patients/{world.own.values['patient_id']}")
    assert page.status_code == 200
    assert world.own.medecin_traitant in text(page)
    assert "Historique" in text(page) and "Toux" in text(page)
    response = await client.post(
        f"/secretariat/patients/{world.own.values['patient_id']}/medecin-traitant",
        data={"has_mt": "oui", "mt_name": "Dr Nouveau", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 303
    again = await client.get(f"/secretariat/patients/{world.own.values['patient_id']}")
    assert "Dr Nouveau" in text(again)


async def test_secretary_sees_what_she_typed_for_a_new_caller_followed_nowhere_yet(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await _as_clos_secretary(client, settings)
    home = await client.get("/secretariat")
    created = await client.post(
        "/secretariat/patients",
        data={
            "birth_name": "Nouveau",
            "first_names": "Paul",
            "birth_date": "1971-03-12",
            "sex": "M",
            "has_mt": "oui",
            "mt_name": "Dr Tout Neuf",
            "csrf_token": csrf_from(home.text),
        },
        follow_redirects=True,
    )
    assert created.status_code == 200
    assert "NOUVEAU Paul" in text(created)
    assert "Dr Tout Neuf" in text(created)


async def test_secretary_books_a_patient_of_another_site_but_neither_reads_nor_edits_their_file(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    world = await _as_clos_secretary(client, settings)
    patient_id = world.other.values["patient_id"]
    found = await client.get("/secretariat", params={"nom": "Lefèvre"})
    assert world.other.patient_name in text(found)  # she still finds the caller
    page = await client.get(f"/secretariat/patients/{patient_id}")
    assert page.status_code == 200
    assert world.other.patient_name in text(page)
    assert "Réserver" in text(page)  # and books them on a slot of her sites
    assert world.other.medecin_traitant not in text(page)
    assert "generaliste@medecin.mssante.fr" not in text(page)
    assert "Toux" not in text(page)  # the history at La Noue
    assert "n'est suivi sur aucun site pour lequel vous agissez" in text(page)
    response = await client.post(
        f"/secretariat/patients/{patient_id}/medecin-traitant",
        data={"has_mt": "oui", "mt_name": "Dr Intrus", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 403
    assert "pour lequel vous agissez" in text(response)
    booked = await client.post(
        f"/secretariat/patients/{patient_id}/rdv",
        data={
            "slot_id": world.own.values["slot_id"],
            "reason": "Fièvre",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert booked.status_code == 303
    # Booked at Clos Mortier, the patient is now followed there: the file opens, and only the
    # bookings of her sites link to their page.
    now_followed = await client.get(f"/secretariat/patients/{patient_id}")
    assert world.other.medecin_traitant in text(now_followed)
    assert "Toux" in text(now_followed) and "Fièvre" in text(now_followed)
    links = re.findall(r'href="/secretariat/rdv/(\d+)', now_followed.text)
    assert len(links) == 1 and links[0] != world.other.values["booking_id"]


async def test_secretary_follows_only_the_relays_of_her_sites(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    world = await _as_clos_secretary(client, settings)
    page = await client.get("/secretariat/transmissions")
    assert page.status_code == 200
    assert world.own.patient_name in text(page)
    assert world.other.patient_name not in text(page)
    resend = await client.post(
        f"/secretariat/transmissions/{world.other.values['message_id']}/renvoyer",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert resend.status_code == 403
    assert "pour lequel vous n'agissez pas" in text(resend)
    await client.post("/deconnexion", data={"csrf_token": csrf_from(page.text)})
    await login(client, "coordination")
    everything = await client.get("/secretariat/transmissions")
    assert world.own.patient_name in text(everything)
    assert world.other.patient_name in text(everything)


# --- the README's "Who goes where" ------------------------------------------------------------

README_ROLES = {
    "coordination": Role.COORDINATOR,
    "secretary": Role.SECRETARY,
    "nurse": Role.NURSE,
    "doctor": Role.DOCTOR,
    "facility staff": Role.FACILITY_STAFF,
}
README_WITHOUT_ACCOUNT = {
    "patient (no account)": {Permission.PUBLIC, Permission.PATIENT_LINK},
    "invited third party (no account)": {Permission.GUEST_LINK},
    "SAS platform": {Permission.API_CLIENT, Permission.PUBLIC},  # /fhir/metadata is public
}


def readme_rows() -> dict[str, set[str]]:
    """The "Who goes where" table: each row's first cell and the paths it names."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Who goes where")[1]
    rows: dict[str, set[str]] = {}
    for line in section.split("\n\n")[1].splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        paths = {p.split("?")[0] for p in re.findall(r"`(/[^`\s]*)`", line)}
        rows.setdefault(cells[0], set()).update(paths)
    return rows


def _matching(readme_path: str) -> list[tuple[str, str]]:
    """The policy's routes a README path names ("ID" for an id, "…" for the rest)."""
    pattern = re.escape(readme_path).replace("ID", r"\{\w+\}").replace("…", ".*")
    return [r for r in policy.ROUTES if r[0] != "WS" and re.fullmatch(pattern, r[1])]


def _readme_form(path: str) -> str:
    return _PARAM.sub("ID", path)


def test_the_readme_says_who_may_open_each_page_as_the_policy_does() -> None:
    rows = readme_rows()
    problems = []
    for cell, paths in rows.items():
        role = next((r for label, r in README_ROLES.items() if cell.startswith(label)), None)
        for path in paths:
            routes = _matching(path)
            if not routes:
                problems.append(f"{cell}: {path} is no route of the hub")
            for route in routes:
                permission = policy.ROUTES[route]
                if role is None:
                    if permission not in README_WITHOUT_ACCOUNT[cell]:
                        problems.append(f"{cell}: {path} needs a staff account")
                elif role not in policy.roles_for(permission):
                    problems.append(f"{cell}: the policy does not let this role open {path}")
    for label, role in README_ROLES.items():
        named = next(p for cell, p in rows.items() if cell.startswith(label))
        for method, path in policy.ROUTES:
            page = method == "GET" and not path.startswith("/api/") and "." not in path
            granted = role in policy.roles_for(policy.ROUTES[(method, path)])
            if page and granted and _readme_form(path) not in named:
                problems.append(f"{label}: the README does not say it opens {path}")
    assert problems == [], "\n".join(problems)


async def test_every_unsafe_route_refuses_a_request_without_csrf_token(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    world = await build_world(settings)
    await login(client, "coordination")
    routes = [
        (method, path)
        for method, path in policy.ROUTES
        if method in {"POST", "PUT", "PATCH", "DELETE"}
        and policy.ROUTES[(method, path)] is not Permission.API_CLIENT  # bearer tokens
    ]
    assert len(routes) >= 5
    for method, path in routes:
        url = fill(path, world.own)
        response = await client.request(method, url, data=form_for(world.own))
        assert response.status_code == 403, url
        assert "Rechargez la page" in text(response)
    assert (await client.get("/coordination")).status_code == 200  # still logged in


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
async def test_staff_sessions_do_not_open_the_fhir_interface(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, role: Role
) -> None:
    world = await build_world(settings)
    username, password = ACCOUNTS[role]
    await login(client, username, password)
    fhir = [r for r, p in policy.ROUTES.items() if p is Permission.API_CLIENT]
    for method, path in sorted(fhir):
        response = await client.request(method, fill(path, world.own))
        assert response.status_code == 401, path
        assert response.json()["resourceType"] == "OperationOutcome"


async def test_nurse_sees_only_her_sites_through_the_api(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "infirmiere")
    me = (await client.get("/api/v1/moi")).json()
    assert me["role"] == "nurse"
    assert [s["name"] for s in me["sites"]] == ["Cabinet du Clos Mortier"]
    cabins = (await client.get("/api/v1/cabines")).json()
    assert [c["name"] for c in cabins] == ["Chariot du Clos Mortier"]
    assert cabins[0]["online"] is False


async def test_coordinator_sees_every_site_of_the_cpts(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination")
    for name in (
        "Cabinet du Clos Mortier",
        "Cabinet de La Noue",
        "Foyer d'accueil médicalisé Les Tilleuls",
        "Kit mobile de la CPTS",
    ):
        assert name in text(page)
    assert "Julie Petit" in text(page)  # the accounts list
    journal = text(page).split("Journal des accès et actions")[1]
    assert "Connexion" in journal and "Claire Martin" in journal  # her own login, traced


async def test_coordinator_creates_a_cabin_and_sees_its_token_once(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination")
    response = await client.post(
        "/coordination/cabines",
        data={"site_id": "2", "name": "Chariot 2", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 200
    assert "n'est affiché qu'une seule fois" in text(response)
    assert 'value="cab_' in text(response)
    again = await client.get("/coordination")
    assert "Chariot 2" in text(again)
    assert "cab_" not in text(again).replace("token_hint", "")


async def test_coordinator_gets_a_clear_error_for_an_empty_cabin_name(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination")
    response = await client.post(
        "/coordination/cabines",
        data={"site_id": "1", "name": "  ", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 422
    assert "Donnez un nom à la cabine" in text(response)
    response = await client.post(
        "/coordination/cabines",
        data={"site_id": "un", "name": "X", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 422
    assert "doit être un nombre entier" in text(response)


async def test_nurse_cannot_manage_cabins(client: httpx.AsyncClient, cpts: Cpts) -> None:
    await login(client, "infirmiere")
    page = await client.get("/infirmier")
    response = await client.post(
        f"/coordination/cabines/{cpts.cabin_id}/revoquer", data={"csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 403
