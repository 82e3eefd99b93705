"""A GP asks a psychiatrist's opinion: the secretary records the requesting doctor with the
booking, the psychiatrist's waiting room shows the psychiatric requests, and the signed plan
goes back to the requesting doctor (with the psychiatrist named as such in the CDA)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.consultation.models import Consultation, State
from hub.context import HubContext
from hub.errors import Invalid
from hub.identity import service as identity
from hub.identity.models import PSYCHIATRY, Organisation, Role, Site, User
from hub.notify.models import MessageStatus, OutboundMessage
from hub.reports import publication
from hub.reports.mssante import PURPOSE_REQUESTER
from hub.reports.service import ReportDraft
from hub.scheduling.models import Booking
from tests.conftest import csrf_from, login, text
from tests.support import factories as make
from tests.support.cda import validate_cda
from tests.support.factories import CLOS_MORTIER, Cpts, session_for
from tests.support.scenario import GP_ADDRESS, ended_consultation

ROY = "anne.roy@medecin.mssante.fr"
PLAN = ReportDraft(
    reason="Premier avis psychiatrique",
    examination="Humeur triste, pas d'idée suicidaire active.",
    conclusion="Épisode dépressif modéré. Plan : sertraline, psychothérapie, revoir à 4 semaines.",
    prescriptions="Sertraline 50 mg, 1 le matin, 28 jours.",
)


async def _psychiatrist(settings: Settings, cpts: Cpts) -> None:
    async with session_for(settings) as session:
        org = await session.get_one(Organisation, cpts.organisation_id)
        site = await session.get_one(Site, cpts.site_ids[CLOS_MORTIER])
        await make.user(
            session,
            organisation=org,
            username="psychiatre",
            role=Role.DOCTOR,
            sites=[site],
            full_name="Dr Léa Morel",
            specialty=PSYCHIATRY,
        )
        await session.commit()


async def test_the_secretary_records_the_requesting_doctor_with_the_booking(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    async with session_for(settings) as session:
        patient = await make.patient(
            session, organisation_id=cpts.organisation_id, today=dt.date.today()
        )
        await session.commit()
    await login(client, "secretariat")
    card = await client.get(f"/secretariat/patients/{patient.id}")
    earliest = re.search(r'name="slot_id" value="(\d+)" checked', card.text)
    assert earliest is not None
    data = {
        "slot_id": earliest.group(1),
        "reason": "Premier avis psychiatrique",
        "requester_name": "Dr Anne Roy",
        "requester_mssante": "anne.roy@",
        "requester_rpps": "12345678901",
        "csrf_token": csrf_from(card.text),
    }
    refused = await client.post(f"/secretariat/patients/{patient.id}/rdv", data=data)
    assert "messagerie sécurisée du médecin demandeur invalide" in text(refused)
    assert "chiffre de contrôle" in text(refused)  # the RPPS check of the médecin traitant's
    assert 'value="Dr Anne Roy"' in refused.text  # what was typed is kept
    data |= {"requester_mssante": ROY.upper(), "requester_rpps": "", "csrf_token": "x"}
    data["csrf_token"] = csrf_from(refused.text)
    booked = await client.post(f"/secretariat/patients/{patient.id}/rdv", data=data)
    assert booked.status_code == 303
    summary = text(await client.get(booked.headers["location"]))
    assert f"Demandé par Dr Anne Roy ({ROY})" in summary
    async with session_for(settings) as session:
        booking = (await session.scalars(select(Booking))).one()
        assert (booking.requester_name, booking.requester_mssante) == ("Dr Anne Roy", ROY)


async def test_a_psychiatrist_sees_the_psychiatric_requests_a_gp_sees_them_all(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await _psychiatrist(settings, cpts)
    now = dt.datetime.now(dt.UTC)
    async with session_for(settings) as session:
        for minutes, (name, reason) in enumerate(
            (("Girard", "Premier avis psychiatrique"), ("Lambert", "Toux fébrile")), start=5
        ):
            slot = await make.slot(
                session,
                site_id=cpts.site_ids[CLOS_MORTIER],
                starts_at=now + dt.timedelta(minutes=minutes),
            )
            patient = await make.patient(
                session, organisation_id=cpts.organisation_id, today=now.date(), birth_name=name
            )
            await session.commit()
            booking = await make.booking(
                session, slot_id=slot.id, patient_id=patient.id, now=now, reason=reason
            )
            await make.consultation(session, booking=booking, state=State.READY)
            await session.commit()
    await login(client, "psychiatre")
    page = text(await client.get("/medecin"))
    assert "Votre spécialité : Psychiatrie" in page
    assert "GIRARD" in page and "LAMBERT" not in page
    client.cookies.clear()
    await login(client, "medecin")
    page = text(await client.get("/medecin"))
    assert "GIRARD" in page and "LAMBERT" in page


async def test_the_signed_plan_goes_to_the_requesting_gp_and_names_the_psychiatrist(
    app: FastAPI, cpts: Cpts, settings: Settings, tmp_path: Path
) -> None:
    await _psychiatrist(settings, cpts)
    cid = await ended_consultation(settings, cpts.cabin_id)
    ctx: HubContext = app.state.hub
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        consultation = await session.get_one(Consultation, cid)
        psychiatrist = (
            await session.scalars(select(User).where(User.username == "psychiatre"))
        ).one()
        consultation.doctor_id = psychiatrist.id
        booking = await session.get_one(Booking, consultation.booking_id)
        booking.requester_name, booking.requester_mssante = "Dr Anne Roy", ROY
        await session.commit()
        report, result = await publication.sign_and_publish(
            session=session, ctx=ctx, user=psychiatrist, consultation=consultation, draft=PLAN
        )
        recipients = [m.recipient for m in result.relays]
        assert [GP_ADDRESS in r for r in recipients] == [True, False]  # the médecin traitant
        assert [ROY in r for r in recipients] == [False, True]  # and the requesting GP
        [to_roy] = await session.scalars(
            select(OutboundMessage).where(OutboundMessage.purpose == PURPOSE_REQUESTER)
        )
        assert ROY in to_roy.recipient and to_roy.status is MessageStatus.PENDING
        assert report.cda is not None
        assert b'code="G15_10/SM42"' in report.cda
        assert b"M\xc3\xa9decin - Psychiatrie (SM)" in report.cda
        verdicts = validate_cda(
            {"plan": report.cda},
            workdir=tmp_path,
            cache_dir=Path(".pytest_cache") / "cda-validator",
        )
        assert verdicts["plan"].passed, verdicts["plan"].output  # the ANS validator accepts it
    await engine.dispose()


async def test_only_a_doctor_has_a_specialty_from_the_list(cpts: Cpts, settings: Settings) -> None:
    async with session_for(settings) as session:
        org = await session.get_one(Organisation, cpts.organisation_id)
        for role, specialty in ((Role.NURSE, PSYCHIATRY), (Role.DOCTOR, "Chirurgie")):
            try:
                await identity.create_user(
                    session=session,
                    organisation=org,
                    username=f"x-{role.value}",
                    full_name="X",
                    role=role,
                    password=make.TEST_PASSWORD,
                    specialty=specialty,
                )
            except Invalid as exc:
                assert "Spécialité inconnue" in exc.message
            else:
                raise AssertionError(f"{role} {specialty} accepted")
