"""Only the SAS platform's API client, with a current token, reaches the FHIR interface."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from hub import db
from hub.audit.models import AuditEvent
from hub.config import Settings
from tests.hub.interop.conftest import SasAccess
from tests.hub.interop.support import next_weekday, rows, search_url


async def _revoke(settings: Settings, client_id: int) -> None:
    from hub.interop import clients
    from hub.interop.models import ApiClient

    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            client = await session.get(ApiClient, client_id)
            assert client is not None
            await clients.revoke_api_client(session=session, client=client)
            await session.commit()
    finally:
        await engine.dispose()


async def test_token_missing_wrong_or_revoked_is_refused_and_audited(
    client: httpx.AsyncClient, sas: SasAccess, settings: Settings
) -> None:
    url = search_url(next_weekday(4), next_weekday(4))
    assert (await client.get(url, headers=sas.headers)).status_code == 200
    cases = [
        ({}, "Authentification requise"),
        ({"Authorization": "Basic c2FzOnNhcw=="}, "Authentification requise"),
        ({"Authorization": "Bearer sas_" + "x" * 43}, "Jeton d'accès inconnu"),
        ({"Authorization": "Bearer cab_" + sas.token[4:]}, "Jeton d'accès inconnu"),
    ]
    for headers, phrase in cases:
        response = await client.get(url, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"].startswith("application/fhir+json")
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert phrase in outcome["issue"][0]["diagnostics"]
    await _revoke(settings, sas.client_id)
    revoked = await client.get(url, headers=sas.headers)
    assert revoked.status_code == 401
    assert "révoqué" in revoked.json()["issue"][0]["diagnostics"]
    posted = await client.post("/fhir/Appointment", headers=sas.headers, json={})
    assert posted.status_code == 401
    refused = await rows(settings, AuditEvent, AuditEvent.action == "sas.refused")
    assert len(refused) == len(cases) + 2
    assert all(e.actor_kind == "api_client" and e.outcome == "refused" for e in refused)
    assert [e.actor_id for e in refused][-2:] == [sas.client_id, sas.client_id]


async def test_tokens_are_stored_hashed_and_resolved(settings: Settings, sas: SasAccess) -> None:
    from hub.interop import clients
    from hub.interop.models import ApiClient

    [stored] = await rows(settings, ApiClient)
    assert sas.token.startswith("sas_") and len(sas.token) > 40
    assert sas.token not in (stored.token_hash, stored.token_hint)
    assert sas.token.startswith(stored.token_hint) and len(stored.token_hint) == 10
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            found = await clients.client_for_token(session=session, token=sas.token)
            assert found is not None and found.id == sas.client_id
            assert await clients.client_for_token(session=session, token=sas.token + "x") is None
            assert await session.scalar(select(ApiClient.revoked_at)) is None
    finally:
        await engine.dispose()
