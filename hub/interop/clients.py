"""API clients: creation (token shown once), revocation, token resolution; the CPTS's FINESS."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import utcnow
from hub.errors import Invalid
from hub.identity import security
from hub.interop.models import ApiClient, ApiClientKind, OrganisationFiness

if TYPE_CHECKING:
    from hub.identity.models import Organisation

TOKEN_PREFIXES = {ApiClientKind.SAS: "sas_"}
_FINESS = re.compile(r"^[0-9]{9}$")


def new_api_token(kind: ApiClientKind) -> str:
    """A fresh high-entropy token for a client of this kind (e.g. ``sas_…``)."""
    return TOKEN_PREFIXES[kind] + secrets.token_urlsafe(32)


def _hint(token: str) -> str:
    prefix = token.split("_", 1)[0] + "_"
    return token[: len(prefix) + 6]


async def create_api_client(
    *, session: AsyncSession, organisation: Organisation, name: str, kind: ApiClientKind
) -> tuple[ApiClient, str]:
    """A new API client of the organisation and its token (shown once, stored hashed)."""
    if not name.strip():
        raise Invalid("Indiquez le nom du client d'API (par exemple « Plateforme SAS »).")
    token = new_api_token(kind)
    client = ApiClient(
        organisation_id=organisation.id,
        name=name.strip(),
        kind=kind,
        token_hash=security.sha256_hex(token),
        token_hint=_hint(token),
        created_at=utcnow(),
    )
    session.add(client)
    await session.flush()
    return client, token


async def revoke_api_client(
    *, session: AsyncSession, client: ApiClient, now: dt.datetime | None = None
) -> None:
    """The client is refused from now on; its hash is kept so the refusal can say why."""
    if client.revoked_at is None:
        client.revoked_at = now or utcnow()
    await session.flush()


async def find_by_token(*, session: AsyncSession, token: str) -> ApiClient | None:
    """The client this token was issued to, revoked or not, or None when unknown."""
    if not token.startswith(tuple(TOKEN_PREFIXES.values())):
        return None
    return await session.scalar(
        select(ApiClient).where(ApiClient.token_hash == security.sha256_hex(token))
    )


async def client_for_token(*, session: AsyncSession, token: str) -> ApiClient | None:
    """The active client whose token this is, or None (unknown or revoked)."""
    client = await find_by_token(session=session, token=token)
    if client is None or client.revoked_at is not None:
        return None
    return client


async def set_finess(*, session: AsyncSession, organisation: Organisation, finess: str) -> None:
    """Record the organisation's FINESS number (9 digits), replacing any previous one."""
    value = re.sub(r"\s", "", finess)
    if not _FINESS.match(value):
        raise Invalid(f"Numéro FINESS invalide : « {finess} » (9 chiffres attendus).")
    row = await session.get(OrganisationFiness, organisation.id)
    if row is None:
        session.add(OrganisationFiness(organisation_id=organisation.id, finess=value))
    else:
        row.finess = value
    await session.flush()


async def finess_of(*, session: AsyncSession, organisation_id: int) -> str | None:
    """The organisation's FINESS number, if one was recorded."""
    row = await session.get(OrganisationFiness, organisation_id)
    return row.finess if row else None
