"""Measurements the hub refused from each cabin's agent, counted per reason.

The coordinator sees them on the cabins section of /coordination: a cabin whose agent keeps
sending impossible values or wrong sequence numbers needs a look at its trolley."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, IntPk
from hub.wire import RejectionCode

REFUSAL_LABELS: Mapping[RejectionCode, str] = MappingProxyType(
    {
        RejectionCode.IMPLAUSIBLE_VALUE: "valeur impossible",
        RejectionCode.INVALID_SEQ: "numéro de séquence invalide",
        RejectionCode.SEQ_CONFLICT: "numéro de séquence déjà utilisé par une autre mesure",
        RejectionCode.INVALID_MEASUREMENT: "mesure illisible",
    }
)
"""What each refusal code means, for the coordinator (French)."""


class AgentRefusal(Base):
    """How many measurements of a cabin the hub refused for one reason, and the last time."""

    __tablename__ = "agent_refusals"
    __table_args__ = (UniqueConstraint("cabin_id", "code"),)

    id: Mapped[IntPk]
    cabin_id: Mapped[int] = mapped_column(ForeignKey("cabins.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    count: Mapped[int]
    last_at: Mapped[dt.datetime]


async def count_refusals(
    *, session: AsyncSession, cabin_id: int, codes: Mapping[RejectionCode, int], now: dt.datetime
) -> None:
    """Add refusals to the cabin's counters; the caller commits."""
    rows = [
        {"cabin_id": cabin_id, "code": str(code), "count": n, "last_at": now}
        for code, n in codes.items()
        if n > 0
    ]
    if not rows:
        return
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(AgentRefusal)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["cabin_id", "code"],
            set_={
                "count": AgentRefusal.count + statement.excluded.count,
                "last_at": statement.excluded.last_at,
            },
        ),
        rows,
    )


async def refusal_summaries(*, session: AsyncSession, cabin_ids: Sequence[int]) -> dict[int, str]:
    """For each cabin with refusals, one French line such as
    "Mesures refusées : 3 (valeur impossible : 2, numéro de séquence invalide : 1)"."""
    if not cabin_ids:
        return {}
    rows = await session.execute(
        select(AgentRefusal.cabin_id, AgentRefusal.code, AgentRefusal.count).where(
            AgentRefusal.cabin_id.in_(cabin_ids)
        )
    )
    counts: dict[int, dict[str, int]] = {}
    for cabin_id, code, count in rows:
        counts.setdefault(cabin_id, {})[code] = count
    labels = {str(code): label for code, label in REFUSAL_LABELS.items()}
    order = {code: i for i, code in enumerate(labels)}
    summaries = {}
    for cabin_id, by_code in counts.items():
        parts = sorted(by_code.items(), key=lambda item: (-item[1], order.get(item[0], 99)))
        detail = ", ".join(f"{labels.get(code, code)} : {n}" for code, n in parts)
        summaries[cabin_id] = f"Mesures refusées : {sum(by_code.values())} ({detail})"
    return summaries
