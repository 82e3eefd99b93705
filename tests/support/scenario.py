"""Scenario building blocks shared by the tests: a booking about to start, a consultation
under way, a simulated trolley's agent configuration."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from cabin_agent.config import AgentConfig
from hub import db
from hub.config import Settings
from hub.consultation.models import Consultation, State
from hub.demo import CLOS_MORTIER, DemoSeed
from hub.identity.models import Site, User
from hub.records.patient_service import PatientDraft, register_patient
from hub.records.patients import Sex
from hub.scheduling import booking as bk
from hub.scheduling.models import Booking, Channel, Slot
from tests.support.live import LiveHub


async def booking_now(settings: Settings, minutes: int = 5) -> int:
    """A booking at Clos Mortier starting in a few minutes."""
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        now = dt.datetime.now(dt.UTC)
        site = (await session.scalars(select(Site).where(Site.name == CLOS_MORTIER))).one()
        start = now + dt.timedelta(minutes=minutes)
        slot = Slot(
            site_id=site.id, starts_at=start, ends_at=start + dt.timedelta(minutes=20), seats=1
        )
        session.add(slot)
        patient = await register_patient(
            session=session,
            organisation_id=site.organisation_id,
            today=now.date(),
            draft=PatientDraft(
                birth_name="Lambert",
                first_names="Odile",
                sex=Sex.FEMALE,
                birth_date=dt.date(1958, 6, 1),
                phone="06 11 22 33 44",
            ),
        )
        await session.commit()
        booking = await bk.book_slot(
            session=session,
            now=now,
            request=bk.BookingRequest(
                slot_id=slot.id,
                patient_id=patient.id,
                channel=Channel.PHONE,
                reason="Toux fébrile",
                care_requested_at=now - dt.timedelta(hours=3),
            ),
        )
    await engine.dispose()
    return booking.id


async def in_consultation(settings: Settings, booking_id: int, doctor_username: str) -> int:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        doctor = (await session.scalars(select(User).where(User.username == doctor_username))).one()
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        c = Consultation(
            booking_id=booking.id,
            site_id=booking.site_id,
            patient_id=booking.patient_id,
            state=State.IN_CONSULTATION,
            doctor_id=doctor.id,
        )
        session.add(c)
        await session.commit()
        cid = c.id
    await engine.dispose()
    return cid


def agent_config(hub: LiveHub, seed: DemoSeed, data_dir: Path) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "hub": {"url": hub.url, "cabin_id": seed.cabin_id, "token": seed.cabin_token},
            "agent": {
                "heartbeat_seconds": 0.3,
                "backoff_initial_seconds": 0.05,
                "backoff_max_seconds": 0.3,
                "data_dir": str(data_dir),
            },
            "devices": [
                {
                    "name": "Tensiomètre",
                    "kind": "blood_pressure_cuff",
                    "model": "generic_gatt_cuff",
                    "transport": "ble",
                },
                {
                    "name": "Oxymètre",
                    "kind": "pulse_oximeter",
                    "model": "contec_cms50d_plus",
                    "transport": "serial",
                },
                {
                    "name": "Thermomètre",
                    "kind": "thermometer",
                    "model": "generic_gatt_thermometer",
                    "transport": "ble",
                },
            ],
        }
    )
