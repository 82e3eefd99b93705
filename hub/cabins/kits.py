"""The CPTS's mobile kits (a cabin of a ``mobile_kit`` site) lent to a consultation at another
site, a disability facility's session: while the loan lasts (the booking's slot, widened as
for its measurements) the kit takes the commands and media of that consultation, and its
measurements are stored against it (`hub.cabins.intake`)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, IntPk, utcnow
from hub.errors import Invalid
from hub.identity.models import SiteKind
from hub.identity.queries import cabins_among, cabins_at, site_ids_of
from hub.scheduling.lookups import IN_PROGRESS_AFTER

if TYPE_CHECKING:
    from hub.identity.models import Cabin


class KitLoan(Base):
    """A mobile kit lent to one booking's session at a site (one kit per booking)."""

    __tablename__ = "kit_loans"

    id: Mapped[IntPk]
    cabin_id: Mapped[int] = mapped_column(ForeignKey("cabins.id", ondelete="CASCADE"), index=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), unique=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    lent_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    lent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    until: Mapped[dt.datetime]


async def mobile_kits(*, session: AsyncSession, organisation_id: int) -> list[Cabin]:
    """The CPTS's mobile kits: the cabins of its ``mobile_kit`` sites, by name."""
    return list(
        await session.scalars(cabins_at(site_ids_of(organisation_id, kind=SiteKind.MOBILE_KIT)))
    )


async def lend(
    *,
    session: AsyncSession,
    organisation_id: int,
    cabin_id: int,
    booking_id: int,
    site_id: int,
    slot_ends_at: dt.datetime,
    user_id: int,
    now: dt.datetime,
) -> Cabin:
    """Lend a mobile kit of the CPTS to this booking's session (replacing a kit lent before);
    the kit. The caller checks the user acts for the site, traces and commits."""
    kit = next(
        (
            k
            for k in await mobile_kits(session=session, organisation_id=organisation_id)
            if k.id == cabin_id
        ),
        None,
    )
    if kit is None:
        raise Invalid("Ce chariot n'est pas un kit mobile de la CPTS.")
    loan = await session.scalar(select(KitLoan).where(KitLoan.booking_id == booking_id))
    if loan is None:
        loan = KitLoan(booking_id=booking_id, cabin_id=cabin_id, site_id=site_id, until=now)
        session.add(loan)
    loan.cabin_id, loan.site_id, loan.lent_by, loan.lent_at = cabin_id, site_id, user_id, now
    loan.until = slot_ends_at + IN_PROGRESS_AFTER
    await session.flush()
    return kit


async def kit_of_booking(
    *, session: AsyncSession, booking_id: int, now: dt.datetime
) -> Cabin | None:
    """The mobile kit lent to this booking's session, while the loan lasts."""
    return await session.scalar(
        cabins_among(
            select(KitLoan.cabin_id).where(KitLoan.booking_id == booking_id, KitLoan.until >= now)
        )
    )


# The bookings a kit is lent to now or was lent to lately: built once, its values bound
# (`lent_bookings`), so that the search composed of it is built once too (every measurement
# batch runs it).
_loans = KitLoan.__table__.c
_LENT_BOOKINGS = select(_loans.booking_id).where(
    _loans.cabin_id == bindparam("lent_cabin_id"), _loans.until >= bindparam("lent_since")
)


def lent_bookings(*, cabin_id: int, now: dt.datetime) -> tuple[Select[int], dict[str, object]]:
    """The bookings this kit is lent to now or was lent to lately, as a query to compose into
    the search of its measurements' bookings (`hub.scheduling.lookups.bookings_in_progress`),
    and the values of its parameters."""
    return _LENT_BOOKINGS, {"lent_cabin_id": cabin_id, "lent_since": now - IN_PROGRESS_AFTER}


async def sites_borrowing(*, session: AsyncSession, cabin_id: int, now: dt.datetime) -> set[int]:
    """The sites this kit is lent to now, whose staff may command it."""
    return set(
        await session.scalars(
            select(KitLoan.site_id).where(KitLoan.cabin_id == cabin_id, KitLoan.until >= now)
        )
    )
