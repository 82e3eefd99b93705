"""The secretary refers a patient without médecin traitant, seen in teleconsultation, to a relay
doctor of the directory; the doctor is told by e-mail."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.notify.models import OutboundMessage
from hub.relay.models import Referral, RelayDoctor
from tests.conftest import csrf_from, login, text
from tests.support.factories import Cpts
from tests.support.scenario import booking_now, in_consultation


async def test_secretary_chooses_a_relay_doctor_for_a_patient_without_gp(
    client: httpx.AsyncClient, settings: Settings, cpts: Cpts
) -> None:
    booking_id = await booking_now(settings)
    await in_consultation(settings, booking_id, "medecin")
    await login(client, "secretariat")
    page = await client.get(f"/secretariat/rdv/{booking_id}")
    assert "Ce patient n'a pas de médecin traitant" in text(page)
    assert "Anne Roy" in text(page)  # the accepting doctors of the directory
    assert "Luc Marchal" not in text(page)  # who no longer accepts new patients

    refused = await client.post(
        f"/secretariat/rdv/{booking_id}/medecin-relais",
        data={"csrf_token": csrf_from(page.text), "note": ""},
    )
    assert refused.status_code == 422
    assert "Choisissez un médecin relais." in text(refused)

    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        doctor = await session.scalar(
            select(RelayDoctor).where(RelayDoctor.accepts_new_patients.is_(True))
        )
        assert doctor is not None
        done = await client.post(
            f"/secretariat/rdv/{booking_id}/medecin-relais",
            data={
                "csrf_token": csrf_from(page.text),
                "doctor_id": str(doctor.id),
                "note": "Suivi HTA",
            },
        )
        assert done.status_code == 303
        shown = await client.get(done.headers["location"])
        assert f"Orienté vers <strong>{doctor.name}</strong>" in text(shown)
        referral = await session.scalar(select(Referral))
        assert referral is not None and referral.note == "Suivi HTA"
        told = await session.scalar(
            select(OutboundMessage).where(OutboundMessage.purpose == "referral")
        )
        assert told is not None and told.recipient == doctor.email
    await engine.dispose()


async def test_a_booking_of_another_site_cannot_be_referred(
    client: httpx.AsyncClient, settings: Settings, cpts: Cpts
) -> None:
    booking_id = await booking_now(settings)
    await in_consultation(settings, booking_id, "medecin")
    await login(client, "infirmiere")
    page = await client.get("/infirmier")
    refused = await client.post(
        f"/secretariat/rdv/{booking_id}/medecin-relais",
        data={"csrf_token": csrf_from(page.text), "doctor_id": "1"},
    )
    assert refused.status_code == 403
