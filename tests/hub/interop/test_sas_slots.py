"""The SAS platform searches the CPTS's free slots over FHIR (ANS SAS guide, flow INT_R04)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import select

from hub import db
from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.identity.models import Site, SiteKind
from hub.scheduling.calendar import french_public_holidays
from hub.scheduling.models import Reservation, Slot
from tests.hub.interop.conftest import DEMO_FINESS, SasAccess
from tests.hub.interop.guide_examples import (
    EXAMPLE_HEALTHCARE_SERVICE,
    EXAMPLE_ORGANIZATION,
    EXAMPLE_SCHEDULE,
    EXAMPLE_SLOT,
)
from tests.hub.interop.support import (
    PARIS,
    next_weekday,
    resources,
    rows,
    search,
    search_url,
)
from tests.support.factories import ORG_NAME

FRIDAY = 4
SAS_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/"
R314 = "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau"


def _security(slot: dict[str, Any]) -> set[str]:
    return {c["code"] for c in slot["meta"]["security"] if c["system"] == R314}


async def _slots_by_site_kind(settings: Settings) -> dict[int, tuple[str, SiteKind]]:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            result = await session.execute(
                select(Slot.id, Site.name, Site.kind).join(Site, Site.id == Slot.site_id)
            )
            return {slot_id: (name, kind) for slot_id, name, kind in result.all()}
    finally:
        await engine.dispose()


async def test_search_of_a_friday_returns_the_cpts_bundle(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    """Friday at Clos Mortier: 14:00–18:00 public (12 slots), 18:00–19:00 for the SAS (3)."""
    friday = next_weekday(FRIDAY)
    bundle = await search(client, sas.headers, search_url(friday, friday))
    base = settings.base_url + "/fhir"
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["meta"]["profile"] == [SAS_PROFILE + "sas-cpts-bundle-aggregator"]
    assert bundle["link"] == [{"relation": "self", "url": base + search_url(friday, friday)[5:]}]
    slots = resources(bundle, "Slot")
    assert bundle["total"] == len(slots) == 15
    starts = sorted(dt.datetime.fromisoformat(s["start"]).astimezone(PARIS) for s in slots)
    assert starts[0].time() == dt.time(14, 0) and starts[-1].time() == dt.time(18, 40)
    assert all(s.date() == friday for s in starts)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{base}/{resource['resourceType']}/{resource['id']}"
        mode = "match" if resource["resourceType"] == "Slot" else "include"
        assert entry["search"]["mode"] == mode
    sas_only = [
        s for s in slots if dt.datetime.fromisoformat(s["start"]).astimezone(PARIS).hour == 18
    ]
    assert len(sas_only) == 3
    assert all(_security(s) == {"SNP", "CPTS"} and "comment" not in s for s in sas_only)
    public = [s for s in slots if s not in sas_only]
    assert all(_security(s) == {"PUBLIC", "CPTS"} for s in public)
    assert public[0]["comment"].startswith(
        f"{settings.base_url}/rdv/cpts-tests/sas/creneau/{public[0]['id']}?jeton="
    )
    for slot in slots:
        assert slot["meta"]["profile"] == [SAS_PROFILE + "sas-cpts-slot-aggregator"]
        assert slot["status"] == "free"
        assert slot["appointmentType"]["coding"][0]["code"] == "ROUTINE"
        modality, cpts, _text = slot["serviceType"]
        assert modality["coding"] == [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"}
        ]
        assert cpts["coding"][0]["code"] == "604"
        assert dt.datetime.fromisoformat(slot["end"]) - dt.datetime.fromisoformat(
            slot["start"]
        ) == dt.timedelta(minutes=20)
    # Every reference resolves inside the Bundle: Slot → Schedule → Location, Slot →
    # HealthcareService → Organization (the CPTS, with its FINESS prefixed by 1).
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    for slot in slots:
        assert slot["schedule"]["reference"] in present
        assert slot["serviceType"][1]["extension"][0]["valueReference"]["reference"] in present
    [schedule] = resources(bundle, "Schedule")
    assert schedule["actor"][0]["reference"] in present
    [location] = resources(bundle, "Location")
    assert location["name"] == "Cabinet du Clos Mortier"
    assert location["address"]["postalCode"] == "52100"
    [service] = resources(bundle, "HealthcareService")
    assert service["providedBy"]["reference"] in present
    [org] = resources(bundle, "Organization")
    assert org["identifier"][0]["value"] == "1" + DEMO_FINESS
    assert org["identifier"][0]["system"] == "urn:oid:1.2.250.1.71.4.2.2"
    assert org["telecom"] == [{"system": "phone", "value": "+33325000000"}]


async def test_search_offers_exactly_the_open_public_and_sas_room_slots(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    """Two weeks: every free slot of the rooms, never the facility's, the SAS ones included."""
    first = next_weekday(0)
    last = first + dt.timedelta(days=13)
    bundle = await search(client, sas.headers, search_url(first, last))
    found = {int(s["id"]) for s in resources(bundle, "Slot")}
    low = dt.datetime.combine(first, dt.time(0), PARIS)
    high = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), PARIS)
    in_window = await rows(settings, Slot, Slot.starts_at >= low, Slot.starts_at < high)
    kinds = await _slots_by_site_kind(settings)
    expected = {
        s.id
        for s in in_window
        if kinds[s.id][1] is SiteKind.TELECONSULTATION_ROOM
        and s.reserved_for in (None, Reservation.SAS)
    }
    facility = {s.id for s in in_window if s.reserved_for is Reservation.FACILITY}
    assert facility and not facility & found
    assert found == expected
    assert {kinds[i][0] for i in found} == {"Cabinet du Clos Mortier", "Cabinet de La Noue"}
    # Friday 18:00–19:00 at Clos Mortier, three 20-minute slots, on each Friday that is not a
    # public holiday (Christmas falls on a Friday in 2026).
    fridays = [
        first + dt.timedelta(days=d)
        for d in range(14)
        if (first + dt.timedelta(days=d)).weekday() == FRIDAY
        and first + dt.timedelta(days=d)
        not in french_public_holidays((first + dt.timedelta(days=d)).year)
    ]
    sas_found = sum(1 for s in in_window if s.id in found and s.reserved_for is Reservation.SAS)
    assert sas_found == 3 * len(fridays)
    assert bundle["total"] == len(found)
    assert len(resources(bundle, "Schedule")) == len(resources(bundle, "Location")) == 2


async def test_includes_are_returned_only_when_asked(
    client: httpx.AsyncClient, sas: SasAccess
) -> None:
    friday = next_weekday(FRIDAY)
    bare = await search(client, sas.headers, search_url(friday, friday, includes="_count=100"))
    assert {e["resource"]["resourceType"] for e in bare["entry"]} == {"Slot"}
    assert bare["total"] == 15


async def test_a_window_with_times_and_an_unencoded_offset_is_understood(
    client: httpx.AsyncClient, sas: SasAccess
) -> None:
    """The guide's example query writes ``+02:00`` unencoded; a query string reads + as a space."""
    friday = next_weekday(FRIDAY)
    offset = dt.datetime.combine(friday, dt.time(12), PARIS).strftime("%z")
    offset = offset[:3] + ":" + offset[3:]
    url = (
        f"/fhir/Slot?start=ge{friday}T17:20:00.000{offset}"
        f"&start=le{friday}T18:20:00.000{offset}&status=free"
    )
    bundle = await search(client, sas.headers, url)
    starts = [
        dt.datetime.fromisoformat(s["start"]).astimezone(PARIS).time()
        for s in resources(bundle, "Slot")
    ]
    assert sorted(starts) == [dt.time(17, 20), dt.time(17, 40), dt.time(18, 0), dt.time(18, 20)]


async def test_an_empty_window_gives_total_zero(client: httpx.AsyncClient, sas: SasAccess) -> None:
    sunday = next_weekday(6)
    bundle = await search(client, sas.headers, search_url(sunday, sunday))
    assert bundle["total"] == 0 and bundle.get("entry", []) == []


async def test_resources_have_the_shape_of_the_guides_examples(
    client: httpx.AsyncClient, sas: SasAccess
) -> None:
    """Same keys as the guide's examples; differences are the ones the hub's data imposes."""
    friday = next_weekday(FRIDAY)
    bundle = await search(client, sas.headers, search_url(friday, friday))
    public = next(s for s in resources(bundle, "Slot") if "comment" in s)
    # No specialty: the doctor behind a room's slot is not known when it is offered.
    assert set(public) == set(EXAMPLE_SLOT) - {"specialty"}
    assert set(public["meta"]) == set(EXAMPLE_SLOT["meta"])
    assert [set(t) for t in public["serviceType"]] == [set(t) for t in EXAMPLE_SLOT["serviceType"]]
    assert set(public["serviceType"][1]["extension"][0]) == set(
        EXAMPLE_SLOT["serviceType"][1]["extension"][0]
    )
    assert (
        public["serviceType"][1]["coding"][0]["system"]
        == (EXAMPLE_SLOT["serviceType"][1]["coding"][0]["system"])
    )
    assert public["appointmentType"] == EXAMPLE_SLOT["appointmentType"]
    [schedule] = resources(bundle, "Schedule")
    assert set(schedule) == set(EXAMPLE_SCHEDULE)
    [service] = resources(bundle, "HealthcareService")
    assert set(service) == set(EXAMPLE_HEALTHCARE_SERVICE)
    assert service["meta"] == EXAMPLE_HEALTHCARE_SERVICE["meta"]
    [org] = resources(bundle, "Organization")
    assert set(org) == set(EXAMPLE_ORGANIZATION)
    assert org["meta"] == EXAMPLE_ORGANIZATION["meta"]
    assert set(org["identifier"][0]) == set(EXAMPLE_ORGANIZATION["identifier"][0])
    assert org["identifier"][0]["type"] == EXAMPLE_ORGANIZATION["identifier"][0]["type"]
    for entry in bundle["entry"]:
        assert set(entry) == {"fullUrl", "resource", "search"}


async def test_a_cpts_without_finess_is_still_served_without_identifier(
    client: httpx.AsyncClient, settings: Settings, cpts: object
) -> None:
    from tests.hub.interop.conftest import make_sas_client

    access = await make_sas_client(settings, "cpts-tests", finess=None)
    friday = next_weekday(FRIDAY)
    [org] = resources(
        await search(client, access.headers, search_url(friday, friday)), "Organization"
    )
    assert "identifier" not in org and org["name"] == ORG_NAME


async def test_invalid_searches_are_refused_with_a_french_operation_outcome(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    friday = next_weekday(FRIDAY).isoformat()
    cases = {
        "status=free": "le début (start=ge…) et la fin (start=le…)",
        f"start=ge{friday}&status=free": "le début (start=ge…) et la fin (start=le…)",
        f"start=ge{friday}&start=le{friday}": "status est obligatoire",
        f"start=ge{friday}&start=le{friday}&status=busy": "status=free",
        f"start=gt{friday}&start=le{friday}&status=free": "seuls les préfixes ge",
        f"start=ge2026-13-45&start=le{friday}&status=free": "hors calendrier",
        f"start=gedemain&start=le{friday}&status=free": "illisible",
        f"start=ge{friday}T10:00:00&start=le{friday}&status=free": "préciser son fuseau",
        f"start=ge{friday}&start=le2020-01-01&status=free": "précède son début",
        "start=ge2030-01-01&start=le2030-06-01&status=free": "Période trop longue",
        f"start=ge{friday}&start=le{friday}&status=free&_format=xml": "seul le JSON",
    }
    for query, phrase in cases.items():
        response = await client.get(f"/fhir/Slot?{query}", headers=sas.headers)
        assert response.status_code == 400, query
        assert response.headers["content-type"].startswith("application/fhir+json")
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["severity"] == "error"
        assert outcome["issue"][0]["code"] == "invalid"
        assert phrase in outcome["issue"][0]["diagnostics"], (query, outcome)
    refused = await rows(settings, AuditEvent, AuditEvent.action == "sas.slot_search")
    assert len(refused) == len(cases)
    assert all(e.outcome == "refused" and e.actor_id == sas.client_id for e in refused)


async def test_searches_are_audited(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    friday = next_weekday(FRIDAY)
    await search(client, sas.headers, search_url(friday, friday))
    [event] = await rows(settings, AuditEvent, AuditEvent.action == "sas.slot_search")
    assert event.actor_kind == "api_client" and event.actor_id == sas.client_id
    assert event.outcome == "success" and "15 créneau(x)" in event.detail
