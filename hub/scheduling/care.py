"""The care relationships the access policy needs: where a patient is seen."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.scheduling.models import Booking, BookingStatus


async def care_site_ids(*, session: AsyncSession, patient_id: int) -> frozenset[int]:
    """The sites where the patient has a booking that was not cancelled (past or to come)."""
    rows = await session.scalars(
        select(Booking.site_id)
        .where(Booking.patient_id == patient_id, Booking.status != BookingStatus.CANCELLED)
        .distinct()
    )
    return frozenset(rows)
