"""The relay-doctor directory and referrals."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub.errors import Conflict, Invalid, NotFound
from hub.lengths import Text, too_long
from hub.notify import outbox
from hub.notify.mailer import check_address
from hub.relay.models import Referral, RelayDoctor


async def directory(
    *, session: AsyncSession, organisation_id: int, accepting_only: bool = False
) -> list[RelayDoctor]:
    """The relay doctors of a CPTS, those accepting new patients first."""
    query = select(RelayDoctor).where(RelayDoctor.organisation_id == organisation_id)
    if accepting_only:
        query = query.where(RelayDoctor.accepts_new_patients.is_(True))
    rows = await session.scalars(
        query.order_by(RelayDoctor.accepts_new_patients.desc(), RelayDoctor.name)
    )
    return list(rows)


# How much each answer of the directory's form may hold (the table's columns).
DOCTOR_TEXT = {
    "name": Text("Nom", 200),
    "speciality": Text("Spécialité", 120),
    "city": Text("Ville", 120),
    "phone": Text("Téléphone", 40),
    "email": Text("E-mail", 200),
}


def doctor_problems(typed: dict[str, str]) -> dict[str, str]:
    """Every problem of a relay doctor's form at once, by field, in French."""
    name, phone, email = (typed.get(k, "").strip() for k in ("name", "phone", "email"))
    problems: dict[str, str] = {}
    if not name:
        problems["name"] = "Indiquez le nom du médecin."
    if email:
        try:
            check_address(email)
        except ValueError:
            problems["email"] = f"Adresse e-mail invalide : « {email[:80]} »."
    if not (phone or email):
        problems["phone"] = "Indiquez un téléphone ou une adresse e-mail pour joindre ce médecin."
    return problems | too_long(typed, DOCTOR_TEXT)  # a length problem says more


async def add_doctor(
    *,
    session: AsyncSession,
    organisation_id: int,
    name: str,
    speciality: str,
    city: str,
    phone: str,
    email: str,
) -> RelayDoctor:
    """Add a doctor to the directory; Invalid with every problem by field otherwise."""
    typed = {"name": name, "speciality": speciality, "city": city, "phone": phone}
    if problems := doctor_problems(typed | {"email": email}):
        raise Invalid(" ".join(problems.values()), fields=problems)
    doctor = RelayDoctor(
        organisation_id=organisation_id,
        name=name.strip(),
        speciality=speciality.strip() or "Médecine générale",
        city=city.strip(),
        phone=phone.strip(),
        email=email.strip(),
    )
    session.add(doctor)
    await session.flush()
    return doctor


async def get_doctor(*, session: AsyncSession, organisation_id: int, doctor_id: int) -> RelayDoctor:
    doctor = await session.get(RelayDoctor, doctor_id)
    if doctor is None or doctor.organisation_id != organisation_id:
        raise NotFound("Médecin relais introuvable.")
    return doctor


async def refer(
    *,
    session: AsyncSession,
    organisation_id: int,
    consultation_id: int,
    doctor_id: int,
    user_id: int,
    note: str,
    site_name: str,
    cpts_phone: str,
    now: dt.datetime,
) -> Referral:
    """Refer the consultation's patient to a relay doctor who accepts new patients, and tell
    the doctor (without health data: the report follows through the secure channel)."""
    doctor = await get_doctor(session=session, organisation_id=organisation_id, doctor_id=doctor_id)
    if not doctor.accepts_new_patients:
        raise Conflict(
            f"{doctor.name} n'accepte plus de nouveaux patients : choisissez-en un autre."
        )
    referral = Referral(
        consultation_id=consultation_id,
        relay_doctor_id=doctor.id,
        created_by=user_id,
        note=note.strip()[:1000],
        created_at=now,
    )
    session.add(referral)
    await session.flush()
    if doctor.email:
        await outbox.enqueue_email(
            session=session,
            to=doctor.email,
            purpose="referral",
            related_kind="referral",
            related_id=referral.id,
            now=now,
            subject=f"Un patient sans médecin traitant vous est adressé (réf. {referral.id})",
            text=(
                f"Bonjour {doctor.name},\n\nÀ l'issue d'une téléconsultation au {site_name}, "
                "la CPTS vous adresse un patient sans médecin traitant qui souhaite être suivi.\n"
                f"Référence : {referral.id}. Le compte rendu vous parviendra par messagerie "
                f"sécurisée ; le secrétariat de la CPTS ({cpts_phone}) vous appellera pour "
                "convenir d'un rendez-vous.\n"
            ),
        )
    return referral


async def referrals_of(*, session: AsyncSession, consultation_id: int) -> list[Referral]:
    rows = await session.scalars(
        select(Referral)
        .where(Referral.consultation_id == consultation_id)
        .options(selectinload(Referral.doctor))
        .order_by(Referral.id)
    )
    return list(rows)
