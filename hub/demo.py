"""The demo CPTS: two rooms like the Saint-Dizier ones, a disability facility, a mobile kit,
one account per role. Seeding is idempotent: re-running resets the demo passwords and issues a
fresh token for the demo cabin."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub.identity import service
from hub.identity.models import Cabin, Organisation, Role, Site, SiteKind, User
from hub.relay.models import RelayDoctor
from hub.scheduling.models import OpeningRule, Reservation
from hub.scheduling.slots import sync_horizon

DEMO_ORG_SLUG = "cpts-demo"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    password: str
    full_name: str
    role: Role
    sites: tuple[str, ...]


CLOS_MORTIER = "Cabinet du Clos Mortier"
LA_NOUE = "Cabinet de La Noue"
FACILITY = "Foyer d'accueil médicalisé Les Tilleuls"
MOBILE_KIT = "Kit mobile de la CPTS"

DEMO_SITES: tuple[dict[str, str | SiteKind], ...] = (
    {
        "name": CLOS_MORTIER,
        "kind": SiteKind.TELECONSULTATION_ROOM,
        "address": "Maison de santé, rue du Clos Mortier",
        "postcode": "52100",
        "city": "Saint-Dizier",
        "opening_hours": "Lundi, mardi, jeudi 8h–12h ; mercredi et vendredi 14h–18h",
        "emergency_contact_name": "Médecin de garde du secteur",
        "emergency_contact_phone": "03 25 00 00 01",
    },
    {
        "name": LA_NOUE,
        "kind": SiteKind.TELECONSULTATION_ROOM,
        "address": "Centre social, quartier de La Noue",
        "postcode": "52100",
        "city": "Saint-Dizier",
        "opening_hours": "Lundi et mercredi 8h–12h ; jeudi 14h–18h",
        "emergency_contact_name": "Médecin de garde du secteur",
        "emergency_contact_phone": "03 25 00 00 02",
    },
    {
        "name": FACILITY,
        "kind": SiteKind.DISABILITY_FACILITY,
        "address": "Foyer Les Tilleuls",
        "postcode": "52100",
        "city": "Saint-Dizier",
        "opening_hours": "Jeudi 14h–16h (résidents du foyer)",
        "emergency_contact_name": "Infirmière coordinatrice du foyer",
        "emergency_contact_phone": "03 25 00 00 03",
    },
    {
        "name": MOBILE_KIT,
        "kind": SiteKind.MOBILE_KIT,
        "address": "Déplacé selon les tournées",
        "postcode": "52100",
        "city": "Saint-Dizier",
        "opening_hours": "Sur rendez-vous",
        "emergency_contact_name": "Coordination de la CPTS",
        "emergency_contact_phone": "03 25 00 00 04",
    },
)

DEMO_ACCOUNTS = (
    DemoAccount("coordination", "demo-coordination-52", "Claire Martin", Role.COORDINATOR, ()),
    DemoAccount(
        "secretariat",
        "demo-secretariat-52",
        "Sophie Bernard",
        Role.SECRETARY,
        (CLOS_MORTIER, LA_NOUE),
    ),
    DemoAccount("infirmiere", "demo-infirmiere-52", "Julie Petit", Role.NURSE, (CLOS_MORTIER,)),
    DemoAccount(
        "medecin", "demo-medecin-52", "Dr Paul Durand", Role.DOCTOR, (CLOS_MORTIER, LA_NOUE)
    ),
    DemoAccount(
        "etablissement",
        "demo-etablissement-52",
        "Nadia Leroy",
        Role.FACILITY_STAFF,
        (FACILITY, MOBILE_KIT),
    ),
)

DEMO_CABINS = (
    (CLOS_MORTIER, "Chariot du Clos Mortier"),
    (LA_NOUE, "Chariot de La Noue"),
    (MOBILE_KIT, "Kit mobile"),
)


# Weekly openings: (site, weekday 0=Monday, start, end, slot minutes, seats, reserved for)
DEMO_RULES: tuple[tuple[str, int, str, str, int, int, Reservation | None], ...] = (
    *((CLOS_MORTIER, day, "08:00", "12:00", 20, 1, None) for day in (0, 1, 3)),
    *((CLOS_MORTIER, day, "14:00", "18:00", 20, 1, None) for day in (2, 4)),
    (CLOS_MORTIER, 4, "18:00", "19:00", 20, 1, Reservation.SAS),
    *((LA_NOUE, day, "08:00", "12:00", 20, 1, None) for day in (0, 2)),
    (LA_NOUE, 3, "14:00", "18:00", 20, 1, None),
    (FACILITY, 3, "14:00", "16:00", 30, 1, Reservation.FACILITY),
)


DEMO_RELAY_DOCTORS = (
    ("Dr Anne Roy (démonstration)", "Saint-Dizier", True),
    ("Dr Luc Marchal (démonstration)", "Chancenay", False),
)


@dataclass(frozen=True, slots=True)
class DemoSeed:
    cabin_id: int
    cabin_token: str
    patient_url: str = ""  # the record page of a demo patient (``demo_runner``)


async def seed_demo(*, session: AsyncSession, today: dt.date | None = None) -> DemoSeed:
    """Create the demo CPTS if absent; return the demo cabin and a fresh token for its agent."""
    today = today or dt.date.today()
    org = await session.scalar(select(Organisation).where(Organisation.slug == DEMO_ORG_SLUG))
    if org is None:
        org = await service.create_organisation(
            session=session, name="CPTS du Pays de Saint-Dizier (démonstration)", slug=DEMO_ORG_SLUG
        )
        org.phone = "03 25 00 00 00"
        org.email = "secretariat@cpts-demo.invalid"
    sites: dict[str, Site] = {
        s.name: s for s in await session.scalars(select(Site).where(Site.organisation_id == org.id))
    }
    for spec in DEMO_SITES:
        name = str(spec["name"])
        if name not in sites:
            kwargs = {k: str(v) for k, v in spec.items() if k not in ("name", "kind")}
            sites[name] = await service.create_site(
                session=session, organisation=org, name=name, kind=SiteKind(spec["kind"]), **kwargs
            )
    for account in DEMO_ACCOUNTS:
        user = await session.scalar(
            select(User).where(User.username == account.username).options(selectinload(User.sites))
        )
        if user is None:
            await service.create_user(
                session=session,
                organisation=org,
                username=account.username,
                full_name=account.full_name,
                role=account.role,
                password=account.password,
                sites=[sites[n] for n in account.sites],
            )
        else:
            await service.set_password(session=session, user=user, password=account.password)
            user.active = True
    if not await session.scalar(
        select(OpeningRule.id)
        .limit(1)
        .where(OpeningRule.site_id.in_([s.id for s in sites.values()]))
    ):
        for site_name, day, start, end, minutes, seats, reserved in DEMO_RULES:
            session.add(
                OpeningRule(
                    site_id=sites[site_name].id,
                    weekday=day,
                    start_time=dt.time.fromisoformat(start),
                    end_time=dt.time.fromisoformat(end),
                    slot_minutes=minutes,
                    seats=seats,
                    reserved_for=reserved,
                )
            )
        await session.flush()
    for site in sites.values():
        await sync_horizon(session=session, site=site, today=today)
    if not await session.scalar(
        select(RelayDoctor.id).where(RelayDoctor.organisation_id == org.id)
    ):
        for name, city, accepting in DEMO_RELAY_DOCTORS:
            session.add(
                RelayDoctor(
                    organisation_id=org.id,
                    name=name,
                    city=city,
                    phone="03 25 00 00 10",
                    email="relais@demo.mssante.fr",
                    accepts_new_patients=accepting,
                )
            )
    token = ""
    demo_cabin_id = 0
    for site_name, cabin_name in DEMO_CABINS:
        site = sites[site_name]
        cabin = await session.scalar(
            select(Cabin).where(Cabin.site_id == site.id, Cabin.name == cabin_name)
        )
        if cabin is None:
            cabin, issued = await service.create_cabin(session=session, site=site, name=cabin_name)
        elif site_name == CLOS_MORTIER:
            issued = await service.issue_cabin_token(session=session, cabin=cabin)
        else:
            issued = ""
        if site_name == CLOS_MORTIER:
            token, demo_cabin_id = issued, cabin.id
    await session.commit()
    return DemoSeed(cabin_id=demo_cabin_id, cabin_token=token)
