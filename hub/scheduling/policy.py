"""The CPTS's booking policy (minimum age, excluded reasons, reminders), with defaults."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.scheduling.models import BookingPolicy


async def policy_for(*, session: AsyncSession, organisation_id: int) -> BookingPolicy:
    """The organisation's policy, created with the defaults the first time it is needed."""
    policy = await session.scalar(
        select(BookingPolicy).where(BookingPolicy.organisation_id == organisation_id)
    )
    if policy is None:
        policy = BookingPolicy(
            organisation_id=organisation_id,
            min_age_years=6,
            excluded_reasons="",
            reminder_hours="24,2",
            horizon_days=42,
            offer_minutes=120,
        )
        session.add(policy)
        await session.flush()
    return policy


def reminder_offsets(policy: BookingPolicy) -> list[dt.timedelta]:
    """When reminders go out before an appointment, latest first (e.g. 24 h then 2 h)."""
    hours = []
    for part in policy.reminder_hours.split(","):
        part = part.strip()
        if part:
            try:
                value = float(part)
            except ValueError:
                continue
            if 0 < value <= 24 * 14:
                hours.append(value)
    return [dt.timedelta(hours=h) for h in sorted(set(hours), reverse=True)]
