"""The secretary changes how to reach a patient (mobile, e-mail) from the patient's page: only
the contact, traced, validated in French next to each field; the reminders of the bookings to
come then reach the new contact through the real outbox (aiosmtpd, an SMS webhook)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.identity.models import Site
from hub.notify.outbox import deliver_due
from hub.notify.sms import HttpSmsGateway
from hub.records.patients import IdentityStatus, Patient, Sex
from hub.scheduling.models import Slot
from tests.conftest import csrf_from, login, text
from tests.hub.notify.conftest import SMS_TOKEN, SmsWebhook
from tests.hub.notify.conftest import sms_webhook as sms_webhook  # a fixture
from tests.support import factories as make
from tests.support.access_world import build_world
from tests.support.factories import CLOS_MORTIER, Cpts, session_for
from tests.support.smtp import SmtpServerFixture
from tests.support.smtp import smtp_server as smtp_server  # a fixture

LANDLINE = "03 25 11 22 33"


async def _phone_patient(settings: Settings, cpts: Cpts) -> tuple[int, int]:
    """Odile Lambert, known by her landline only, and a free slot at Clos Mortier in 3 days."""
    async with session_for(settings) as session:
        now = dt.datetime.now(dt.UTC)
        site = (await session.scalars(select(Site).where(Site.name == CLOS_MORTIER))).one()
        slot = await make.slot(
            session, site_id=site.id, starts_at=(now + dt.timedelta(days=3)).replace(microsecond=0)
        )
        patient = await make.patient(
            session, organisation_id=cpts.organisation_id, today=now.date(), phone=LANDLINE
        )
        await session.commit()
        return patient.id, slot.id


async def _book_by_phone(client: httpx.AsyncClient, patient_id: int, slot_id: int) -> None:
    card = await client.get(f"/secretariat/patients/{patient_id}")
    booked = await client.post(
        f"/secretariat/patients/{patient_id}/rdv",
        data={"slot_id": str(slot_id), "reason": "Toux", "csrf_token": csrf_from(card.text)},
    )
    assert booked.status_code == 303


async def _change(
    client: httpx.AsyncClient, patient_id: int, **data: str
) -> tuple[httpx.Response, httpx.Response]:
    """The patient's page, then what posting the contact form answers."""
    card = await client.get(f"/secretariat/patients/{patient_id}")
    answer = await client.post(
        f"/secretariat/patients/{patient_id}/coordonnees",
        data={**data, "csrf_token": csrf_from(card.text)},
    )
    return card, answer


async def _patient(settings: Settings, patient_id: int) -> Patient:
    async with session_for(settings) as session:
        found = await session.get(Patient, patient_id)
        assert found is not None
        return found


async def test_a_phone_patient_given_a_mobile_gets_the_reminder_there_and_the_change_is_traced(
    app: FastAPI,
    client: httpx.AsyncClient,
    cpts: Cpts,
    settings: Settings,
    smtp_server: SmtpServerFixture,
    sms_webhook: SmsWebhook,
) -> None:
    patient_id, slot_id = await _phone_patient(settings, cpts)
    await login(client, "secretariat")
    await _book_by_phone(client, patient_id, slot_id)
    card, saved = await _change(
        client, patient_id, phone="06 98 76 54 32", email="odile.lambert@example.org"
    )
    assert "Rappels des rendez-vous : aucun (ni portable ni e-mail)" in text(card)
    assert saved.status_code == 303
    page = await client.get(saved.headers["location"])
    assert "Coordonnées enregistrées." in text(page)
    assert "Rappels des rendez-vous : par SMS et e-mail" in text(page)
    # She changes her mind on the phone: the latest number is the one reminded, once.
    _, again = await _change(
        client, patient_id, phone="07 11 22 33 44", email="odile.lambert@example.org"
    )
    assert again.status_code == 303

    async with session_for(settings) as session:
        slot = await session.get(Slot, slot_id)
        assert slot is not None
        starts_at = slot.starts_at
    sms = HttpSmsGateway(sms_webhook.url, SMS_TOKEN, "CPTS")
    async with app.state.hub.sessions() as session:
        await deliver_due(
            session=session, now=dt.datetime.now(dt.UTC), smtp=smtp_server.settings, sms=sms
        )
    assert sms_webhook.received == [] and smtp_server.collector.delivered == []
    async with app.state.hub.sessions() as session:
        report = await deliver_due(
            session=session,
            now=starts_at - dt.timedelta(hours=23),
            smtp=smtp_server.settings,
            sms=sms,
        )
    assert report.sent == 2  # the 24 h reminder, by SMS and by e-mail; the 2 h one waits
    [(_, message)] = sms_webhook.received
    assert isinstance(message, dict) and message["to"] == "+33711223344"
    assert message["text"].startswith("Rappel : téléconsultation")
    [mail] = smtp_server.collector.delivered
    assert mail.rcpt_tos == ["odile.lambert@example.org"]
    assert mail.message["Subject"].startswith("Rappel : téléconsultation du ")

    async with session_for(settings) as session:
        events = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "patient.contact")
                .order_by(AuditEvent.id)
            )
        )
    assert [e.target for e in events] == [f"patient:{patient_id}"] * 2
    assert [e.detail for e in events] == ["modifié : Téléphone, E-mail", "modifié : Téléphone"]
    assert events[0].actor_id == cpts.user_ids["secretariat"]
    assert not any(re.search(r"\d{2} ?\d{2} ?\d{2}", e.detail) for e in events)  # no number
    client.cookies.clear()
    await login(client, "coordination")
    journal = await client.get("/coordination")
    assert "Coordonnées du patient modifiées (portable, e-mail)" in text(journal)


async def test_each_problem_is_said_next_to_its_field_and_what_was_typed_stays(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    patient_id, slot_id = await _phone_patient(settings, cpts)
    await login(client, "secretariat")
    await _book_by_phone(client, patient_id, slot_id)
    _, refused = await _change(client, patient_id, phone="03 25 00 00 00", email="odile@")
    assert refused.status_code == 422
    page = text(refused)
    assert "2 points sont à corriger ; ce que vous avez saisi est conservé." in page
    phone_error = re.search(r'id="contact-phone-error">([^<]*)<', page)
    assert phone_error is not None
    assert "« 03 25 00 00 00 » n'est pas un numéro de portable" in phone_error.group(1)
    email_error = re.search(r'id="contact-email-error">([^<]*)<', page)
    assert email_error is not None
    assert email_error.group(1) == "Adresse e-mail invalide : « odile@ »."
    assert 'value="03 25 00 00 00"' in refused.text and 'value="odile@"' in refused.text
    _, too_long = await _change(client, patient_id, phone="06" * 20, email="")
    assert too_long.status_code == 422
    assert "Téléphone portable : 30 caractères au plus (vous en avez saisi 40)." in text(too_long)
    assert (await _patient(settings, patient_id)).phone == "0325112233"  # nothing was saved

    # The landline already on file may stay as it is while an e-mail is added.
    _, kept = await _change(client, patient_id, phone=LANDLINE, email="Odile@Example.org")
    assert kept.status_code == 303
    patient = await _patient(settings, patient_id)
    assert (patient.phone, patient.email) == ("0325112233", "odile@example.org")


async def test_identity_traits_sent_along_with_the_contact_are_ignored(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    patient_id, slot_id = await _phone_patient(settings, cpts)
    await login(client, "secretariat")
    await _book_by_phone(client, patient_id, slot_id)
    before = await _patient(settings, patient_id)
    _, saved = await _change(
        client,
        patient_id,
        phone="06 98 76 54 32",
        birth_name="Dupont",
        first_names="Jeanne",
        birth_date="1990-01-01",
        sex="M",
        nir="190017511300144",
        birth_place_code="75113",
        identity_status="qualifiee",
    )
    assert saved.status_code == 303
    after = await _patient(settings, patient_id)
    assert after.phone != before.phone
    traits = ("birth_name", "first_names", "birth_date", "sex", "nir", "birth_place_code")
    assert [getattr(after, t) for t in traits] == [getattr(before, t) for t in traits]
    assert after.sex is Sex.FEMALE
    assert after.identity_status is before.identity_status is not IdentityStatus.QUALIFIED
    page = await client.get(f"/secretariat/patients/{patient_id}")
    assert "se vérifient sur une pièce d'identité" in text(page)
    assert 'name="birth_name"' not in page.text.split('id="contact"')[1].split("</section>")[0]


async def test_only_a_secretary_of_a_site_following_the_patient_changes_their_contact(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    world = await build_world(settings)
    await login(client, "secretaire-clos", make.TEST_PASSWORD)
    other = world.other.values["patient_id"]  # followed at La Noue only
    page = await client.get(f"/secretariat/patients/{other}")
    assert "Enregistrer les coordonnées" not in text(page)
    refused = await client.post(
        f"/secretariat/patients/{other}/coordonnees",
        data={"phone": "06 98 76 54 32", "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 403
    assert "pour lequel vous agissez" in text(refused)
    own = world.own.values["patient_id"]
    _, saved = await _change(client, int(own), phone="06 98 76 54 32")
    assert saved.status_code == 303
    client.cookies.clear()
    await login(client, "infirmiere")
    home = await client.get("/infirmier")
    nurse = await client.post(
        f"/secretariat/patients/{own}/coordonnees",
        data={"phone": "07 00 00 00 00", "csrf_token": csrf_from(home.text)},
    )
    assert nurse.status_code == 403
    assert (await _patient(settings, int(other))).phone != "0698765432"
    assert (await _patient(settings, int(own))).phone == "0698765432"  # not the nurse's
