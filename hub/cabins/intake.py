"""Measurements an agent sends: find the consultation each belongs to, store the batch exactly
once (`hub.records.observations`), keep each device's last value, count the refusals, and
tell the consoles what was stored (`hub.cabins.live`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession

from hub.cabins import kits, live, presence, refusals
from hub.context import AgentConnection, HubContext
from hub.records.observations import StoredMeasurement, store_measurements
from hub.scheduling.lookups import bookings_in_progress
from hub.wire import MeasurementAck, MeasurementBatch, Rejected, WireMeasurement


async def store_batch(
    ctx: HubContext,
    session: AsyncSession,
    conn: AgentConnection,
    batch: MeasurementBatch,
    now: dt.datetime,
) -> MeasurementAck:
    """Store a batch (typed and validated by the wire) and publish what is new; the
    acknowledgement to send the agent."""
    timed = [
        (item.seq, item.measurement.received_at_utc)
        for item in batch.items
        if isinstance(item.measurement, WireMeasurement)
    ]
    # A mobile kit lent to another site's sessions measures for their bookings too.
    lent, lent_params = kits.lent_bookings(cabin_id=conn.cabin_id, now=now)
    found = await bookings_in_progress(
        session=session,
        site_id=conn.site_id,
        moments=[taken for _, taken in timed],
        also=lent,
        also_params=lent_params,
    )
    bookings = {
        seq: None if booking is None else booking.booking_id
        for (seq, _), booking in zip(timed, found, strict=True)
    }
    site_of = {booking.booking_id: booking.site_id for booking in found if booking is not None}
    result = await store_measurements(
        session=session,
        cabin_id=conn.cabin_id,
        site_id=conn.site_id,
        items=batch.items,
        booking_for=bookings,
        now=now,
    )
    for device, m in result.latest.items():
        await presence.set_last_value(
            session=session,
            cabin_id=conn.cabin_id,
            name=device,
            kind=str(m.kind),
            value=m.value,
            unit=str(m.unit),
            at=m.received_at_utc,
        )
    if result.rejected:
        await refusals.count_refusals(
            session=session,
            cabin_id=conn.cabin_id,
            codes=Counter(r.code for r in result.rejected),
            now=now,
        )
    await session.commit()
    by_site: dict[int, list[StoredMeasurement]] = {}
    for stored in result.stored:  # a lent kit's, to the staff of the site it serves
        site_id = site_of.get(stored.booking_id or 0, conn.site_id)
        by_site.setdefault(site_id, []).append(stored)
    for site_id, measurements in by_site.items():
        live.publish_observations(ctx, cabin_id=conn.cabin_id, site_id=site_id, stored=measurements)
    return MeasurementAck(
        seqs=tuple(result.acknowledged),
        rejected=tuple(
            Rejected(seq=r.seq, reason=r.reason[:300], code=r.code) for r in result.rejected
        ),
    )
