"""Text too long for its field, in the staff's forms: said in French on the same page, with
what was typed kept — never a generic refusal naming the form's raw field names, never a
note silently cut."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from hub.config import Settings
from hub.consultation.models import Consultation
from tests.conftest import csrf_from, login, text
from tests.support.factories import Cpts, session_for
from tests.support.scenario import booking_now, ended_consultation


async def _room(client: httpx.AsyncClient, settings: Settings) -> tuple[str, int, str]:
    booking_id = await booking_now(settings)
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    arrived = await client.post(
        f"/salle/rdv/{booking_id}/accueil", data={"csrf_token": csrf_from(agenda.text)}
    )
    room_url = arrived.headers["location"]
    room = await client.get(room_url)
    return room_url, int(room_url.rsplit("/", 1)[1]), csrf_from(room.text)


async def _history(settings: Settings, cid: int) -> str:
    async with session_for(settings) as session:
        consultation = await session.scalar(select(Consultation).where(Consultation.id == cid))
        assert consultation is not None
        return consultation.history


async def test_a_username_too_long_is_said_on_the_login_page_as_typed(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    page = await client.get("/connexion")
    refused = await client.post(
        "/connexion",
        data={"username": "i" * 90, "password": "x", "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 422
    assert "Identifiant : 80 caractères au plus (vous en avez saisi 90)." in text(refused)
    assert 'value="' + "i" * 90 + '"' in refused.text
    assert "« username »" not in text(refused)


async def test_a_preconsultation_note_too_long_is_refused_as_typed_never_cut(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    room_url, cid, csrf = await _room(client, settings)
    history = "Asthme depuis l'enfance. " * 200  # 5000 characters
    refused = await client.post(
        f"{room_url}/preconsultation",
        data={"csrf_token": csrf, "reason": "Toux", "history": history, "allergies": "Aucune"},
    )
    assert refused.status_code == 422
    page = text(refused)
    assert "Antécédents : 4000 caractères au plus (vous en avez saisi 5000)." in page
    assert 'id="history-error"' in refused.text
    assert f">{history}</textarea>" in page and ">Toux</textarea>" in page
    assert await _history(settings, cid) == ""  # nothing saved, nothing cut

    # A scale half answered: the notes typed are kept too.
    partial = await client.post(
        f"{room_url}/preconsultation",
        data={"csrf_token": csrf, "reason": "Toux fébrile", "phq9_1": "2"},
    )
    assert partial.status_code == 422 and "Répondez aux 9 questions" in text(partial)
    assert ">Toux fébrile</textarea>" in text(partial)


async def test_a_note_too_long_comes_back_in_the_console_in_french(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    room_url, _, csrf = await _room(client, settings)
    refused = await client.post(
        f"{room_url}/etat", data={"csrf_token": csrf, "action": "redirect", "note": "n" * 301}
    )
    assert refused.status_code == 422
    page = text(refused)
    assert "Motif : 300 caractères au plus (vous en avez saisi 301)." in page
    assert "Préconsultation" in page, "the console, not an error page"
    assert "« note »" not in page


async def test_a_forged_value_is_said_without_the_form_s_field_names(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination/sites/1/horaires")
    refused = await client.post(  # the day is a list: no form sends a 10th day of the week
        "/coordination/sites/1/horaires",
        data={
            "weekday": "9",
            "start": "08:00",
            "end": "12:00",
            "slot_minutes": "20",
            "seats": "1",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert refused.status_code == 422
    said = text(refused)
    assert "« 9 » n'est pas accepté : le nombre doit être au plus 6" in said
    assert "weekday" not in said


async def test_a_relay_doctor_refused_comes_back_as_typed_with_every_problem(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination/medecins-relais")
    refused = await client.post(
        "/coordination/medecins-relais",
        data={
            "name": "D" * 250,
            "city": "Saint-Dizier",
            "email": "pas-une-adresse",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert refused.status_code == 422
    said = text(refused)
    assert "2 points sont à corriger ; ce que vous avez saisi est conservé." in said
    assert "Nom : 200 caractères au plus (vous en avez saisi 250)." in said
    assert "Adresse e-mail invalide : « pas-une-adresse »." in said
    assert 'id="rd-name-error"' in refused.text and 'id="rd-email-error"' in refused.text
    assert 'value="Saint-Dizier"' in refused.text and 'value="' + "D" * 250 + '"' in refused.text
    assert "« name »" not in said and "Ajouter un médecin relais" in said


async def test_a_closure_refused_comes_back_in_its_form_as_typed(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination/sites/1/horaires")
    refused = await client.post(
        "/coordination/sites/1/fermetures",
        data={
            "start_date": "2030-08-05",
            "end_date": "2030-08-09",
            "reason": "Congés d'été de l'équipe. " * 10,  # 260 characters
            "csrf_token": csrf_from(page.text),
        },
    )
    assert refused.status_code == 422
    said = text(refused)
    assert "Motif de la fermeture : 200 caractères au plus (vous en avez saisi 260)." in said
    assert 'id="closure-error"' in refused.text and "« reason »" not in said
    assert 'name="start_date" type="date" required value="2030-08-05"' in refused.text
    assert 'name="end_date" type="date" required value="2030-08-09"' in refused.text
    # A refused opening keeps what was typed too.
    refused = await client.post(
        "/coordination/sites/1/horaires",
        data={
            "weekday": "3",
            "start": "14:00",
            "end": "13:00",
            "slot_minutes": "30",
            "seats": "2",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert refused.status_code == 422 and "doit être après" in text(refused)
    assert '<option value="3" selected>jeudi</option>' in refused.text
    assert 'name="start" type="time" required value="14:00"' in refused.text
    assert 'name="slot_minutes" type="number" min="5" max="240" required value="30"' in refused.text


async def test_a_refused_policy_comes_back_on_the_coordinator_page_as_typed(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination")
    excluded = "certificat de sport\n" + "x" * 4000
    refused = await client.post(
        "/coordination/politique",
        data={
            "min_age_years": "8",
            "reminder_hours": "24, demain",
            "excluded_reasons": excluded,
            "csrf_token": csrf_from(page.text),
        },
    )
    assert refused.status_code == 422
    said = text(refused)
    assert "Coordination de la CPTS" in said, "the coordinator's page, not an error page"
    assert "Rappels : « demain » n'est pas un nombre d'heures entre 1 et 336." in said
    assert "Motifs exclus : 4000 caractères au plus (vous en avez saisi 4020)." in said
    assert 'id="p-reminder_hours-error"' in refused.text
    assert 'id="p-excluded_reasons-error"' in refused.text
    assert 'value="24, demain"' in refused.text and 'value="8"' in refused.text
    assert f">{excluded}</textarea>" in said
    # Nothing was saved: the page shows the policy as it was.
    again = await client.get("/coordination")
    assert 'value="24,2"' in again.text and "certificat de sport" not in text(again)


async def test_a_cabin_name_too_long_is_said_in_french(
    client: httpx.AsyncClient, cpts: Cpts
) -> None:
    await login(client, "coordination")
    page = await client.get("/coordination")
    refused = await client.post(
        "/coordination/cabines",
        data={"site_id": "1", "name": "C" * 210, "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 422
    said = text(refused)
    assert "Nom de la cabine : 200 caractères au plus (vous en avez saisi 210)." in said
    assert "« name »" not in said


async def test_a_report_text_too_long_is_named_by_its_field(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    cid = await ended_consultation(settings, cpts.cabin_id)
    await login(client, "medecin")
    console = await client.get(f"/medecin/consultations/{cid}")
    refused = await client.post(
        f"/medecin/consultations/{cid}/compte-rendu",
        data={
            "csrf_token": csrf_from(console.text),
            "action": "save",
            "reason": "Toux",
            "examination": "e" * 20_001,
            "orientation": "medecin_traitant",
            "doctor_act": "TCG",
        },
    )
    assert refused.status_code == 422
    assert "Examen : 20000 caractères au plus (vous en avez saisi 20001)." in text(refused)
