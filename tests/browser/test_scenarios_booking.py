"""Scenarios 2, 3, 4 and 6 of SCENARIOS.md walked in Chromium, by the people they name, in the
product's own pages: a patient booked by phone, online booking with a red flag and ages, a
no-show and the waiting list, the disability facility's reserved session. A screenshot at
each key step goes to tests/artifacts/scenarios/."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from hub.config import Settings
from hub.identity import service as identity
from hub.identity.models import Cabin, Site
from hub.records.observations import Observation
from hub.scheduling.models import Booking, BookingStatus, Reservation, Slot
from hub.scheduling.slots import free_slots
from tests.browser.walk import (
    deliver,
    link_in,
    measure,
    on_a_phone,
    shot,
    staff,
    texts_to,
    trolley,
)
from tests.hub.notify.conftest import SmsWebhook
from tests.hub.notify.conftest import sms_webhook as sms_webhook  # a fixture
from tests.support import factories as make
from tests.support.factories import (
    CLOS_MORTIER,
    FACILITY,
    LA_NOUE,
    MOBILE_KIT,
    ORG_SLUG,
    Cpts,
    session_for,
)
from tests.support.live import LiveHub
from tests.support.scenario import begun_today

pytestmark = pytest.mark.browser


async def _site_id(settings: Settings, name: str) -> int:
    async with session_for(settings) as session:
        return (await session.scalars(select(Site.id).where(Site.name == name))).one()


async def _slot_at(settings: Settings, site: str, starts_at: dt.datetime) -> int:
    async with session_for(settings) as session:
        made = await make.slot(session, site_id=await _site_id(settings, site), starts_at=starts_at)
        await session.commit()
        return made.id


async def _slot_start(settings: Settings, slot_id: int) -> dt.datetime:
    async with session_for(settings) as session:
        start = (await session.scalars(select(Slot.starts_at).where(Slot.id == slot_id))).one()
        return start if start.tzinfo else start.replace(tzinfo=dt.UTC)


async def _booking_of_slot(settings: Settings, slot_id: int) -> Booking:
    async with session_for(settings) as session:
        return (
            await session.scalars(
                select(Booking).where(
                    Booking.slot_id == slot_id, Booking.status != BookingStatus.CANCELLED
                )
            )
        ).one()


def _in(hours: float) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).replace(second=0, microsecond=0)


async def test_scenario_2_an_elderly_patient_books_by_phone(
    browser: Browser, live_hub: LiveHub, cpts: Cpts, settings: Settings, sms_webhook: SmsWebhook
) -> None:
    # She came last year (a booking at La Noue): the CPTS knows her, by her landline only.
    async with session_for(settings) as session:
        last_year = dt.datetime.now(dt.UTC) - dt.timedelta(days=330)
        old_slot = await make.slot(
            session, site_id=cpts.site_ids[LA_NOUE], starts_at=last_year + dt.timedelta(days=1)
        )
        patient = await make.patient(
            session,
            organisation_id=cpts.organisation_id,
            today=last_year.date(),
            birth_name="Moreau",
            first_names="Jeannine",
            birth_date=dt.date(1948, 2, 3),
            phone="03 25 11 22 33",
        )
        await session.commit()
        await make.booking(session, slot_id=old_slot.id, patient_id=patient.id, now=last_year)

    secretary = await staff(browser, live_hub, "secretariat")
    await secretary.get_by_label("Nom", exact=True).fill("moreau")
    await secretary.get_by_label("Date de naissance").first.fill("1948-02-03")
    await secretary.get_by_role("button", name="Chercher").click()
    found = secretary.locator("tr", has_text="MOREAU Jeannine")
    await expect(found).to_contain_text("03/02/1948")
    await expect(found).to_contain_text("03 25 11 22 33")
    await shot(secretary, 2, "recherche")
    await found.get_by_role("link", name="Ouvrir").click()
    await expect(secretary.get_by_role("heading", name="MOREAU Jeannine")).to_be_visible()
    await expect(secretary.get_by_text("Rappels des rendez-vous : aucun")).to_be_visible()
    # The earliest free slot across both rooms is preselected.
    slots = secretary.locator("#book-slot_id input[type=radio]")
    await expect(slots.first).to_be_checked()
    async with session_for(settings) as session:  # whichever room opens first, this day
        [earliest] = await free_slots(
            session=session,
            site_ids=[cpts.site_ids[CLOS_MORTIER], cpts.site_ids[LA_NOUE]],
            after=dt.datetime.now(dt.UTC),
            limit=1,
        )
    assert await slots.first.get_attribute("value") == str(earliest.slot.id)
    labels = await secretary.locator("#book-slot_id label").all_inner_texts()
    assert all(CLOS_MORTIER in t or LA_NOUE in t for t in labels)
    await shot(secretary, 2, "fiche-patiente")

    # No mobile of her own: her daughter's takes the reminders. A digit missed is said at once.
    contact = secretary.locator("section", has=secretary.get_by_role("heading", name="Coordonnées"))
    await contact.get_by_label("Téléphone portable").fill("06 98 76 54")
    await contact.get_by_role("button", name="Enregistrer les coordonnées").click()
    await expect(secretary.get_by_label("Téléphone portable")).to_have_accessible_description(
        re.compile("10 chiffres attendus")
    )
    await expect(secretary.get_by_label("Téléphone portable")).to_have_value("06 98 76 54")
    await shot(secretary, 2, "portable-incomplet")
    await secretary.get_by_label("Téléphone portable").fill("06 98 76 54 32")
    await secretary.get_by_role("button", name="Enregistrer les coordonnées").click()
    await expect(secretary.get_by_role("status")).to_have_text("Coordonnées enregistrées.")
    await expect(secretary.get_by_text("Rappels des rendez-vous : par SMS.")).to_be_visible()

    # She cannot come before the day after tomorrow: the slots offered start on that day.
    paris_today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    await secretary.get_by_label("Créneaux à partir du").fill(
        (paris_today + dt.timedelta(days=2)).isoformat()
    )
    await secretary.get_by_role("button", name="Afficher").click()
    await expect(slots.first).to_be_checked()
    chosen = await slots.first.get_attribute("value")
    assert chosen is not None
    booking_start = await _slot_start(settings, int(chosen))
    assert booking_start.astimezone(ZoneInfo("Europe/Paris")).date() >= paris_today + dt.timedelta(
        days=2
    )
    await secretary.get_by_label("Motif").fill("Toux et fièvre depuis deux jours")
    await secretary.get_by_role("button", name="Réserver", exact=True).click()
    await expect(secretary.get_by_role("heading", name="À relire au patient")).to_be_visible()
    await expect(secretary.locator(".readback")).to_contain_text(
        "Jeannine MOREAU, votre téléconsultation est le"
    )
    await expect(secretary.locator(".readback")).to_contain_text("Un rappel sera envoyé la veille")
    await shot(secretary, 2, "relecture")

    # The day before, the reminder reaches the daughter's mobile; she confirms from its link.
    booking = await _booking_of_slot(settings, int(chosen))
    assert await deliver(settings, sms_webhook, booking.starts_at - dt.timedelta(hours=23)) >= 1
    reminder = texts_to(sms_webhook, "+33698765432")[-1]
    assert reminder.startswith("Rappel : téléconsultation")
    daughter = await on_a_phone(browser)
    await daughter.goto(link_in(reminder))
    await daughter.get_by_role("button", name="Je confirme ma venue").click()
    await expect(daughter.get_by_role("status")).to_have_text(
        "Merci : votre présence est confirmée."
    )
    await shot(daughter, 2, "confirmation-par-la-fille")
    await secretary.reload()
    await expect(secretary.locator("dl.facts, .readback").first).to_be_visible()


async def test_scenario_3_online_booking_with_a_red_flag_and_ages(
    browser: Browser, live_hub: LiveHub, cpts: Cpts, settings: Settings
) -> None:
    await _slot_at(settings, CLOS_MORTIER, _in(3))
    patient = await on_a_phone(browser)
    await patient.goto(f"{live_hub.url}/rdv/{ORG_SLUG}")
    # The earliest free slot of the CPTS's rooms is offered first: the one made above, unless
    # a room opens before it (early on an opening day).
    async with session_for(settings) as session:
        [first] = await free_slots(
            session=session,
            site_ids=list(cpts.site_ids.values()),
            after=dt.datetime.now(dt.UTC),
            limit=1,
        )
    earliest = patient.locator(".primary-link")
    assert await earliest.get_attribute("href") == f"/rdv/{ORG_SLUG}/creneau/{first.slot.id}"
    await shot(patient, 3, "creneaux")
    await earliest.click()
    await patient.get_by_label("Nom de naissance").fill("Lefèvre")
    await patient.get_by_label("Prénom(s) de naissance").fill("Marie")
    await patient.get_by_label("Date de naissance").fill("1985-04-12")
    await patient.get_by_label("Féminin").check()
    await patient.get_by_label("Téléphone portable").fill("06 12 34 56 78")
    await patient.get_by_label("Je n'ai pas de médecin traitant").check()
    await patient.get_by_label("Pourquoi souhaitez-vous consulter ?").fill("Mal de gorge")
    await patient.get_by_label("J'accepte que la CPTS enregistre").check()
    await patient.get_by_role("button", name="Réserver ce créneau").click()
    await expect(patient.get_by_role("status")).to_contain_text("Votre rendez-vous est enregistré")
    await shot(patient, 3, "rendez-vous-dans-trois-heures")

    # Chest pain: booking stops, the page says to call the 15 now.
    other = await on_a_phone(browser)
    await other.goto(f"{live_hub.url}/rdv/{ORG_SLUG}")
    await other.locator(".primary-link").click()
    await other.get_by_label("Douleur dans la poitrine").check()
    await other.get_by_role("button", name="J'ai coché un signe : que faire ?").click()
    await expect(other.get_by_role("heading", name="Appelez le 15 maintenant")).to_be_visible()
    await shot(other, 3, "appelez-le-15")

    # A six-year-old with a guardian is booked; a four-year-old is not.
    today = dt.date.today()
    for age, booked in ((6, True), (4, False)):
        parent = await on_a_phone(browser)
        await parent.goto(f"{live_hub.url}/rdv/{ORG_SLUG}")
        await parent.locator(".primary-link").click()
        await parent.get_by_label("Nom de naissance").fill("Petit")
        await parent.get_by_label("Prénom(s) de naissance").fill(f"Enfant{age}")
        born = today.replace(year=today.year - age) - dt.timedelta(days=30)
        await parent.get_by_label("Date de naissance").fill(born.isoformat())
        await parent.get_by_label("Masculin").check()
        await parent.get_by_label("Représentant légal (pour un mineur)").fill("Claire Petit")
        await parent.get_by_label("Téléphone portable").fill("06 22 33 44 55")
        await parent.get_by_label("Je n'ai pas de médecin traitant").check()
        await parent.get_by_label("Pourquoi souhaitez-vous consulter ?").fill("Otite")
        await parent.get_by_label("J'accepte que la CPTS enregistre").check()
        await parent.get_by_role("button", name="Réserver ce créneau").click()
        if booked:
            await expect(parent.get_by_role("status")).to_contain_text(
                "Votre rendez-vous est enregistré"
            )
            await shot(parent, 3, "enfant-de-6-ans")
        else:
            await expect(parent.get_by_label("Date de naissance")).to_have_accessible_description(
                re.compile("6 ans")
            )
            await shot(parent, 3, "enfant-de-4-ans-refuse")


async def test_scenario_4_a_no_show_and_the_waiting_list(
    browser: Browser, live_hub: LiveHub, cpts: Cpts, settings: Settings, sms_webhook: SmsWebhook
) -> None:
    now = dt.datetime.now(dt.UTC)
    async with session_for(settings) as session:
        missed = await make.slot(
            session, site_id=cpts.site_ids[CLOS_MORTIER], starts_at=begun_today(now, minutes=20)
        )
        absent = await make.patient(
            session, organisation_id=cpts.organisation_id, today=now.date(), birth_name="Absent"
        )
        await session.commit()
        await make.booking(
            session, slot_id=missed.id, patient_id=absent.id, now=now - dt.timedelta(days=2)
        )
    tomorrow_two = await _slot_at(settings, LA_NOUE, _in(24))
    later = await _slot_at(settings, LA_NOUE, _in(24 * 5))

    # Earlier, a patient booked in five days asked to be told of an earlier slot.
    waiting = await on_a_phone(browser)
    await waiting.goto(f"{live_hub.url}/rdv/{ORG_SLUG}/creneau/{later}")
    await _fill_patient(waiting, "Durand", "Paul", "1970-05-06", "M", "06 33 44 55 66")
    await waiting.get_by_role("button", name="Me prévenir si un créneau plus tôt se libère").click()
    await expect(waiting.get_by_role("status")).to_have_text(
        "Vous serez prévenu·e si un créneau plus tôt se libère."
    )
    await shot(waiting, 4, "liste-d-attente")
    # Someone holds tomorrow's slot, then cancels it from their own link.
    holder = await on_a_phone(browser)
    await holder.goto(f"{live_hub.url}/rdv/{ORG_SLUG}/creneau/{tomorrow_two}")
    await _fill_patient(holder, "Roux", "Léa", "1990-03-04", "F", "06 44 55 66 77")
    await holder.get_by_role("button", name="Annuler le rendez-vous").click()
    await expect(holder.get_by_role("status")).to_have_text("Votre rendez-vous est annulé.")

    # The freed slot is offered to the waiting patient automatically, by SMS.
    await deliver(settings, sms_webhook, dt.datetime.now(dt.UTC))
    [offer] = [t for t in texts_to(sms_webhook, "+33633445566") if "/rdv/proposition/" in t]
    await waiting.goto(link_in(offer))
    await expect(
        waiting.get_by_role("heading", name="Un créneau plus tôt s'est libéré")
    ).to_be_visible()
    await shot(waiting, 4, "proposition")
    await waiting.get_by_role("button", name="Je prends le créneau plus tôt").click()
    await expect(waiting.get_by_role("status")).to_have_text("Votre rendez-vous est avancé.")
    assert (await _booking_of_slot(settings, tomorrow_two)).patient_id != (
        await _booking_of_slot(settings, missed.id)
    ).patient_id

    # The nurse marks the no-show; the secretary sees it in the patient's history.
    nurse = await staff(browser, live_hub, "infirmiere")
    row = nurse.locator("tr", has_text="ABSENT Odile")
    await row.get_by_role("button", name="Non honoré").click()
    await expect(nurse.locator("tr", has_text="ABSENT Odile")).to_contain_text("non honoré")
    await shot(nurse, 4, "non-honore")
    secretary = await staff(browser, live_hub, "secretariat")
    await secretary.get_by_label("Nom", exact=True).fill("absent")
    await secretary.get_by_role("button", name="Chercher").click()
    await (
        secretary.locator("tr", has_text="ABSENT Odile").get_by_role("link", name="Ouvrir").click()
    )
    facts = secretary.locator("dl.facts")
    await expect(facts).to_contain_text("Rendez-vous non honorés1")
    await expect(secretary.locator("body")).to_contain_text("non honoré")
    await shot(secretary, 4, "historique")


async def _fill_patient(
    page: Page, birth_name: str, first_names: str, born: str, sex: str, mobile: str
) -> None:
    """The online booking form, filled in by a patient without médecin traitant; booked."""
    await page.get_by_label("Nom de naissance").fill(birth_name)
    await page.get_by_label("Prénom(s) de naissance").fill(first_names)
    await page.get_by_label("Date de naissance").fill(born)
    await page.get_by_label("Féminin" if sex == "F" else "Masculin").check()
    await page.get_by_label("Téléphone portable").fill(mobile)
    await page.get_by_label("Je n'ai pas de médecin traitant").check()
    await page.get_by_label("Pourquoi souhaitez-vous consulter ?").fill("Fièvre")
    await page.get_by_label("J'accepte que la CPTS enregistre").check()
    await page.get_by_role("button", name="Réserver ce créneau").click()
    await expect(page.get_by_role("status")).to_contain_text("Votre rendez-vous est enregistré")


@dataclass(frozen=True)
class _KitSeed:
    cabin_id: int
    cabin_token: str


async def _kit_seed(settings: Settings, cpts: Cpts) -> _KitSeed:
    """The mobile kit's cabin with a fresh agent token, for its simulated trolley."""
    async with session_for(settings) as session:
        kit = (
            await session.scalars(select(Cabin).where(Cabin.site_id == cpts.site_ids[MOBILE_KIT]))
        ).one()
        token = await identity.issue_cabin_token(session=session, cabin=kit)
        await session.commit()
        return _KitSeed(kit.id, token)


async def test_scenario_6_the_facility_s_reserved_session(
    browser: Browser, room_hub: LiveHub, cpts: Cpts, settings: Settings, tmp_path: Path
) -> None:
    live_hub = room_hub  # the kit's agent runs in the hub's event loop: production heartbeats
    # Thursdays 14:00-16:00 are the facility's; today an extra session was opened for it,
    # in a few minutes (before midnight in Paris, so that it is today's).
    paris = ZoneInfo("Europe/Paris")
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(
        now.astimezone(paris).date() + dt.timedelta(days=1), dt.time(), tzinfo=paris
    )
    if midnight - now < dt.timedelta(minutes=3):
        pytest.skip("no session can be opened for today in the last 3 minutes before midnight")
    async with session_for(settings) as session:
        today = await make.slot(
            session,
            site_id=cpts.site_ids[FACILITY],
            starts_at=min(_in(0) + dt.timedelta(minutes=10), midnight - dt.timedelta(minutes=1)),
            minutes=30,
            reserved_for=Reservation.FACILITY,
        )
        await session.commit()
    facility_staff = await staff(browser, live_hub, "etablissement")
    await expect(
        facility_staff.get_by_text("personne d'autre ne peut les réserver")
    ).to_be_visible()
    slot_choice = facility_staff.get_by_label("Créneau")
    options = await slot_choice.locator("option").all_inner_texts()
    assert any("jeudi" in o and "à 14 h —" in o and FACILITY in o for o in options)
    assert await slot_choice.input_value() == str(today.id)  # the earliest: today's
    await facility_staff.get_by_label("Nom de naissance").fill("Garnier")
    await facility_staff.get_by_label("Prénom(s)").fill("Louis")
    await facility_staff.get_by_label("Date de naissance").fill("1962-09-14")
    await facility_staff.get_by_label("Sexe").select_option("M")
    await facility_staff.get_by_label("Motif").fill("Plaie du talon à surveiller")
    await facility_staff.get_by_label("Le résident ne peut pas se déplacer").check()
    await facility_staff.get_by_role("button", name="Réserver").click()
    await expect(facility_staff.locator("p.notice[role=status]")).to_have_text(
        "Le rendez-vous du résident est enregistré."
    )
    upcoming = facility_staff.locator("tr", has_text="GARNIER Louis")
    await expect(upcoming).to_contain_text("à voir dans sa chambre")
    await shot(facility_staff, 6, "residents")
    # The facility's own nurse welcomes him and runs the session from the room console.
    await upcoming.get_by_role("button", name="Accueillir").click()
    await expect(facility_staff.get_by_role("heading", name="GARNIER Louis arrivé")).to_be_visible()
    await facility_staff.get_by_label("Lieu de naissance (code INSEE)").fill("52448")
    await facility_staff.get_by_label("Pièce présentée").select_option("cni")
    await facility_staff.get_by_label("Les traits ci-dessus correspondent à la pièce").check()
    await facility_staff.get_by_role("button", name="Valider l'identité").click()
    await expect(facility_staff.get_by_text("Identité vérifiée")).to_be_visible()
    await shot(facility_staff, 6, "seance-du-resident")
    # The facility has no cabin of its own: the nurse switches on the CPTS's mobile kit
    # (its trolley simulated), takes it for the session, and measures the resident in his room.
    await expect(
        facility_staff.get_by_text("Aucune cabine n'est rattachée à ce site.")
    ).to_be_visible()
    kit = await _kit_seed(settings, cpts)
    async with trolley(live_hub, kit, tmp_path):
        await facility_staff.get_by_label("Kit", exact=True).select_option(
            label=f"Kit mobile ({MOBILE_KIT})"
        )
        await facility_staff.get_by_role("button", name="Utiliser ce kit pour la séance").click()
        await expect(facility_staff.locator('[data-field="kit"]')).to_contain_text("Kit mobile")
        thermometer = facility_staff.locator('li[data-device="Thermomètre"] [data-field="state"]')
        await expect(thermometer.first).to_have_text("prêt", timeout=20_000)
        await measure(facility_staff, "Thermomètre")
        await expect(
            facility_staff.locator(
                '[data-vitals] [data-measure="body_temperature"] .tile-value .figure'
            )
        ).not_to_have_text("—", timeout=30_000)
        await shot(facility_staff, 6, "kit-mobile")
    async with session_for(settings) as session:
        kit_readings = (
            await session.scalars(
                select(Observation.booking_id).where(Observation.cabin_id == kit.cabin_id)
            )
        ).all()
    assert kit_readings and set(kit_readings) == {(await _booking_of_slot(settings, today.id)).id}
    await facility_staff.get_by_role("link", name="← Agenda").click()
    await expect(facility_staff.locator("tr", has_text="GARNIER Louis")).to_contain_text("arrivé")

    # Nobody outside the facility books those slots: not online, not the secretary.
    async with session_for(settings) as session:
        reserved = (
            await session.scalars(
                select(Slot.id)
                .where(Slot.reserved_for == Reservation.FACILITY)
                .order_by(Slot.starts_at)
            )
        ).all()
    public = await on_a_phone(browser)
    await public.goto(f"{live_hub.url}/rdv/{ORG_SLUG}/creneau/{reserved[-1]}")
    await expect(public.get_by_text("réservé aux résidents de l'établissement")).to_be_visible()
    await shot(public, 6, "refus-en-ligne")
    page = await public.goto(f"{live_hub.url}/rdv/{ORG_SLUG}")
    assert page is not None
    assert f"/creneau/{reserved[-1]}" not in await public.content()
    secretary = await staff(browser, live_hub, "secretariat")
    secretary_page = await secretary.content()
    assert FACILITY not in secretary_page
