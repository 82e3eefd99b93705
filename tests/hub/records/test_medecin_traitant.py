"""The médecin traitant as the secretary records them: family and given names and RPPS in
their own fields, checked with French messages next to each field, kept as typed when refused."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.identity.models import Role
from hub.records.patients import Patient
from hub.records.rpps import rpps_problem
from tests.conftest import csrf_from, login, text
from tests.support.access_world import ACCOUNTS, World, build_world
from tests.support.factories import Cpts

VALID_RPPS = "10001234565"


def test_an_rpps_is_eleven_digits_with_a_luhn_key() -> None:
    assert rpps_problem(VALID_RPPS) is None
    assert rpps_problem("100 0123 4565") is None  # as printed on a card
    assert "chiffre de contrôle" in (rpps_problem("10001234566") or "")
    assert "11 chiffres" in (rpps_problem("1000123456") or "")
    assert "11 chiffres" in (rpps_problem("1000123456a") or "")


async def _stored(settings: Settings, patient_id: int) -> Patient:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            return (await session.scalars(select(Patient).where(Patient.id == patient_id))).one()
    finally:
        await engine.dispose()


async def _patient_page(client: httpx.AsyncClient, settings: Settings) -> tuple[World, int, str]:
    world = await build_world(settings)
    username, password = ACCOUNTS[Role.SECRETARY]
    await login(client, username, password)
    patient_id = int(world.own.values["patient_id"])
    page = await client.get(f"/secretariat/patients/{patient_id}")
    return world, patient_id, page.text


async def test_the_secretary_records_the_medecin_traitant_with_rpps_and_names(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    _, patient_id, page = await _patient_page(client, settings)
    response = await client.post(
        f"/secretariat/patients/{patient_id}/medecin-traitant",
        data={
            "has_mt": "oui",
            "mt_family": "Vasseur",
            "mt_given": "Claire",
            "mt_rpps": "100 0123 4565",
            "mt_mssante": "Claire.Vasseur@medecin.mssante.fr",
            "csrf_token": csrf_from(page),
        },
    )
    assert response.status_code == 303
    again = text(await client.get(f"/secretariat/patients/{patient_id}"))
    assert "Dr Claire VASSEUR (RPPS 10001234565)" in again
    stored = await _stored(settings, patient_id)
    assert (
        stored.medecin_traitant_family_name,
        stored.medecin_traitant_given_name,
        stored.medecin_traitant_rpps,
        stored.medecin_traitant_mssante,
    ) == ("VASSEUR", "Claire", VALID_RPPS, "claire.vasseur@medecin.mssante.fr")


async def test_a_wrong_rpps_and_a_missing_name_are_said_next_to_their_fields(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    _, patient_id, page = await _patient_page(client, settings)
    before = await _stored(settings, patient_id)
    response = await client.post(
        f"/secretariat/patients/{patient_id}/medecin-traitant",
        data={
            "has_mt": "oui",
            "mt_given": "Claire",
            "mt_rpps": "10001234566",
            "mt_mssante": "claire.vasseur@medecin.mssante.fr",
            "csrf_token": csrf_from(page),
        },
    )
    assert response.status_code == 422
    body = response.text
    assert 'id="mt-mt_rpps-error"' in body and "chiffre de contrôle erroné" in body
    assert 'id="mt-mt_family-error"' in body and "Indiquez le nom du médecin traitant" in body
    assert 'value="10001234566"' in body and 'value="Claire"' in body  # what was typed is kept
    after = await _stored(settings, patient_id)
    assert (after.medecin_traitant_name, after.medecin_traitant_rpps) == (
        before.medecin_traitant_name,
        before.medecin_traitant_rpps,
    )


async def test_a_name_too_long_is_said_next_to_its_field_with_the_other_problems(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    _, patient_id, page = await _patient_page(client, settings)
    response = await client.post(
        f"/secretariat/patients/{patient_id}/medecin-traitant",
        data={
            "has_mt": "oui",
            "mt_family": "V" * 150,
            "mt_given": "Claire",
            "mt_rpps": "10001234566",
            "csrf_token": csrf_from(page),
        },
    )
    assert response.status_code == 422
    body = response.text
    assert "Demande refusée" not in body and "« mt_family »" not in body
    assert 'id="mt-mt_family-error"' in body
    assert "Nom du médecin traitant : 100 caractères au plus (vous en avez saisi 150)." in body
    assert 'id="mt-mt_rpps-error"' in body and "chiffre de contrôle erroné" in body
    assert 'value="' + "V" * 150 + '"' in body and 'value="Claire"' in body
