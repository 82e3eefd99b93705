"""Scenario building blocks shared by the tests: a booking about to start, a consultation
under way, a simulated trolley's agent configuration."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cabin_agent.config import AgentConfig
from hub import db
from hub.config import Settings
from hub.consultation.models import Consultation, DmpChoice, State
from hub.identity.models import Site, User
from hub.records.observations import Observation
from hub.records.patients import IdentityStatus, Patient
from hub.scheduling.models import Booking
from tests.support import factories as make
from tests.support.factories import CLOS_MORTIER, session_for
from tests.support.live import LiveHub


def begun_today(now: dt.datetime, minutes: int) -> dt.datetime:
    """A start `minutes` ago, or at midnight in Paris if that was yesterday: a slot that has
    begun and is still on today's agenda."""
    paris = ZoneInfo("Europe/Paris")
    midnight = dt.datetime.combine(now.astimezone(paris).date(), dt.time(), tzinfo=paris)
    return max(now - dt.timedelta(minutes=minutes), midnight)


async def booking_now(settings: Settings, minutes: int = 5) -> int:
    """Odile Lambert's booking at Clos Mortier, starting in a few minutes (a few minutes ago
    just before midnight, so that it stays on today's agenda: then it was booked an hour
    before it started, as a slot in the past cannot be booked)."""
    async with session_for(settings) as session:
        now = dt.datetime.now(dt.UTC)
        site = (await session.scalars(select(Site).where(Site.name == CLOS_MORTIER))).one()
        starts = now + dt.timedelta(minutes=minutes)
        paris = ZoneInfo("Europe/Paris")
        if starts.astimezone(paris).date() != now.astimezone(paris).date():
            starts = now - dt.timedelta(minutes=minutes)  # just before midnight: still today
        booked_at = min(now, starts - dt.timedelta(hours=1))
        slot = await make.slot(session, site_id=site.id, starts_at=starts)
        patient = await make.patient(
            session, organisation_id=site.organisation_id, today=now.date()
        )
        await session.commit()
        booking = await make.booking(session, slot_id=slot.id, patient_id=patient.id, now=booked_at)
    return booking.id


async def in_consultation(settings: Settings, booking_id: int, doctor_username: str) -> int:
    """The booking's consultation, under way with that doctor."""
    async with session_for(settings) as session:
        doctor = (await session.scalars(select(User).where(User.username == doctor_username))).one()
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        c = await make.consultation(session, booking=booking, doctor_id=doctor.id)
        await session.commit()
        return c.id


async def waiting_for_doctor(settings: Settings, booking_id: int) -> int:
    """The booking's consultation, the patient ready in the room, no doctor yet."""
    async with session_for(settings) as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        c = await make.consultation(session, booking=booking, state=State.READY)
        c.ready_at = dt.datetime.now(dt.UTC)
        await session.commit()
        return c.id


class CabinSeed(Protocol):
    """A cabin and its agent's token (the tests' CPTS, or the demo's)."""

    @property
    def cabin_id(self) -> int: ...

    @property
    def cabin_token(self) -> str: ...


def agent_config(hub: LiveHub, seed: CabinSeed, data_dir: Path) -> AgentConfig:
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


def agent_toml(path: Path, hub_url: str, seed: CabinSeed, data_dir: Path) -> None:
    """An agent's configuration file as an operator writes it: the agent's own defaults
    (heartbeats, backoff), the simulated oximeter streaming for ten minutes once asked."""
    path.write_text(
        f'[hub]\nurl = "{hub_url}"\ncabin_id = {seed.cabin_id}\ntoken = "{seed.cabin_token}"\n'
        f'[agent]\ndata_dir = "{data_dir}"\nsimulated_reading_seconds = 600\n'
        '[[devices]]\nname = "Oxymètre"\nkind = "pulse_oximeter"\nmodel = "contec_cms50d_plus"\n'
        'transport = "serial"\n'
    )


GP_ADDRESS = "paul.bernard@medecin.mssante.fr"
PATIENT_EMAIL = "odile.lambert@example.org"


async def ended_consultation(
    settings: Settings,
    cabin_id: int,
    *,
    state: State = State.REPORTING,
    dmp: DmpChoice = DmpChoice.ACCEPTS,
    gp: bool = True,
    identity: IdentityStatus = IdentityStatus.QUALIFIED,
) -> int:
    """Odile Lambert's teleconsultation with the CPTS's doctor, just ended: identity
    ``identity`` (qualified unless said otherwise) checked, consent given, her médecin
    traitant reachable by MSSanté (unless ``gp`` is False), a temperature and an oximeter
    stream taken during it."""
    booking_id = await booking_now(settings)
    cid = await in_consultation(settings, booking_id, "medecin")
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        now = dt.datetime.now(dt.UTC)
        consultation = await session.get(Consultation, cid)
        nurse = await session.scalar(select(User).where(User.username == "infirmiere"))
        assert consultation is not None and nurse is not None
        patient = await session.get(Patient, consultation.patient_id)
        assert patient is not None
        patient.nir, patient.birth_place_code = "258066311300116", "63113"
        patient.identity_status = identity
        if identity in (IdentityStatus.RETRIEVED, IdentityStatus.QUALIFIED):
            patient.ins_oid = "1.2.250.1.213.1.4.8"  # as INSi returned it
        patient.email = PATIENT_EMAIL
        patient.has_medecin_traitant = gp
        patient.medecin_traitant_name = "Dr Paul Bernard" if gp else ""
        patient.medecin_traitant_mssante = GP_ADDRESS if gp else ""
        consultation.state = state
        consultation.dmp_choice = dmp
        consultation.nurse_id = nurse.id
        consultation.identity_document = "cni"
        consultation.identity_checked_at = now - dt.timedelta(minutes=20)
        consultation.consent_at = now - dt.timedelta(minutes=19)
        consultation.started_at = now - dt.timedelta(minutes=15)
        consultation.ended_at = now - dt.timedelta(minutes=1)
        readings = [("body_temperature", 38.2, "Cel", "8310-5", "Thermomètre", 10)]
        readings += [
            ("spo2", v, "%", "59408-5", "Oxymètre", 9 - i) for i, v in enumerate((97, 96, 94))
        ]
        for seq, (kind, value, unit, loinc, model, ago) in enumerate(readings, start=1):
            session.add(
                Observation(
                    cabin_id=cabin_id,
                    seq=seq,
                    site_id=consultation.site_id,
                    booking_id=booking_id,
                    device_name=model,
                    kind=kind,
                    value=value,
                    unit=unit,
                    loinc=loinc,
                    measured_at=now - dt.timedelta(minutes=ago),
                    device_model=model,
                    device_serial="S1",
                )
            )
        await session.commit()
    await engine.dispose()
    return cid
