"""Who may open what: every page and API route against every role, and CSRF on every form."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.consultation.models import Capture, Consultation, State
from hub.demo import CLOS_MORTIER, DEMO_ACCOUNTS, DemoSeed
from hub.identity.models import Role, Site
from hub.records.documents import SharedDocument
from hub.records.patient_service import PatientDraft, register_patient
from hub.records.patients import Sex
from hub.records.reports import Report, ReportStatus
from hub.scheduling import booking as bk
from hub.scheduling.models import Channel, Slot
from tests.conftest import csrf_from, login, text

ALL = frozenset(Role)
# Every GET route of the hub and the roles that may open it. A new route must be added here.
GET_ACCESS: dict[str, frozenset[Role]] = {
    "/coordination": frozenset({Role.COORDINATOR}),
    "/secretariat": frozenset({Role.SECRETARY}),
    "/infirmier": frozenset({Role.NURSE}),
    "/medecin": frozenset({Role.DOCTOR}),
    "/etablissement": frozenset({Role.FACILITY_STAFF}),
    "/api/v1/moi": ALL,
    "/api/v1/cabines": ALL,
    "/secretariat/patients/{patient_id}": frozenset({Role.SECRETARY}),
    "/secretariat/rdv/{booking_id}": frozenset({Role.SECRETARY}),
    "/coordination/sites/{site_id}/horaires": frozenset({Role.COORDINATOR}),
    # The consultation is at Clos Mortier: the facility's staff act for other sites.
    "/salle/consultations/{consultation_id}": frozenset({Role.NURSE}),
    "/medecin/consultations/{consultation_id}": frozenset({Role.DOCTOR}),
    "/api/v1/consultations/{consultation_id}/mesures": frozenset({Role.NURSE, Role.DOCTOR}),
    "/api/v1/captures/{capture_id}": frozenset({Role.NURSE, Role.DOCTOR}),
    "/coordination/medecins-relais": frozenset({Role.COORDINATOR}),
    "/secretariat/transmissions": frozenset({Role.SECRETARY, Role.COORDINATOR}),
    "/comptes-rendus/{report_id}.pdf": frozenset({Role.NURSE, Role.DOCTOR}),
    "/dossier-partage/patients/{patient_id}": frozenset({Role.NURSE, Role.DOCTOR}),
    "/dossier-partage/documents/{document_id}.pdf": frozenset({Role.NURSE, Role.DOCTOR}),
    "/dossier-partage/documents/{document_id}.xml": frozenset({Role.NURSE, Role.DOCTOR}),
    "/coordination/indicateurs": frozenset({Role.COORDINATOR}),
    "/coordination/indicateurs.csv": frozenset({Role.COORDINATOR}),
    "/coordination/rapport-annuel": frozenset({Role.COORDINATOR}),
    "/coordination/rapport-annuel.pdf": frozenset({Role.COORDINATOR}),
}
STREAMS = {"/api/v1/evenements"}  # server-sent events: tested with a live hub
PUBLIC_GET = {
    "/",
    "/connexion",
    "/healthz",
    "/rdv",
    "/rdv/{slug}",
    "/rdv/{slug}/creneau/{slot_id}",
    "/rdv/suivi/{token}",
    "/rdv/proposition/{token}",
    "/mon-dossier/{token}",
    "/mon-dossier/{token}/documents/{document_id}.pdf",
}
USERNAME = {a.role: a.username for a in DEMO_ACCOUNTS}


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every documented route (all but "/" and the docs themselves)."""
    return [
        (method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops
    ]


def _get_paths(app: FastAPI) -> set[str]:
    return {path for method, path in _routes(app) if method == "GET"} | {"/", "/healthz"}


def _unsafe_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Unsafe routes of the cookie-authenticated pages and API (the FHIR API takes tokens)."""
    return [
        (m, p)
        for m, p in _routes(app)
        if m in {"POST", "PUT", "PATCH", "DELETE"} and not p.startswith("/fhir/")
    ]


# The SAS platform's FHIR interface: bearer API tokens, never staff cookies.
FHIR_ROUTES = {
    ("GET", "/fhir/Slot"),
    ("GET", "/fhir/Appointment/{appointment_id}"),
    ("POST", "/fhir/Appointment"),
}


async def test_every_get_route_has_a_declared_access_rule(app: FastAPI) -> None:
    fhir_gets = {path for method, path in FHIR_ROUTES if method == "GET"}
    assert _get_paths(app) == set(GET_ACCESS) | PUBLIC_GET | fhir_gets | STREAMS
    assert {r for r in _routes(app) if r[1].startswith("/fhir/")} == FHIR_ROUTES


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
async def test_staff_sessions_do_not_open_the_fhir_interface(
    client: httpx.AsyncClient, demo: DemoSeed, role: Role
) -> None:
    await login(client, USERNAME[role])
    for method, path in sorted(FHIR_ROUTES):
        response = await client.request(method, path.replace("{appointment_id}", "RDV-AAAAAA"))
        assert response.status_code == 401, path
        assert response.json()["resourceType"] == "OperationOutcome"


async def _concrete(settings: Settings) -> dict[str, str]:
    """Real ids to put in the routes' parameters: a site, a patient, a booking."""
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        now = dt.datetime.now(dt.UTC)
        site = await session.scalar(select(Site).where(Site.name == CLOS_MORTIER))
        assert site is not None
        slot = Slot(
            site_id=site.id,
            starts_at=now + dt.timedelta(days=1),
            ends_at=now + dt.timedelta(days=1, minutes=20),
            seats=1,
        )
        session.add(slot)
        patient = await register_patient(
            session=session,
            organisation_id=site.organisation_id,
            today=now.date(),
            draft=PatientDraft(
                birth_name="Durand",
                first_names="Anne",
                sex=Sex.FEMALE,
                birth_date=dt.date(1950, 1, 1),
            ),
        )
        await session.commit()
        booking = await bk.book_slot(
            session=session,
            now=now,
            request=bk.BookingRequest(
                slot_id=slot.id,
                patient_id=patient.id,
                channel=Channel.PHONE,
                reason="Toux",
                care_requested_at=now,
            ),
        )
        consultation = Consultation(
            booking_id=booking.id, site_id=site.id, patient_id=patient.id, state=State.ARRIVED
        )
        session.add(consultation)
        await session.flush()
        capture = Capture(
            consultation_id=consultation.id,
            source="otoscope",
            mime_type="image/png",
            data=b"\x89PNG\r\n\x1a\n",
        )
        session.add(capture)
        report = Report(
            consultation_id=consultation.id,
            document_oid="2.25.1",
            set_oid="2.25.2",
            status=ReportStatus.SIGNED,
            signed_at=now,
            pdf=b"%PDF-1.4 test",
            cda=b"<ClinicalDocument/>",
        )
        session.add(report)
        await session.flush()
        document = SharedDocument(
            organisation_id=site.organisation_id,
            patient_id=patient.id,
            report_id=report.id,
            unique_id="2.25.1",
            set_id="2.25.2",
            title="Compte rendu de téléconsultation",
            class_code="10",
            class_display="Compte rendu",
            type_code="85208-7",
            type_display="CR de télémédecine",
            format_code="urn:ihe:iti:xds-sd:pdf:2008",
            content=b"<ClinicalDocument/>",
            content_sha1="0" * 40,
        )
        session.add(document)
        await session.commit()
    await engine.dispose()
    return {
        "{site_id}": str(site.id),
        "{patient_id}": str(patient.id),
        "{booking_id}": str(booking.id),
        "{consultation_id}": str(consultation.id),
        "{capture_id}": str(capture.id),
        "{report_id}": str(report.id),
        "{document_id}": str(document.id),
    }


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace(name, value)
    return path


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
async def test_each_role_reaches_its_pages_and_is_refused_elsewhere(
    client: httpx.AsyncClient, demo: DemoSeed, role: Role, settings: Settings
) -> None:
    values = await _concrete(settings)
    await login(client, USERNAME[role])
    for path, allowed in GET_ACCESS.items():
        response = await client.get(_fill(path, values))
        if role in allowed:
            assert response.status_code == 200, path
        else:
            assert response.status_code == 403, path
            assert "n'est pas accessible avec votre rôle" in text(
                response
            ) or "pour lequel vous n'agissez pas" in text(response), path


async def test_anonymous_visitors_are_sent_to_login_or_refused(client: httpx.AsyncClient) -> None:
    for path in GET_ACCESS:
        response = await client.get(
            _fill(
                path,
                {
                    "{site_id}": "1",
                    "{patient_id}": "1",
                    "{booking_id}": "1",
                    "{consultation_id}": "1",
                    "{capture_id}": "1",
                    "{report_id}": "1",
                    "{document_id}": "1",
                },
            )
        )
        if path.startswith("/api/"):
            assert response.status_code == 401, path
        else:
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/connexion"), path


async def test_every_unsafe_route_refuses_a_request_without_csrf_token(
    app: FastAPI, client: httpx.AsyncClient, demo: DemoSeed
) -> None:
    await login(client, "coordination")
    routes = _unsafe_routes(app)
    assert len(routes) >= 5
    for method, path in routes:
        url = _fill(
            path,
            {
                "{cabin_id}": str(demo.cabin_id),
                "{site_id}": "1",
                "{rule_id}": "1",
                "{closure_id}": "1",
                "{patient_id}": "1",
                "{booking_id}": "1",
                "{consultation_id}": "1",
                "{capture_id}": "1",
                "{document_id}": "1",
                "{message_id}": "1",
                "{slug}": "cpts-demo",
                "{slot_id}": "1",
                "{token}": "x",
            },
        )
        response = await client.request(method, url, data={"site_id": "1", "name": "X"})
        assert response.status_code == 403, url
        assert "Rechargez la page" in text(response)
    assert (await client.get("/coordination")).status_code == 200  # still logged in


async def test_nurse_sees_only_her_sites_through_the_api(
    client: httpx.AsyncClient, demo: DemoSeed
) -> None:
    await login(client, "infirmiere")
    me = (await client.get("/api/v1/moi")).json()
    assert me["role"] == "nurse"
    assert [s["name"] for s in me["sites"]] == ["Cabinet du Clos Mortier"]
    cabins = (await client.get("/api/v1/cabines")).json()
    assert [c["name"] for c in cabins] == ["Chariot du Clos Mortier"]
    assert cabins[0]["online"] is False


async def test_coordinator_sees_every_site_of_the_cpts(
    client: httpx.AsyncClient, demo: DemoSeed
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
    client: httpx.AsyncClient, demo: DemoSeed
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
    client: httpx.AsyncClient, demo: DemoSeed
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


async def test_nurse_cannot_manage_cabins(client: httpx.AsyncClient, demo: DemoSeed) -> None:
    await login(client, "infirmiere")
    page = await client.get("/infirmier")
    response = await client.post(
        f"/coordination/cabines/{demo.cabin_id}/revoquer", data={"csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 403
