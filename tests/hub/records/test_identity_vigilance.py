"""Identity vigilance (RNIV): a path that did not verify an identity never changes it; what
disagrees becomes a pending identity that staff resolve; an INS from INSi is never replaced by
a typed number; every decision is in the audit trail."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import select

from hub import db
from hub.audit.models import AuditEvent
from hub.audit.service import seal_pending, verify_chain
from hub.config import Settings
from hub.identity.models import Organisation
from hub.insi.adapter import OID_INS_NIR
from hub.records.patients import IdentityStatus, Patient, Sex
from hub.records.vigilance import close_names
from hub.scheduling.models import Booking
from tests.conftest import csrf_from, login, text
from tests.support.factories import ORG_SLUG, Cpts
from tests.support.scenario import booking_now


def nir(body: str) -> str:
    """A NIR with its key (13 characters + 97 − number mod 97)."""
    return f"{body}{97 - int(body) % 97:02d}"


ODETTE_INS = "249055244800197"
OTHER_NIR = nir("2490575112001")  # valid, same sex and birth month, another person's number


async def _session_do(settings: Settings, work):  # type: ignore[no-untyped-def]
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


async def _odette(settings: Settings) -> int:
    """GARNIER Odette Marie, qualified identity (INS from INSi, checked against her ID card)."""

    async def work(session):  # type: ignore[no-untyped-def]
        org = (
            await session.scalars(select(Organisation).where(Organisation.slug == ORG_SLUG))
        ).one()
        odette = Patient(
            organisation_id=org.id,
            birth_name="GARNIER",
            birth_name_key="GARNIER",
            first_names="Odette Marie",
            birth_date=dt.date(1949, 5, 17),
            sex=Sex.FEMALE,
            birth_place_code="52448",
            nir=ODETTE_INS,
            ins_oid=OID_INS_NIR,  # returned by INSi
            identity_status=IdentityStatus.QUALIFIED,
            phone="0325112233",
            has_medecin_traitant=True,
            medecin_traitant_name="Dr Henri Lacombe",
            medecin_traitant_mssante="henri.lacombe@medecin.mssante.invalid",
        )
        session.add(odette)
        await session.commit()
        return odette.id

    return int(await _session_do(settings, work))


async def _patients(settings: Settings) -> list[Patient]:
    async def work(session):  # type: ignore[no-untyped-def]
        return list(await session.scalars(select(Patient).order_by(Patient.id)))

    return list(await _session_do(settings, work))


async def _bookings(settings: Settings) -> list[Booking]:
    async def work(session):  # type: ignore[no-untyped-def]
        return list(await session.scalars(select(Booking).order_by(Booking.id)))

    return list(await _session_do(settings, work))


async def _audit(settings: Settings, prefix: str) -> list[AuditEvent]:
    async def work(session):  # type: ignore[no-untyped-def]
        return list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.id)
            )
        )

    return list(await _session_do(settings, work))


async def _book_online(client: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    page = await client.get("/rdv/cpts-tests")
    slot_id = re.findall(r"/rdv/cpts-tests/creneau/(\d+)", page.text)[0]
    form = await client.get(f"/rdv/cpts-tests/creneau/{slot_id}")
    data = {
        "birth_name": "Garnier",
        "first_names": "Odette Marie",
        "birth_date": "1949-05-17",
        "sex": "F",
        "phone": "06 55 44 33 22",
        "email": "",
        "has_mt": "non",
        "reason": "Toux depuis une semaine",
        "consent": "oui",
        "csrf_token": csrf_from(form.text),
    }
    data.update(overrides)
    return await client.post(f"/rdv/cpts-tests/creneau/{slot_id}", data=data)


async def test_an_anonymous_booking_never_rewrites_a_qualified_identity(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    odette_id = await _odette(settings)
    booked = await _book_online(client, nir=OTHER_NIR)
    assert booked.status_code == 303

    odette = next(p for p in await _patients(settings) if p.id == odette_id)
    assert odette.nir == ODETTE_INS
    assert odette.identity_status is IdentityStatus.QUALIFIED
    assert odette.phone == "0325112233"
    assert (odette.has_medecin_traitant, odette.medecin_traitant_name) == (
        True,
        "Dr Henri Lacombe",
    )
    # The booking waits on a pending identity that holds what the booker typed.
    [booking] = await _bookings(settings)
    [pending] = [p for p in await _patients(settings) if p.id == booking.patient_id]
    assert pending.pending_of_id == odette_id
    assert pending.identity_status is IdentityStatus.PROVISIONAL
    assert (pending.nir, pending.phone, pending.has_medecin_traitant) == (
        OTHER_NIR,
        "0655443322",
        False,
    )
    for what in ("Numéro de sécurité sociale", "Téléphone", "Médecin traitant"):
        assert what in pending.pending_reason
    [event] = await _audit(settings, "identity.pending")
    assert event.target == f"patient:{pending.id}" and event.actor_kind == "anonymous"
    assert ODETTE_INS not in event.detail and OTHER_NIR not in event.detail


async def test_a_repeat_booking_that_agrees_joins_the_patient_without_a_new_record(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    odette_id = await _odette(settings)
    agreeing = await _book_online(
        client, phone="03 25 11 22 33", has_mt="oui", mt_name="Dr Henri Lacombe"
    )
    assert agreeing.status_code == 303
    first = await _book_online(client, birth_name="Moreau", first_names="Lucie")
    second = await _book_online(client, birth_name="MOREAU", first_names="Lucie")
    assert first.status_code == second.status_code == 303
    patients = await _patients(settings)
    assert len(patients) == 2  # Odette, and one record for Lucie Moreau
    bookings = await _bookings(settings)
    assert bookings[0].patient_id == odette_id
    assert bookings[1].patient_id == bookings[2].patient_id != odette_id
    assert not await _audit(settings, "identity.pending")


async def test_a_repeated_disagreeing_booking_reuses_its_pending_identity(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await _odette(settings)
    await _book_online(client, nir=OTHER_NIR)
    await _book_online(client, nir=OTHER_NIR)
    bookings = await _bookings(settings)
    assert len(bookings) == 2 and bookings[0].patient_id == bookings[1].patient_id
    assert len(await _patients(settings)) == 2
    assert len(await _audit(settings, "identity.pending")) == 1


async def _retrieved_patient_in_the_room(
    client: httpx.AsyncClient, settings: Settings, ins: str
) -> tuple[int, int, httpx.Response]:
    """A patient whose INS was récupérée from INSi, checked in by the nurse."""
    booking_id = await booking_now(settings)

    async def work(session):  # type: ignore[no-untyped-def]
        booking = await session.get(Booking, booking_id)
        patient = await session.get(Patient, booking.patient_id)
        patient.nir, patient.birth_place_code = ins, "63113"
        patient.identity_status = IdentityStatus.RETRIEVED
        patient.ins_oid = OID_INS_NIR  # as INSi returned it
        await session.commit()
        return patient.id

    patient_id = int(await _session_do(settings, work))
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    arrived = await client.post(
        f"/salle/rdv/{booking_id}/accueil", data={"csrf_token": csrf_from(agenda.text)}
    )
    room_url = arrived.headers["location"]
    return patient_id, int(room_url.rsplit("/", 1)[1]), await client.get(room_url)


async def test_a_typed_number_never_replaces_an_ins_from_insi_at_check_in(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    ins = nir("2580663113001")
    patient_id, cid, room = await _retrieved_patient_in_the_room(client, settings, ins)
    typed = nir("2580675112003")
    refused = await client.post(
        f"/salle/consultations/{cid}/identite",
        data={
            "csrf_token": csrf_from(room.text),
            "document": "cni",
            "traits_match": "oui",
            "birth_place_code": "63113",
            "nir": typed,
        },
    )
    assert refused.status_code == 409
    assert "diffère de l'INS obtenue du téléservice INSi" in text(refused)
    elsewhere = await client.post(
        f"/salle/consultations/{cid}/identite",
        data={
            "csrf_token": csrf_from(room.text),
            "document": "cni",
            "traits_match": "oui",
            "birth_place_code": "75112",
        },
    )
    assert elsewhere.status_code == 409 and "signalez-le au référent" in text(elsewhere)
    [patient] = [p for p in await _patients(settings) if p.id == patient_id]
    assert (patient.nir, patient.identity_status) == (ins, IdentityStatus.RETRIEVED)

    checked = await client.post(
        f"/salle/consultations/{cid}/identite",
        data={
            "csrf_token": csrf_from(room.text),
            "document": "cni",
            "traits_match": "oui",
            "birth_place_code": "63113",
            "nir": ins,
        },
    )
    assert checked.status_code == 303
    [patient] = [p for p in await _patients(settings) if p.id == patient_id]
    # Récupérée from INSi and checked against an ID card: qualified, with INSi's number.
    assert (patient.nir, patient.identity_status) == (ins, IdentityStatus.QUALIFIED)
    [status] = await _audit(settings, "identity.status")
    assert status.target == f"patient:{patient_id}" and "récupérée → qualifiée" in status.detail


async def test_every_identity_decision_keeps_the_audit_chain_whole(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await _odette(settings)
    await _book_online(client, nir=OTHER_NIR)

    async def work(session):  # type: ignore[no-untyped-def]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        await seal_pending(session=session, now=later)
        return await verify_chain(session=session)

    report = await _session_do(settings, work)
    assert report.sealed > 0 and report.problems == []


async def _secretary_post(
    client: httpx.AsyncClient, url: str, data: dict[str, object]
) -> httpx.Response:
    page = await client.get("/secretariat/identites")
    return await client.post(url, data={"csrf_token": csrf_from(page.text), **data})


async def test_the_secretary_says_same_person_and_the_verified_identity_wins(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    odette_id = await _odette(settings)
    await _book_online(client, nir=OTHER_NIR)
    [booking] = await _bookings(settings)
    pending_id = booking.patient_id
    await login(client, "secretariat")
    assert "1 identité en attente" in text(await client.get("/secretariat"))
    desk = text(await client.get("/secretariat/identites"))
    assert "GARNIER Odette Marie" in desk and "identité qualifiée" in desk
    assert OTHER_NIR in desk and "06 55 44 33 22" not in desk and "0655443322" in desk
    assert "ne change qu'à la vérification de la pièce d'identité en salle" in desk

    # Forcing the typed number into a qualified identity is refused.
    forced = await _secretary_post(
        client, f"/secretariat/identites/{pending_id}", {"decision": "meme", "take": ["nir"]}
    )
    assert forced.status_code == 409 and "ne changent qu'à la vérification" in text(forced)

    same = await _secretary_post(
        client, f"/secretariat/identites/{pending_id}", {"decision": "meme", "take": ["phone"]}
    )
    assert same.status_code == 303
    assert "rattaché à la fiche existante" in text(await client.get(same.headers["location"]))
    [booking] = await _bookings(settings)
    assert booking.patient_id == odette_id
    patients = {p.id: p for p in await _patients(settings)}
    odette = patients[odette_id]
    assert (odette.nir, odette.identity_status, odette.phone) == (
        ODETTE_INS,
        IdentityStatus.QUALIFIED,
        "0655443322",
    )
    assert odette.medecin_traitant_name == "Dr Henri Lacombe"  # not chosen: kept
    assert patients[pending_id].merged_into_id == odette_id
    assert "Aucune identité en attente" in text(await client.get("/secretariat/identites"))
    actions = [e.action for e in await _audit(settings, "identity.")]
    assert actions == [
        "identity.pending",
        "identity.data_taken",
        "identity.merged",
        "identity.resolved_same",
    ]
    found = text(await client.get("/secretariat", params={"nom": "garnier"}))
    assert found.count("/secretariat/patients/") == 1  # the merged record is not listed

    async def work(session):  # type: ignore[no-untyped-def]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        await seal_pending(session=session, now=later)
        return await verify_chain(session=session)

    report = await _session_do(settings, work)
    assert report.sealed >= 4 and report.problems == []


async def test_a_different_person_keeps_their_own_record_and_their_next_booking(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    odette_id = await _odette(settings)
    await _book_online(client, nir=OTHER_NIR)
    [booking] = await _bookings(settings)
    await login(client, "secretariat")
    other = await _secretary_post(
        client, f"/secretariat/identites/{booking.patient_id}", {"decision": "autre"}
    )
    assert other.status_code == 303
    patients = {p.id: p for p in await _patients(settings)}
    namesake = patients[booking.patient_id]
    assert namesake.pending_of_id is None and namesake.merged_into_id is None
    assert patients[odette_id].nir == ODETTE_INS
    # Her next booking with the same data goes straight to her own record.
    await _book_online(client, nir=OTHER_NIR)
    assert [b.patient_id for b in await _bookings(settings)] == [namesake.id, namesake.id]
    assert [e.action for e in await _audit(settings, "identity.")] == [
        "identity.pending",
        "identity.resolved_different",
        "identity.distinct",
    ]
    # Said to be two persons: not offered again as a probable duplicate.
    assert "Doublons probables (0)" in text(await client.get("/secretariat/identites"))


async def test_probable_duplicates_are_listed_and_merged_into_the_verified_record(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    await _book_online(client, birth_name="Lefebvre", first_names="Anne", birth_date="1960-01-08")
    await _book_online(
        client, birth_name="Lefèvre", first_names="Anne-Sophie", birth_date="1960-01-08"
    )
    await _book_online(client, birth_name="Lefort", first_names="Anne", birth_date="1960-01-08")
    await _book_online(client, birth_name="Lefortt", first_names="Anne", birth_date="1960-01-08")
    first, second, third, fourth = await _patients(settings)

    async def validate(session):  # type: ignore[no-untyped-def]
        patient = await session.get(Patient, second.id)
        patient.identity_status = IdentityStatus.VALIDATED
        await session.commit()

    await _session_do(settings, validate)
    await login(client, "secretariat")
    desk = text(await client.get("/secretariat/identites"))
    assert "Doublons probables (2)" in desk
    assert "LEFEBVRE Anne" in desk and "LEFÈVRE Anne-Sophie" in desk
    # Two sisters-in-law, checked on the phone: kept apart and not offered again.
    apart = await _secretary_post(
        client,
        "/secretariat/doublons",
        {"first": third.id, "second": fourth.id, "action": "distincts"},
    )
    assert apart.status_code == 303
    desk = text(await client.get(apart.headers["location"]))
    assert "ne seront plus proposées" in desk and "Doublons probables (1)" in desk
    assert "LEFORT" not in desk

    refused = await _secretary_post(
        client, "/secretariat/doublons", {"first": first.id, "second": second.id, "keep": first.id}
    )
    assert refused.status_code == 409 and "Gardez la fiche dont l'identité est validée" in text(
        refused
    )
    merged = await _secretary_post(
        client, "/secretariat/doublons", {"first": first.id, "second": second.id, "keep": second.id}
    )
    assert merged.status_code == 303
    bookings = await _bookings(settings)
    assert [b.patient_id for b in bookings] == [second.id, second.id, third.id, fourth.id]
    kept = {p.id: p for p in await _patients(settings)}[second.id]
    assert (kept.birth_name, kept.identity_status) == ("LEFÈVRE", IdentityStatus.VALIDATED)
    assert "Doublons probables (0)" in text(await client.get("/secretariat/identites"))
    [event] = await _audit(settings, "identity.merged")
    assert event.target == f"patient:{second.id}" and f"patient:{first.id}" in event.detail


async def test_the_nurse_resolves_a_pending_identity_before_checking_the_id_card(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    known = nir("2580663113001")

    async def lambert(session):  # type: ignore[no-untyped-def]
        org = (
            await session.scalars(select(Organisation).where(Organisation.slug == ORG_SLUG))
        ).one()
        patient = Patient(
            organisation_id=org.id,
            birth_name="LAMBERT",
            birth_name_key="LAMBERT",
            first_names="Odile",
            birth_date=dt.date(1958, 6, 1),
            sex=Sex.FEMALE,
            birth_place_code="63113",
            nir=known,
            ins_oid=OID_INS_NIR,  # returned by INSi
            identity_status=IdentityStatus.QUALIFIED,
            phone="0325998877",
        )
        session.add(patient)
        await session.commit()
        return patient.id

    known_id = int(await _session_do(settings, lambert))
    booking_id = await booking_now(settings)  # booked with another phone number
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    arrived = await client.post(
        f"/salle/rdv/{booking_id}/accueil", data={"csrf_token": csrf_from(agenda.text)}
    )
    room_url = arrived.headers["location"]
    cid = int(room_url.rsplit("/", 1)[1])
    assert "identité en attente" in text(agenda)
    room = await client.get(room_url)
    assert "Identité en attente" in text(room) and "0611223344" in text(room)
    early = await client.post(
        f"/salle/consultations/{cid}/identite",
        data={"csrf_token": csrf_from(room.text), "document": "cni", "traits_match": "oui"},
    )
    assert early.status_code == 409 and "L'identité de ce patient est en attente" in text(early)

    same = await client.post(
        f"/salle/consultations/{cid}/identite-en-attente",
        data={"csrf_token": csrf_from(room.text), "decision": "meme"},
    )
    assert same.status_code == 303
    room = await client.get(room_url)
    assert "Identité en attente" not in text(room)
    checked = await client.post(
        f"/salle/consultations/{cid}/identite",
        data={"csrf_token": csrf_from(room.text), "document": "cni", "traits_match": "oui"},
    )
    assert checked.status_code == 303
    [booking] = await _bookings(settings)
    assert booking.patient_id == known_id
    [patient] = [p for p in await _patients(settings) if p.id == known_id]
    assert (patient.nir, patient.phone, patient.identity_status) == (
        known,
        "0325998877",
        IdentityStatus.QUALIFIED,
    )
    resolved = await _audit(settings, "identity.resolved_same")
    assert len(resolved) == 1 and resolved[0].actor_kind == "user"


async def test_a_provisional_identity_is_completed_but_never_silently_overwritten(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    lucie = {"birth_name": "Moreau", "first_names": "Lucie", "phone": "06 98 76 54 32"}
    await _book_online(client, **lucie)
    await _book_online(client, **lucie, email="lucie@example.org")
    [patient] = await _patients(settings)
    assert (patient.phone, patient.email) == ("0698765432", "lucie@example.org")
    await _book_online(client, **{**lucie, "phone": "07 11 11 11 11"})
    patients = await _patients(settings)
    assert patients[0].phone == "0698765432"
    assert patients[1].pending_of_id == patients[0].id
    assert patients[1].pending_reason == "Téléphone"
    assert [b.patient_id for b in await _bookings(settings)] == [
        patients[0].id,
        patients[0].id,
        patients[1].id,
    ]


async def test_changing_a_strict_trait_at_the_check_downgrades_then_revalidates_traced(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    booking_id = await booking_now(settings)

    async def validated(session):  # type: ignore[no-untyped-def]
        booking = await session.get(Booking, booking_id)
        patient = await session.get(Patient, booking.patient_id)
        patient.birth_place_code, patient.identity_status = "63113", IdentityStatus.VALIDATED
        await session.commit()
        return patient.id

    patient_id = int(await _session_do(settings, validated))
    await login(client, "infirmiere")
    agenda = await client.get("/infirmier")
    arrived = await client.post(
        f"/salle/rdv/{booking_id}/accueil", data={"csrf_token": csrf_from(agenda.text)}
    )
    room = await client.get(arrived.headers["location"])
    checked = await client.post(
        arrived.headers["location"] + "/identite",
        data={
            "csrf_token": csrf_from(room.text),
            "document": "passeport",
            "traits_match": "oui",
            "birth_place_code": "75112",
        },
    )
    assert checked.status_code == 303
    [patient] = [p for p in await _patients(settings) if p.id == patient_id]
    assert (patient.birth_place_code, patient.identity_status) == (
        "75112",
        IdentityStatus.VALIDATED,
    )
    events = [(e.action, e.detail) for e in await _audit(settings, "identity.")]
    assert events == [
        (
            "identity.downgraded",
            "validée → provisoire (lieu de naissance modifié à la vérification)",
        ),
        ("identity.status", "provisoire → validée (pièce d'identité vérifiée)"),
    ]


async def test_the_secretary_creating_a_caller_who_disagrees_is_told_the_identity_is_pending(
    client: httpx.AsyncClient, cpts: Cpts, settings: Settings
) -> None:
    odette_id = await _odette(settings)
    await login(client, "secretariat")
    home = await client.get("/secretariat")
    created = await client.post(
        "/secretariat/patients",
        data={
            "birth_name": "GARNIER",
            "first_names": "Odette Marie",
            "birth_date": "1949-05-17",
            "sex": "F",
            "phone": "06 55 44 33 22",
            "csrf_token": csrf_from(home.text),
        },
    )
    assert created.status_code == 303
    page = text(await client.get(created.headers["location"]))
    assert "Identité en attente" in page and "Dire s'il s'agit de la même personne" in page
    odette = next(p for p in await _patients(settings) if p.id == odette_id)
    assert odette.phone == "0325112233"
    [event] = await _audit(settings, "identity.pending")
    assert event.actor_kind == "user"


@pytest.mark.parametrize(
    ("first", "second", "close"),
    [
        (("LEFÈVRE", "Anne"), ("LEFEVRE", "Anne"), True),  # an accent
        (("SAINT-MARTIN", "Jean"), ("SAINT MARTIN", "Jean"), True),  # a hyphen
        (("LEFEBVRE", "Anne"), ("LEFEVRE", "Anne"), True),  # one letter more
        (("DUPONT", "Anne Marie"), ("DUPONT", "Anne"), True),  # fewer first names
        (("DUPONT", "Annie"), ("DUPONT", "Anne"), True),  # one letter differs
        (("LEFORT", "Anne"), ("LEFEVRE", "Anne"), False),
        (("DUPONT", "Marie"), ("DUPONT", "Anne"), False),
        (("MARTIN", "Jean"), ("MARTINEZ", "Jean"), False),
    ],
)
def test_close_names_are_probable_duplicates(
    first: tuple[str, str], second: tuple[str, str], close: bool
) -> None:
    def record(names: tuple[str, str]) -> Patient:
        return Patient(birth_name=names[0], first_names=names[1])

    assert close_names(record(first), record(second)) is close
    assert close_names(record(second), record(first)) is close
