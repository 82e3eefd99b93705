"""The CPTS's booking policy (minimum age, excluded reasons, reminders), with defaults."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.lengths import Text, too_long
from hub.scheduling.models import BookingPolicy

# How much each answer of the coordinator's policy form may hold.
POLICY_TEXT = {
    "min_age_years": Text("Âge minimum", 3),
    "reminder_hours": Text("Rappels", 100),
    "excluded_reasons": Text("Motifs exclus", 4000),
}
MAX_MIN_AGE = 18


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
    return list(hours_offsets(policy.reminder_hours))


@lru_cache(maxsize=64)  # a CPTS's setting, parsed once, not at each booking
def hours_offsets(reminder_hours: str) -> tuple[dt.timedelta, ...]:
    """The offsets of a policy's ``reminder_hours`` setting (« 24,2 »), latest first."""
    hours = []
    for part in reminder_hours.split(","):
        part = part.strip()
        if part:
            try:
                value = float(part)
            except ValueError:
                continue
            if 0 < value <= 24 * 14:
                hours.append(value)
    return tuple(dt.timedelta(hours=h) for h in sorted(set(hours), reverse=True))


def change_policy(policy: BookingPolicy, typed: dict[str, str]) -> dict[str, str]:
    """Apply the coordinator's form to the policy; every problem by field instead (the policy
    is then left as it was)."""
    problems: dict[str, str] = {}
    age = typed.get("min_age_years", "").strip()
    if not age.isdigit() or not 0 <= int(age) <= MAX_MIN_AGE:
        problems["min_age_years"] = (
            f"Âge minimum : indiquez un nombre d'années entre 0 et {MAX_MIN_AGE}."
        )
    hours = [p.strip() for p in typed.get("reminder_hours", "").split(",") if p.strip()]
    for part in hours:
        try:
            value = float(part)
        except ValueError:
            value = -1
        if not 0 < value <= 24 * 14:
            problems["reminder_hours"] = (
                f"Rappels : « {part[:20]} » n'est pas un nombre d'heures entre 1 et 336."
            )
            break
    problems |= too_long(typed, POLICY_TEXT)  # a length problem says more
    if problems:
        return problems
    policy.min_age_years = int(age)
    policy.reminder_hours = ",".join(hours)
    policy.excluded_reasons = "\n".join(
        line.strip() for line in typed.get("excluded_reasons", "").splitlines() if line.strip()
    )
    return {}
