"""Booking as people do it: online (with screening), by phone, the nurse's agenda, the
coordinator's schedule, the patient's follow-up link and the waiting list."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.notify.models import MessageStatus, OutboundMessage
from hub.records.patients import Patient
from hub.scheduling.models import Booking, BookingStatus, Channel, OpeningRule, Slot
from tests.conftest import csrf_from, login, text
from tests.support.factories import Cpts
from tests.support.scenario import begun_today


async def _rows(settings: Settings, model: type, *where: object) -> list:  # type: ignore[type-arg]
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        rows = list(await session.scalars(select(model).where(*where)))  # type: ignore[arg-type]
    await engine.dispose()
    return rows


def _slot_ids(html: str) -> list[int]:
    return [int(m) for m in re.findall(r"/rdv/cpts-tests/creneau/(\d+)", html)]


def _form(**overrides: str) -> dict[str, str]:
    data = {
        "birth_name": "Lefèvre",
        "first_names": "Marie Claire",
        "birth_date": "1985-04-12",
        "sex": "F",
        "phone": "06 12 34 56 78",
        "email": "marie@example.org",
        "has_mt": "non",
        "reason": "Mal de gorge depuis trois jours",
        "consent": "oui",
    }
    data.update(overrides)
    return data


async def _book_online(client: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    page = await client.get("/rdv/cpts-tests")
    slot_id = _slot_ids(page.text)[0]
    form = await client.get(f"/rdv/cpts-tests/creneau/{slot_id}")
    data = _form(**overrides)
    data["csrf_token"] = csrf_from(form.text)
    return await client.post(f"/rdv/cpts-tests/creneau/{slot_id}", data=data)


async def test_patient_books_online_and_gets_confirmation_and_reminders(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    page = await client.get("/rdv")
    assert page.status_code == 303 and page.headers["location"] == "/rdv/cpts-tests"
    slots_page = await client.get("/rdv/cpts-tests")
    assert "Le plus tôt" in text(slots_page)
    assert "Cabinet du Clos Mortier" in text(slots_page)
    assert "Foyer" not in text(slots_page)  # the facility's slots are not public
    response = await _book_online(client)
    assert response.status_code == 303
    follow = await client.get(response.headers["location"])
    assert "Votre rendez-vous est enregistré" in text(follow)
    reference = re.search(r"RDV-[A-Z0-9]{6}", follow.text)
    assert reference
    [booking] = await _rows(settings, Booking)
    assert booking.channel is Channel.ONLINE and booking.reference == reference.group(0)
    assert booking.care_requested_at <= booking.starts_at
    messages = await _rows(settings, OutboundMessage, OutboundMessage.related_id == booking.id)
    purposes = sorted((m.purpose, m.channel.value) for m in messages)
    assert ("booking_confirmation", "email") in purposes
    assert ("booking_confirmation", "sms") in purposes
    reminders = [m for m in messages if m.purpose == "reminder"]
    for m in reminders:
        assert m.next_attempt_at in (
            booking.starts_at - dt.timedelta(hours=24),
            booking.starts_at - dt.timedelta(hours=2),
        )
    [patient] = await _rows(settings, Patient)
    assert patient.birth_name == "LEFÈVRE" and patient.has_medecin_traitant is False


async def test_chest_pain_stops_the_booking_and_says_call_15(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    page = await client.get("/rdv/cpts-tests")
    slot_id = _slot_ids(page.text)[0]
    form = await client.get(f"/rdv/cpts-tests/creneau/{slot_id}")
    data = _form()
    data["csrf_token"] = csrf_from(form.text)
    data["red_flag"] = "chest_pain"
    response = await client.post(f"/rdv/cpts-tests/creneau/{slot_id}", data=data)
    assert response.status_code == 200
    assert "Appelez le 15 maintenant" in text(response)
    assert "Douleur dans la poitrine" in text(response)
    assert await _rows(settings, Booking) == []
    assert await _rows(settings, Patient) == []


async def test_six_year_old_can_be_booked_with_a_guardian_four_year_old_cannot(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    today = dt.date.today()
    four = today.replace(year=today.year - 4) - dt.timedelta(days=1)
    refused = await _book_online(client, birth_date=four.isoformat(), guardian_name="Paul Lefèvre")
    assert refused.status_code == 422
    assert "à partir de 6 ans" in text(refused)
    six = today.replace(year=today.year - 6) - dt.timedelta(days=1)
    no_guardian = await _book_online(client, birth_date=six.isoformat())
    assert no_guardian.status_code == 422
    assert "représentant légal" in text(no_guardian)
    ok = await _book_online(client, birth_date=six.isoformat(), guardian_name="Paul Lefèvre")
    assert ok.status_code == 303
    assert len(await _rows(settings, Booking)) == 1


async def test_bad_input_is_refused_with_reasons_and_the_form_kept(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    response = await _book_online(client, nir="1 85 04 75 123 456 99", phone="12")
    assert response.status_code == 422
    assert "Numéro de téléphone invalide" in text(response)
    assert "clé du numéro de sécurité sociale" in text(response)
    assert 'value="Lefèvre"' in response.text  # nothing typed is lost
    no_contact = await _book_online(client, phone="", email="")
    assert "numéro de portable ou une adresse e-mail" in text(no_contact)


async def test_secretary_books_by_phone_and_reads_back(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await _book_online(client)  # she came last year (well, earlier)
    client.cookies.clear()
    await login(client, "secretariat")
    search = await client.get("/secretariat", params={"nom": "lefevre", "naissance": "1985-04-12"})
    assert "LEFÈVRE Marie Claire" in text(search)
    patient_id = int(re.search(r"/secretariat/patients/(\d+)", search.text).group(1))  # type: ignore[union-attr]
    card = await client.get(f"/secretariat/patients/{patient_id}")
    assert "Rendez-vous non honorés" in text(card)
    earliest = int(re.search(r'name="slot_id" value="(\d+)" checked', card.text).group(1))  # type: ignore[union-attr]
    booked = await client.post(
        f"/secretariat/patients/{patient_id}/rdv",
        data={"slot_id": str(earliest), "reason": "Fièvre", "csrf_token": csrf_from(card.text)},
    )
    assert booked.status_code == 303
    summary = await client.get(booked.headers["location"])
    assert "À relire au patient" in text(summary)
    assert "Marie Claire LEFÈVRE, votre téléconsultation est le" in text(summary)
    phone_booking = (await _rows(settings, Booking, Booking.slot_id == earliest))[0]
    assert phone_booking.channel is Channel.PHONE
    assert phone_booking.booked_by_label == "Sophie Bernard"


async def test_secretary_creates_a_new_patient_with_clear_errors(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "secretariat")
    page = await client.get("/secretariat")
    bad = await client.post(
        "/secretariat/patients",
        data={
            "birth_name": "",
            "first_names": "Jeanne",
            "birth_date": "2090-01-01",
            "sex": "F",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert bad.status_code == 422
    assert "Indiquez le nom de naissance." in text(bad)
    assert "dans le futur" in text(bad)
    good = await client.post(
        "/secretariat/patients",
        data={
            "birth_name": "Moreau",
            "first_names": "Jeanne",
            "birth_date": "1948-02-03",
            "sex": "F",
            "phone": "03 25 11 22 33",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert good.status_code == 303
    card = await client.get(good.headers["location"])
    assert "MOREAU Jeanne" in text(card)


async def test_cancellation_through_the_link_offers_the_slot_to_the_waiting_list(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    first = await _book_online(client, birth_name="Petit")
    first_link = first.headers["location"].split("?")[0]
    # A second patient books a later slot and asks for an earlier one.
    page = await client.get("/rdv/cpts-tests")
    later = _slot_ids(page.text)[3]
    form = await client.get(f"/rdv/cpts-tests/creneau/{later}")
    data = _form(birth_name="Roux", waiting_list="oui", phone="07 11 22 33 44")
    data["csrf_token"] = csrf_from(form.text)
    assert (await client.post(f"/rdv/cpts-tests/creneau/{later}", data=data)).status_code == 303
    follow = await client.get(first_link)
    cancelled = await client.post(
        first_link + "/annuler", data={"csrf_token": csrf_from(follow.text)}
    )
    assert cancelled.status_code == 303
    assert "Votre rendez-vous est annulé." in text(await client.get(cancelled.headers["location"]))
    roux = (await _rows(settings, Patient, Patient.birth_name == "ROUX"))[0]
    roux_booking = (await _rows(settings, Booking, Booking.patient_id == roux.id))[0]
    offers = await _rows(settings, OutboundMessage, OutboundMessage.purpose == "waiting_list_offer")
    assert {m.recipient for m in offers} == {"+33711223344", "marie@example.org"}
    sms = next(m for m in offers if m.channel.value == "sms")
    offer_path = re.search(r"/rdv/proposition/\S+", sms.body_text).group(0)  # type: ignore[union-attr]
    offer_page = await client.get(offer_path)
    assert "Un créneau plus tôt s'est libéré" in text(offer_page)
    accepted = await client.post(
        offer_path + "/accepter", data={"csrf_token": csrf_from(offer_page.text)}
    )
    assert accepted.status_code == 303
    moved = await _rows(
        settings, Booking, Booking.patient_id == roux.id, Booking.status == BookingStatus.BOOKED
    )
    assert len(moved) == 1 and moved[0].starts_at < roux_booking.starts_at
    # The cancelled booking's reminders were withdrawn.
    petit_reminders = await _rows(
        settings,
        OutboundMessage,
        OutboundMessage.purpose == "reminder",
        OutboundMessage.recipient == "+33612345678",
    )
    assert all(m.status is MessageStatus.CANCELLED for m in petit_reminders)


async def test_nurse_marks_a_no_show_and_the_secretary_sees_it(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    engine = db.make_engine(settings.database_url)
    async with db.make_session_factory(engine)() as session:
        now = dt.datetime.now(dt.UTC)
        site_id = (await session.scalars(select(Slot.site_id).limit(1))).one()
        starts = begun_today(now, minutes=30)
        slot = Slot(
            site_id=site_id,
            starts_at=starts,
            ends_at=starts + dt.timedelta(minutes=20),
            seats=1,
        )
        patient = Patient(
            organisation_id=1,
            birth_name="GARNIER",
            birth_name_key="GARNIER",
            first_names="Luc",
            birth_date=dt.date(1960, 5, 5),
            sex="M",
        )
        session.add_all([slot, patient])
        await session.flush()
        session.add(
            Booking(
                reference="RDV-TEST22",
                slot_id=slot.id,
                seat=1,
                site_id=site_id,
                patient_id=patient.id,
                starts_at=slot.starts_at,
                channel=Channel.PHONE,
                reason="Lombalgie",
                care_requested_at=now - dt.timedelta(days=1),
                link_nonce="n",
            )
        )
        await session.commit()
        patient_id = patient.id
    await engine.dispose()
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    assert "GARNIER Luc" in text(agenda) and "non confirmé" in text(agenda)
    booking_id = re.search(r"/infirmier/rdv/(\d+)/non-honore", agenda.text).group(1)  # type: ignore[union-attr]
    marked = await client.post(
        f"/infirmier/rdv/{booking_id}/non-honore", data={"csrf_token": csrf_from(agenda.text)}
    )
    assert marked.status_code == 303
    client.cookies.clear()
    await login(client, "secretariat")
    card = await client.get(f"/secretariat/patients/{patient_id}")
    assert "non honoré" in text(card)
    assert re.search(r"Rendez-vous non honorés</dt><dd><span class=\"flag\">1<", card.text)


async def test_schedule_change_never_drops_a_booking(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    booked = await _book_online(client)
    assert booked.status_code == 303
    [booking] = await _rows(settings, Booking)
    [slot] = await _rows(settings, Slot, Slot.id == booking.slot_id)
    [rule] = await _rows(settings, OpeningRule, OpeningRule.id == slot.rule_id)
    await login(client, "coordination")
    page = await client.get(f"/coordination/sites/{booking.site_id}/horaires")
    assert "Ouvertures hebdomadaires" in text(page)
    response = await client.post(
        f"/coordination/sites/{booking.site_id}/horaires/{rule.id}/supprimer",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 303
    after = await client.get(response.headers["location"])
    assert "Aucun rendez-vous n'a été supprimé" in text(after)
    [still] = await _rows(settings, Booking)
    assert still.status is BookingStatus.BOOKED and still.needs_moving
    client.cookies.clear()
    await login(client, "secretariat")
    assert "Rendez-vous à déplacer" in text(await client.get("/secretariat"))


async def test_coordinator_rule_errors_are_explained(client: httpx.AsyncClient, cpts: Cpts) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination/sites/1/horaires")
    response = await client.post(
        "/coordination/sites/1/horaires",
        data={
            "weekday": "0",
            "start": "12:00",
            "end": "08:00",
            "slot_minutes": "20",
            "seats": "1",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 422
    assert "doit être après" in text(response)


async def test_facility_slots_are_booked_by_the_facility_only(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await login(client, "etablissement")
    home = await client.get("/etablissement")
    slot_id = int(re.search(r'<option value="(\d+)"', home.text).group(1))  # type: ignore[union-attr]
    [slot] = await _rows(settings, Slot, Slot.id == slot_id)
    assert slot.reserved_for is not None and slot.reserved_for.value == "facility"
    booked = await client.post(
        "/etablissement/rdv",
        data={
            "slot_id": str(slot_id),
            "birth_name": "Bonnet",
            "first_names": "Louis",
            "birth_date": "1971-09-30",
            "sex": "M",
            "reason": "Plaie du talon",
            "in_room": "oui",
            "csrf_token": csrf_from(home.text),
        },
    )
    assert booked.status_code == 303
    after = await client.get("/etablissement")
    assert "BONNET Louis" in text(after) and "dans sa chambre" in text(after)
    bookings = await _rows(settings, Booking)
    assert [(b.channel, b.reason) for b in bookings] == [
        (Channel.FACILITY, "Plaie du talon — à voir dans sa chambre (ne peut pas se déplacer)")
    ]
    # Nobody outside the facility can book those slots: not the public, not the secretary.
    client.cookies.clear()
    other = next(
        s
        for s in await _rows(settings, Slot, Slot.reserved_for == slot.reserved_for)
        if s.id != slot_id and s.starts_at > dt.datetime.now(dt.UTC)
    )
    # Refused before the form is filled: the page says so instead of showing the form.
    form = await client.get(f"/rdv/cpts-tests/creneau/{other.id}")
    assert form.status_code == 403
    assert "réservé aux résidents de l'établissement" in text(form)
    assert "Nom de naissance" not in text(form)
    public = await client.get(
        f"/rdv/cpts-tests/creneau/{_slot_ids((await client.get('/rdv/cpts-tests')).text)[0]}"
    )
    data = _form()
    data["csrf_token"] = csrf_from(public.text)
    refused = await client.post(f"/rdv/cpts-tests/creneau/{other.id}", data=data)
    assert refused.status_code == 403
    assert "réservé aux résidents de l'établissement" in text(refused)
    assert len(await _rows(settings, Patient)) == 1  # the refused request left nothing behind
    await login(client, "secretariat")
    [patient] = await _rows(settings, Patient)
    card = await client.get(f"/secretariat/patients/{patient.id}")
    refused = await client.post(
        f"/secretariat/patients/{patient.id}/rdv",
        data={"slot_id": str(other.id), "reason": "x", "csrf_token": csrf_from(card.text)},
    )
    assert refused.status_code == 403


async def test_coordinator_excludes_a_reason_and_online_booking_refuses_it(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination")
    saved = await client.post(
        "/coordination/politique",
        data={
            "min_age_years": "6",
            "reminder_hours": "24, 2",
            "excluded_reasons": "certificat de sport\n",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert saved.status_code == 303
    bad = await client.post(
        "/coordination/politique",
        data={"min_age_years": "6", "reminder_hours": "demain", "csrf_token": csrf_from(page.text)},
    )
    assert bad.status_code == 422 and "n'est pas un nombre d'heures" in text(bad)
    client.cookies.clear()
    refused = await _book_online(client, reason="Besoin d'un Certificat de sport pour le club")
    assert refused.status_code == 422
    assert "ne peut pas être pris en charge en téléconsultation" in text(refused)
    assert await _rows(settings, Booking) == []


async def test_every_problem_comes_back_at_once_next_to_its_field_with_the_form_kept(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    response = await _book_online(
        client,
        birth_name="L" * 300,
        first_names="",
        sex="",
        phone="12",
        nir="1 85 04 75 123 456 99",
        consent="",
        reason="Toux",
    )
    assert response.status_code == 422
    page = text(response)
    assert "Nom de naissance : 100 caractères au plus (vous en avez saisi 300)." in page
    assert "Indiquez le ou les prénoms." in page
    assert "Indiquez le sexe inscrit sur la pièce d'identité." in page
    assert "Numéro de téléphone invalide" in page
    assert "clé du numéro de sécurité sociale" in page
    assert "Votre accord est nécessaire" in page
    assert "6 points sont à corriger" in page
    assert "« birth_name »" not in page and "Demande refusée" not in page  # no raw names
    # Each problem sits next to its field, which points to it for screen readers.
    assert re.search(r'id="phone"[^>]*aria-describedby="phone-hint phone-error"', response.text)
    assert '<p class="field-error" id="phone-error">Numéro de téléphone invalide' in response.text
    # Nothing typed is lost, not even the social-security number that was wrong.
    assert 'value="' + "L" * 300 + '"' in response.text
    assert 'value="1 85 04 75 123 456 99"' in response.text
    assert ">Toux</textarea>" in response.text
    assert await _rows(settings, Booking) == []


async def test_a_red_flag_is_answered_first_even_with_nothing_else_filled_in(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    page = await client.get("/rdv/cpts-tests")
    slot_id = _slot_ids(page.text)[0]
    form = await client.get(f"/rdv/cpts-tests/creneau/{slot_id}")
    assert form.text.index('name="red_flag"') < form.text.index('name="birth_name"')
    response = await client.post(
        f"/rdv/cpts-tests/creneau/{slot_id}",
        data={"red_flag": "stroke", "csrf_token": csrf_from(form.text)},
    )
    assert response.status_code == 200
    assert "Appelez le 15 maintenant" in text(response)
    assert "trouble de la parole" in text(response)
    assert await _rows(settings, Patient) == []


async def test_secretary_sees_every_problem_of_a_new_patient_at_once(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "secretariat")
    page = await client.get("/secretariat")
    bad = await client.post(
        "/secretariat/patients",
        data={
            "birth_name": "Moreau",
            "first_names": "J" * 201,
            "birth_date": "03/02/19488",
            "phone": "03 25",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert bad.status_code == 422
    found = text(bad)
    assert "Prénom(s) : 200 caractères au plus (vous en avez saisi 201)." in found
    assert "Indiquez la date de naissance au format jj/mm/aaaa." in found
    assert "Indiquez le sexe inscrit sur la pièce d'identité." in found
    assert "Numéro de téléphone invalide" in found
    assert '<p class="field-error" id="np-sex-error">' in bad.text
    assert 'value="Moreau"' in bad.text and 'value="03 25"' in bad.text


async def test_secretary_phone_booking_says_every_problem_at_once_and_screens_like_online(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination")
    await client.post(
        "/coordination/politique",
        data={
            "min_age_years": "6",
            "reminder_hours": "24",
            "excluded_reasons": "certificat de sport",
            "csrf_token": csrf_from(page.text),
        },
    )
    client.cookies.clear()
    await login(client, "secretariat")
    page = await client.get("/secretariat")
    created = await client.post(
        "/secretariat/patients",
        data={
            "birth_name": "Petit",
            "first_names": "Léo",
            "birth_date": (dt.date.today() - dt.timedelta(days=4 * 366)).isoformat(),
            "sex": "M",
            "csrf_token": csrf_from(page.text),
        },
    )
    card = await client.get(created.headers["location"])
    patient_path = created.headers["location"]
    nothing = await client.post(
        f"{patient_path}/rdv", data={"reason": "", "csrf_token": csrf_from(card.text)}
    )
    assert nothing.status_code == 422
    assert "Choisissez un créneau." in text(nothing) and "Indiquez le motif" in text(nothing)
    slot_id = re.search(r'name="slot_id" value="(\d+)"', card.text).group(1)  # type: ignore[union-attr]
    refused = await client.post(
        f"{patient_path}/rdv",
        data={
            "slot_id": slot_id,
            "reason": "Certificat de sport",
            "csrf_token": csrf_from(card.text),
        },
    )
    assert refused.status_code == 422
    assert "à partir de 6 ans" in text(refused)
    assert "ne peut pas être pris en charge en téléconsultation" in text(refused)
    assert 'value="Certificat de sport"' in refused.text
    assert re.search(rf'value="{slot_id}" checked', refused.text)  # her choice is kept
    assert await _rows(settings, Booking) == []


async def test_facility_form_says_every_problem_at_once_and_keeps_the_resident(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await login(client, "etablissement")
    home = await client.get("/etablissement")
    slot_id = re.search(r'<option value="(\d+)"', home.text).group(1)  # type: ignore[union-attr]
    bad = await client.post(
        "/etablissement/rdv",
        data={
            "slot_id": slot_id,
            "birth_name": "Bonnet",
            "first_names": "",
            "birth_date": "",
            "sex": "M",
            "reason": "x" * 1001,
            "in_room": "oui",
            "csrf_token": csrf_from(home.text),
        },
    )
    assert bad.status_code == 422
    found = text(bad)
    assert "Indiquez le ou les prénoms." in found
    assert "Indiquez la date de naissance." in found
    assert "Motif : 1000 caractères au plus (vous en avez saisi 1001)." in found
    assert 'value="Bonnet"' in bad.text
    assert re.search(rf'<option value="{slot_id}" selected>', bad.text)
    assert re.search(r'id="f-in_room" name="in_room" value="oui" checked', bad.text)
    assert await _rows(settings, Booking) == []
