"""The room asks the national INSi teleservice (a loopback SOAP server answering the guide's
shapes): one identity found stores the INS and INSi's traits and makes the identity
``récupérée``, and only then does the document check make it ``qualifiée``. No identity,
several, an error, or no INSi at all change nothing and say why in French."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select

from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.consultation.insi_query import NONE_FOUND, SEVERAL_FOUND, UNAVAILABLE, UNREACHABLE
from hub.insi.adapter import OID_INS_NIR, InsIdentity, Traits
from hub.records.patients import IdentityStatus, Patient
from tests.conftest import csrf_from, login, text
from tests.support.factories import Cpts, session_for
from tests.support.insi import BAD_REQUEST, FAULT, SEVERAL, LoopbackInsi, insi
from tests.support.scenario import booking_now

__all__ = ["insi"]

LAMBERT = InsIdentity(
    ins="258066311300116",
    oid=OID_INS_NIR,
    traits=Traits("LAMBERT", "ODILE MARIE", dt.date(1958, 6, 1), "F", "63113"),
)


@pytest.fixture
def settings(settings: Settings, insi: LoopbackInsi, request: pytest.FixtureRequest) -> Settings:
    """The hub with the loopback INSi, except for the tests named "without_insi"."""
    if "without_insi" in request.node.name:
        return settings
    return settings.model_copy(update={"insi_url": insi.url})


async def _room(client: httpx.AsyncClient, settings: Settings) -> tuple[str, httpx.Response]:
    booking_id = await booking_now(settings)
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    arrived = await client.post(
        f"/salle/rdv/{booking_id}/accueil", data={"csrf_token": csrf_from(agenda.text)}
    )
    room_url = arrived.headers["location"]
    return room_url, await client.get(room_url)


async def _patient(settings: Settings) -> Patient:
    async with session_for(settings) as session:
        return (
            await session.scalars(select(Patient).where(Patient.merged_into_id.is_(None)))
        ).one()


async def _rename(settings: Settings, birth_name: str) -> None:
    async with session_for(settings) as session:
        patient = (await session.scalars(select(Patient))).one()
        patient.birth_name = birth_name
        await session.commit()


async def _actions(settings: Settings) -> list[str]:
    async with session_for(settings) as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def _check_document(client: httpx.AsyncClient, room_url: str) -> httpx.Response:
    room = await client.get(room_url)
    return await client.post(
        room_url + "/identite",
        data={
            "csrf_token": csrf_from(room.text),
            "birth_place_code": "63113",
            "document": "cni",
            "traits_match": "oui",
        },
    )


async def _ask_insi(client: httpx.AsyncClient, room_url: str) -> httpx.Response:
    room = await client.get(room_url)
    return await client.post(room_url + "/insi", data={"csrf_token": csrf_from(room.text)})


async def test_insi_s_identity_is_recuperee_and_the_document_check_then_qualifies_it(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, insi: LoopbackInsi
) -> None:
    insi.add(LAMBERT)
    room_url, room = await _room(client, settings)
    assert "Interroger INSi" in text(room)
    assert "Statut de l'identité : provisoire" in " ".join(text(room).split()).replace(
        '<strong class="identity-status">', ""
    ).replace("</strong>", "")

    asked = await _ask_insi(client, room_url)
    assert asked.status_code == 303
    patient = await _patient(settings)
    assert patient.identity_status is IdentityStatus.RETRIEVED
    assert (patient.nir, patient.ins_oid) == (LAMBERT.ins, OID_INS_NIR)
    # INSi's traits replace the record's, as returned (upper case, every first name).
    assert (patient.birth_name, patient.first_names, patient.birth_place_code) == (
        "LAMBERT",
        "ODILE MARIE",
        "63113",
    )
    assert (insi.requests[-1]["Prenom"], insi.requests[-1]["DateNaissance"]) == (
        "Odile",
        "1958-06-01",
    )
    assert "récupérée" in text(await client.get(room_url))

    checked = await _check_document(client, room_url)
    assert checked.status_code == 303
    assert (await _patient(settings)).identity_status is IdentityStatus.QUALIFIED
    actions = await _actions(settings)
    assert actions.index("identity.insi") < actions.index("identity.status")
    assert actions.count("identity.status") == 2  # récupérée, then qualifiée


async def test_without_insi_the_screen_says_so_and_a_checked_identity_is_only_validee(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    room_url, room = await _room(client, settings)
    assert UNAVAILABLE in text(room)
    assert "Interroger INSi" not in text(room)
    refused = await _ask_insi(client, room_url)
    assert refused.status_code == 409
    assert UNAVAILABLE in text(refused)

    # A number read from the Vitale card and a document checked twice: never "qualifiée".
    room = await client.get(room_url)
    await client.post(
        room_url + "/identite",
        data={
            "csrf_token": csrf_from(room.text),
            "birth_place_code": "63113",
            "nir": "2 58 06 63 113 001 16",
            "document": "passeport",
            "traits_match": "oui",
        },
    )
    assert (await _check_document(client, room_url)).status_code == 303
    patient = await _patient(settings)
    assert patient.identity_status is IdentityStatus.VALIDATED
    assert (patient.nir, patient.ins_oid) == ("258066311300116", "")


@pytest.mark.parametrize(
    ("birth_name", "said"),
    [
        ("Inconnue", NONE_FOUND),
        (SEVERAL, SEVERAL_FOUND),
        (FAULT, UNREACHABLE),
        (BAD_REQUEST, "Le téléservice INSi a refusé la demande (code 99)"),
    ],
)
async def test_no_identity_several_or_an_error_change_nothing_and_say_why(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, birth_name: str, said: str
) -> None:
    room_url, _ = await _room(client, settings)
    await _rename(settings, birth_name)
    refused = await _ask_insi(client, room_url)
    assert refused.status_code == 409
    assert said in text(refused)
    patient = await _patient(settings)
    assert patient.identity_status is IdentityStatus.PROVISIONAL
    assert (patient.nir, patient.ins_oid, patient.birth_name) == ("", "", birth_name)
    assert {"identity.insi_none", "identity.insi_error"} & set(await _actions(settings))
    # The document check alone validates it; it never qualifies it.
    await _check_document(client, room_url)
    assert (await _patient(settings)).identity_status is IdentityStatus.VALIDATED


async def test_another_ins_for_an_identity_already_from_insi_is_refused(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, insi: LoopbackInsi
) -> None:
    insi.add(LAMBERT)
    room_url, _ = await _room(client, settings)
    assert (await _ask_insi(client, room_url)).status_code == 303
    insi.add(InsIdentity("258066311300213", OID_INS_NIR, LAMBERT.traits))
    refused = await _ask_insi(client, room_url)
    assert refused.status_code == 409
    assert "INS différente de celle déjà obtenue" in text(refused)
    patient = await _patient(settings)
    assert (patient.nir, patient.identity_status) == (LAMBERT.ins, IdentityStatus.RETRIEVED)
    assert "identity.insi_conflict" in await _actions(settings)
