"""The room's identity check refused: the form comes back as the nurse typed it, every problem
in French next to its field."""

from __future__ import annotations

import html
import re

import httpx
from sqlalchemy import select

from hub.config import Settings
from hub.records.patients import IdentityStatus, Patient
from tests.conftest import csrf_from, login, text
from tests.support.factories import Cpts, session_for
from tests.support.scenario import booking_now

BAD_KEY_NIR = "2 58 06 63 113 001 17"  # the key of 258066311300116 is 16


def _field_error(page: httpx.Response, field: str) -> str | None:
    found = re.search(rf'id="identity-{field}-error">([^<]*)<', page.text)
    return html.unescape(found.group(1)) if found else None


def _value(page: httpx.Response, field: str) -> str | None:
    found = re.search(
        rf'id="identity-{field}" name="{field}" type="text" value="([^"]*)"',
        page.text,
    )
    return html.unescape(found.group(1)) if found else None


async def _room(client: httpx.AsyncClient, settings: Settings) -> tuple[str, httpx.Response]:
    booking_id = await booking_now(settings)
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    arrived = await client.post(
        f"/salle/rdv/{booking_id}/accueil", data={"csrf_token": csrf_from(agenda.text)}
    )
    room_url = arrived.headers["location"]
    return room_url, await client.get(room_url)


async def test_a_wrong_social_security_number_comes_back_as_typed_with_every_problem_by_field(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    room_url, room = await _room(client, settings)
    refused = await client.post(
        room_url + "/identite",
        data={
            "csrf_token": csrf_from(room.text),
            "birth_place_code": "63113",
            "nir": BAD_KEY_NIR,
            "document": "permis",
        },
    )
    assert refused.status_code == 422
    assert "3 points sont à corriger ; ce que vous avez saisi est conservé." in text(refused)
    assert _value(refused, "nir") == BAD_KEY_NIR
    assert _value(refused, "birth_place_code") == "63113"
    nir_error = _field_error(refused, "nir")
    assert nir_error is not None and "clé" in nir_error
    document_error = _field_error(refused, "document")
    assert document_error is not None and "haut niveau de confiance" in document_error
    traits_error = _field_error(refused, "traits_match")
    assert traits_error is not None and "ne correspondent pas à la pièce" in traits_error
    assert _field_error(refused, "birth_place_code") is None
    assert 'aria-invalid="true"' in refused.text.split('id="identity-nir"')[1].split(">")[0]

    # The nurse corrects the number only: the rest of what she typed was still there.
    again = await client.post(
        room_url + "/identite",
        data={
            "csrf_token": csrf_from(refused.text),
            "birth_place_code": _value(refused, "birth_place_code") or "",
            "nir": "2 58 06 63 113 001 16",
            "document": "cni",
            "traits_match": "oui",
        },
    )
    assert again.status_code == 303
    async with session_for(settings) as session:
        patient = (await session.scalars(select(Patient))).one()
    assert patient.identity_status is IdentityStatus.VALIDATED
    assert (patient.nir, patient.birth_place_code) == ("258066311300116", "63113")


async def test_a_missing_birth_place_and_a_too_long_number_are_said_next_to_their_fields(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    room_url, room = await _room(client, settings)
    no_place = await client.post(
        room_url + "/identite",
        data={"csrf_token": csrf_from(room.text), "document": "cni", "traits_match": "oui"},
    )
    assert no_place.status_code == 422
    place_error = _field_error(no_place, "birth_place_code")
    assert place_error is not None and "lieu de naissance (code INSEE)" in place_error
    assert 'value="cni" selected' in no_place.text and 'value="oui" checked' in no_place.text
    too_long = await client.post(
        room_url + "/identite",
        data={"csrf_token": csrf_from(room.text), "nir": "1" * 31, "document": "cni"},
    )
    assert too_long.status_code == 422
    assert _field_error(too_long, "nir") == (
        "N° de sécurité sociale : 30 caractères au plus (vous en avez saisi 31)."
    )
    assert _value(too_long, "nir") == "1" * 31
    async with session_for(settings) as session:
        patient = (await session.scalars(select(Patient))).one()
    assert patient.nir == "" and patient.identity_status is IdentityStatus.PROVISIONAL
    assert "Identité vérifiée" not in text(too_long)
