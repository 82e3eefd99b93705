"""Read-only lookups into the other slices' tables: the CPTS, its sites, its latest booking.

Nothing here writes; nothing leaves this module but plain values (no ORM objects). The
indicators' counts themselves are in ``aggregates``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.identity.models import Organisation, Site, SiteKind
from hub.scheduling.models import Booking


@dataclass(frozen=True, slots=True)
class SiteFact:
    id: int
    name: str
    kind: SiteKind
    timezone: str


async def sites_of(*, session: AsyncSession, organisation_id: int) -> list[SiteFact]:
    """The CPTS's sites, by name."""
    rows = await session.execute(
        select(Site.id, Site.name, Site.kind, Site.timezone)
        .where(Site.organisation_id == organisation_id)
        .order_by(Site.name)
    )
    return [SiteFact(i, n, k, tz) for i, n, k, tz in rows]


async def organisation_name(*, session: AsyncSession, organisation_id: int) -> str:
    return str(
        await session.scalar(select(Organisation.name).where(Organisation.id == organisation_id))
        or ""
    )


async def organisation_ids(*, session: AsyncSession) -> dict[str, int]:
    """Every CPTS's id by slug (for the command line)."""
    rows = await session.execute(select(Organisation.slug, Organisation.id))
    return {slug: oid for slug, oid in rows}


async def latest_booking_before(
    *, session: AsyncSession, organisation_id: int, before: dt.datetime
) -> dt.datetime | None:
    """When the CPTS's latest appointment before ``before`` was (UTC), None if it had none."""
    latest: dt.datetime | None = await session.scalar(
        select(func.max(Booking.starts_at))
        .join(Site, Site.id == Booking.site_id)
        .where(Site.organisation_id == organisation_id, Booking.starts_at < before)
    )
    return latest
