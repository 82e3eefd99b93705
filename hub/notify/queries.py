"""Reads of the outbox for the slices that follow their own messages up (the SAS platform
reports, the report relays): they name the rows the messages are about (a selectable of ids
their slice composes), the notify slice knows its table."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Select, case, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.notify.models import Channel, MessageStatus, OutboundMessage


async def latest_about(
    *,
    session: AsyncSession,
    related_kind: str,
    related_id: int,
    status: MessageStatus,
    subject: str | None = None,
) -> OutboundMessage | None:
    """The latest message about this row in this status (with this subject if given: a
    platform report's method), None if there is none."""
    query = select(OutboundMessage).where(
        OutboundMessage.related_kind == related_kind,
        OutboundMessage.related_id == related_id,
        OutboundMessage.status == status,
    )
    if subject is not None:
        query = query.where(OutboundMessage.subject == subject)
    return await session.scalar(query.order_by(OutboundMessage.id.desc()).limit(1))


async def waiting_or_failed(
    *,
    session: AsyncSession,
    channel: Channel,
    related_kind: str,
    related_ids: Select[int],
    limit: int,
) -> list[OutboundMessage]:
    """The messages of this channel about these rows (a selectable of their ids, which the
    caller's slice composes) still waiting or given up, oldest first."""
    rows = await session.scalars(
        select(OutboundMessage)
        .where(
            OutboundMessage.channel == channel,
            OutboundMessage.related_kind == related_kind,
            OutboundMessage.related_id.in_(related_ids),
            OutboundMessage.status.in_([MessageStatus.PENDING, MessageStatus.FAILED]),
        )
        .order_by(OutboundMessage.id)
        .limit(limit)
    )
    return list(rows)


def about(
    *,
    related_kind: str,
    related_ids: Select[int],
    purposes: Collection[str],
    status: MessageStatus | None = None,
    message_id: int | None = None,
) -> Select[OutboundMessage]:
    """The statement of the messages of these purposes about these rows (of this status, or
    this one message, if given): failures first, then those waiting, then the others, newest
    first within each. ``.order_by(None)`` drops the order (to count them)."""
    query = select(OutboundMessage).where(
        OutboundMessage.related_kind == related_kind,
        OutboundMessage.related_id.in_(related_ids),
        OutboundMessage.purpose.in_(purposes),
    )
    if status is not None:
        query = query.where(OutboundMessage.status == status)
    if message_id is not None:
        query = query.where(OutboundMessage.id == message_id)
    order = case(
        (OutboundMessage.status == MessageStatus.FAILED, 0),
        (OutboundMessage.status == MessageStatus.PENDING, 1),
        else_=2,
    )
    return query.order_by(order, OutboundMessage.id.desc())
