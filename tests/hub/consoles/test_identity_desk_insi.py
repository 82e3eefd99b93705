"""The secretariat's identity desk asks the national INSi teleservice (the loopback SOAP
server answering the guide's shapes), through the room's calls: a recherche makes the identity
``récupérée`` with INSi's INS and traits, shown beside the record's, never ``qualifiée``; an INS
already obtained is verified; an error or no INSi change nothing and say why; every call is in
the audit trail under the secretary's name."""

from __future__ import annotations

import datetime as dt

import httpx
import lxml.html
import pytest
from sqlalchemy import select

from hub.audit.models import AuditEvent
from hub.config import Settings
from hub.consoles.identity_desk import INSI_UNAVAILABLE
from hub.consultation.insi_query import NONE_FOUND, UNREACHABLE
from hub.identity.models import User
from hub.insi.adapter import OID_INS_NIR, InsIdentity, Traits
from hub.records.patients import IdentityStatus, Patient
from tests.conftest import csrf_from, login, text
from tests.support import factories as make
from tests.support.factories import Cpts, session_for
from tests.support.insi import FAULT, LoopbackInsi, insi

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


async def _patient_id(
    settings: Settings, cpts: Cpts, status: IdentityStatus = IdentityStatus.PROVISIONAL
) -> int:
    async with session_for(settings) as session:
        patient = await make.patient(
            session, organisation_id=cpts.organisation_id, today=dt.date.today()
        )
        patient.identity_status = status
        await session.commit()
        return patient.id


async def _patient(settings: Settings, patient_id: int) -> Patient:
    async with session_for(settings) as session:
        return await session.get_one(Patient, patient_id)


async def _events(settings: Settings) -> list[tuple[str, str]]:
    """The identity events: action and the username of who did it."""
    async with session_for(settings) as session:
        rows = await session.execute(
            select(AuditEvent.action, User.username)
            .join(User, User.id == AuditEvent.actor_id, isouter=True)
            .where(AuditEvent.action.like("identity.%"))
            .order_by(AuditEvent.id)
        )
        return [(action, username or "") for action, username in rows]


async def _ask(client: httpx.AsyncClient, patient_id: int) -> httpx.Response:
    page = await client.get(f"/secretariat/identites/patients/{patient_id}")
    return await client.post(
        f"/secretariat/identites/patients/{patient_id}/insi",
        data={"csrf_token": csrf_from(page.text)},
    )


def _flat(response: httpx.Response) -> str:
    """The page's words as a reader sees them (tags dropped, cells apart)."""
    return " ".join(" ".join(lxml.html.fromstring(response.text).itertext()).split())


async def test_a_search_from_the_desk_makes_the_identity_recuperee_beside_the_record_s_traits(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, insi: LoopbackInsi
) -> None:
    insi.add(LAMBERT)
    patient_id = await _patient_id(settings, cpts)
    await login(client, "secretariat")
    file = await client.get(f"/secretariat/patients/{patient_id}")
    assert f'href="/secretariat/identites/patients/{patient_id}"' in file.text
    desk = await client.get(f"/secretariat/identites/patients/{patient_id}")
    assert "Interroger INSi" in text(desk)

    asked = await _ask(client, patient_id)
    assert asked.status_code == 200
    shown = _flat(asked)
    # The record's traits before the call, beside INSi's (upper case, every first name, INS).
    assert "Nom de naissance LAMBERT LAMBERT Prénoms Odile ODILE MARIE (différent)" in shown
    assert "Date de naissance 01/06/1958 01/06/1958 Sexe féminin féminin" in shown
    assert "Lieu de naissance (code INSEE) — 63113 (différent)" in shown
    assert "INS — 258066311300116 (INS-NIR)" in shown
    assert "l'identité est « récupérée »" in shown
    patient = await _patient(settings, patient_id)
    assert patient.identity_status is IdentityStatus.RETRIEVED
    assert (patient.nir, patient.ins_oid, patient.first_names) == (
        LAMBERT.ins,
        OID_INS_NIR,
        "ODILE MARIE",
    )
    assert insi.requests[-1]["operation"] == "RechercheInsAvecTraitsIdentite"
    assert ("identity.insi", "secretariat") in await _events(settings)


async def test_the_desk_never_qualifies_a_validated_identity(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, insi: LoopbackInsi
) -> None:
    """An identity already checked on a document at the room is only ``récupérée`` from the
    desk: qualifying needs the nurse's document check on top of INSi's answer."""
    insi.add(LAMBERT)
    patient_id = await _patient_id(settings, cpts, IdentityStatus.VALIDATED)
    await login(client, "secretariat")
    assert (await _ask(client, patient_id)).status_code == 200
    assert (await _patient(settings, patient_id)).identity_status is IdentityStatus.RETRIEVED


async def test_an_ins_already_obtained_is_verified_and_a_refusal_changes_nothing(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, insi: LoopbackInsi
) -> None:
    insi.add(LAMBERT)
    patient_id = await _patient_id(settings, cpts)
    await login(client, "secretariat")
    await _ask(client, patient_id)  # récupérée
    desk = await client.get(f"/secretariat/identites/patients/{patient_id}")
    assert "Vérifier l'INS auprès d'INSi" in text(desk)

    verified = await _ask(client, patient_id)
    assert verified.status_code == 200
    assert "INSi confirme l'INS et les traits de la fiche" in text(verified)
    assert insi.requests[-1]["operation"] == "VerificationIns"
    assert insi.requests[-1]["NumIdentifiant"] + insi.requests[-1]["Cle"] == LAMBERT.ins

    insi.known.clear()  # the national referential no longer knows this INS with these traits
    refused = await _ask(client, patient_id)
    assert "INSi ne reconnaît pas l'INS de ce patient" in text(refused)
    patient = await _patient(settings, patient_id)
    assert (patient.nir, patient.identity_status) == (LAMBERT.ins, IdentityStatus.RETRIEVED)
    actions = [action for action, _ in await _events(settings)]
    assert actions.count("identity.insi_verified") == 1
    assert actions.count("identity.insi_mismatch") == 1


@pytest.mark.parametrize(("birth_name", "said"), [("Inconnue", NONE_FOUND), (FAULT, UNREACHABLE)])
async def test_no_identity_or_an_error_change_nothing_and_say_why(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings, birth_name: str, said: str
) -> None:
    patient_id = await _patient_id(settings, cpts)
    async with session_for(settings) as session:
        (await session.get_one(Patient, patient_id)).birth_name = birth_name
        await session.commit()
    await login(client, "secretariat")
    refused = await _ask(client, patient_id)
    assert refused.status_code == 409
    assert said in text(refused)
    patient = await _patient(settings, patient_id)
    assert (patient.identity_status, patient.nir) == (IdentityStatus.PROVISIONAL, "")
    assert {"identity.insi_none", "identity.insi_error"} & {
        action for action, _ in await _events(settings)
    }


async def test_without_insi_the_desk_says_so(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    patient_id = await _patient_id(settings, cpts)
    await login(client, "secretariat")
    desk = await client.get(f"/secretariat/identites/patients/{patient_id}")
    assert INSI_UNAVAILABLE in text(desk)
    assert "Interroger INSi" not in text(desk)
    csrf = csrf_from((await client.get("/secretariat/identites")).text)
    refused = await client.post(
        f"/secretariat/identites/patients/{patient_id}/insi", data={"csrf_token": csrf}
    )
    assert refused.status_code == 409
    assert INSI_UNAVAILABLE in text(refused)
