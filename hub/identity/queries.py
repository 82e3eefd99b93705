"""Statement pieces over the identity tables (sites, cabins) that other slices compose into
their own queries, where one SQL statement joining slices was measured much faster than a query
per slice (``bench/booking.py``): the identity slice knows its tables, the caller composes.

Each piece is a selectable, a column-producing function or a loader option; none runs a query
(``attach_organisation`` links a site and its CPTS read by one). The calls that do run one are
``hub.identity.service``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, Subquery, inspect, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from hub.identity.models import Cabin, Organisation, Site, SiteKind

T = TypeVar("T")


def site_ids_of(organisation_id: int, *, kind: SiteKind | None = None) -> Select[int]:
    """The ids of a CPTS's sites (of this kind only, if given), to use as ``x.in_(…)``."""
    query = select(Site.id).where(Site.organisation_id == organisation_id)
    return query if kind is None else query.where(Site.kind == kind)


def each_site(
    site_ids: Collection[int], value: Callable[[ColumnElement[int]], ColumnElement[T]]
) -> Select[T]:
    """One row per site among ``site_ids``, holding ``value(the site's id)``: a subquery
    correlated on the sites table, run once per site (an index probe per site, where a union of
    one probe per site id measured 30x slower on SQLite)."""
    return select(value(Site.id.expression)).where(Site.id.in_(site_ids))


def organisation_of_site(site_id: ColumnElement[int]) -> ColumnElement[int]:
    """The CPTS of the site whose id is this column (a caller's own table's), as a scalar
    subquery (on its own sites table, even in a query that joins the sites too)."""
    return (
        select(Site.organisation_id)
        .where(Site.id == site_id)
        .correlate_except(Site)
        .scalar_subquery()
    )


def sites_of(organisation_id: int) -> Subquery:
    """A CPTS's sites as a subquery with the columns a listing shows: ``id``, ``name``,
    ``timezone``."""
    return (
        select(Site.id, Site.name, Site.timezone)
        .where(Site.organisation_id == organisation_id)
        .subquery("sites_of_organisation")
    )


def with_site_and_organisation(query: Select, site_id: ColumnElement[int]) -> Select:  # type: ignore[type-arg]
    """``query`` with two more columns: the site whose id is ``site_id`` (a column of the
    caller's table) and its CPTS, joined. Plain entities, not a joined eager load of the
    caller's relationship: half the CPU per row (``bench/booking.py``); ``attach_organisation``
    then links the two as a load would have."""
    return (
        query.add_columns(Site, Organisation)
        .join(Site, Site.id == site_id)
        .join(Organisation, Organisation.id == Site.organisation_id)
    )


def with_place(query: Select, site_id: ColumnElement[int]) -> Select:  # type: ignore[type-arg]
    """``query`` with nine more plain columns, joined: the name, address, postcode, city and
    time zone of the site whose id is ``site_id`` (a column of the caller's table), then its
    CPTS's id, name, slug and e-mail address. Plain values, no ORM objects: what a booking's
    messages say, read at a fraction of the entities' cost (``bench/booking.py``)."""
    return (
        query.add_columns(
            Site.name,
            Site.address,
            Site.postcode,
            Site.city,
            Site.timezone,
            Organisation.id,
            Organisation.name,
            Organisation.slug,
            Organisation.email,
        )
        .join(Site, Site.id == site_id)
        .join(Organisation, Organisation.id == Site.organisation_id)
    )


def loaded_organisation(site: Site) -> Organisation | None:
    """The site's CPTS when it was read with the site, else None (nothing is read)."""
    value = inspect(site).attrs.organisation.loaded_value
    return value if isinstance(value, Organisation) else None


def attach_organisation(site: Site, organisation: Organisation) -> None:
    """Set the site's CPTS as loaded (no query when it is read, nothing to write)."""
    set_committed_value(site, "organisation", organisation)


def cabins_at(site_ids: Select[int]) -> Select[Cabin]:
    """The cabins of these sites, with their site loaded, by name."""
    return (
        select(Cabin)
        .where(Cabin.site_id.in_(site_ids))
        .options(selectinload(Cabin.site))
        .order_by(Cabin.name)
    )


def cabins_among(cabin_ids: Select[int]) -> Select[Cabin]:
    """The cabins whose ids this selectable yields (a caller's own table's column), with their
    site loaded."""
    return select(Cabin).where(Cabin.id.in_(cabin_ids)).options(selectinload(Cabin.site))
