"""Fixtures of the SAS interface: an API client of the tests' CPTS."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.identity.models import Organisation
from tests.support.factories import ORG_SLUG, Cpts

DEMO_FINESS = "520012345"


@dataclass(frozen=True, slots=True)
class SasAccess:
    client_id: int
    token: str
    organisation_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/fhir+json"}


async def make_sas_client(settings: Settings, slug: str, *, finess: str | None) -> SasAccess:
    """An SAS API client of the organisation (and its FINESS, when given)."""
    from hub.interop import clients
    from hub.interop.models import ApiClientKind

    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            org = await session.scalar(select(Organisation).where(Organisation.slug == slug))
            assert org is not None
            client, token = await clients.create_api_client(
                session=session, organisation=org, name="Plateforme SAS", kind=ApiClientKind.SAS
            )
            if finess:
                await clients.set_finess(session=session, organisation=org, finess=finess)
            await session.commit()
            return SasAccess(client_id=client.id, token=token, organisation_id=org.id)
    finally:
        await engine.dispose()


@pytest.fixture
async def sas(settings: Settings, cpts: Cpts) -> SasAccess:
    """The SAS platform's access to the tests' CPTS (FINESS registered)."""
    return await make_sas_client(settings, ORG_SLUG, finess=DEMO_FINESS)
