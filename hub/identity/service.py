"""Identity services: accounts, login with throttling, browser sessions, sites, cabin tokens."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from hub.audit.service import record_event
from hub.errors import Conflict, Invalid, NotFound, TooManyAttempts, Unauthenticated
from hub.identity import security
from hub.identity.models import (
    SPECIALTIES,
    Cabin,
    LoginFailure,
    Organisation,
    Role,
    Site,
    SiteKind,
    User,
    UserSession,
    user_sites,
)
from hub.limits import FailureLog

if TYPE_CHECKING:
    from hub.audit.models import AuditEvent

logger = logging.getLogger(__name__)

BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."
# The hub's people are in France: a throttled login says when to retry in French local time.
THROTTLE_TIMEZONE = "Europe/Paris"


# --- organisations, sites, users -------------------------------------------------------------


async def create_organisation(*, session: AsyncSession, name: str, slug: str) -> Organisation:
    """A new CPTS."""
    if await session.scalar(select(Organisation).where(Organisation.slug == slug)):
        raise Conflict(f"Une organisation « {slug} » existe déjà.")
    org = Organisation(name=name, slug=slug)
    session.add(org)
    await session.flush()
    return org


async def create_site(
    *,
    session: AsyncSession,
    organisation: Organisation,
    name: str,
    kind: SiteKind,
    address: str = "",
    postcode: str = "",
    city: str = "",
    opening_hours: str = "",
    emergency_contact_name: str = "",
    emergency_contact_phone: str = "",
) -> Site:
    """A new site of the organisation."""
    site = Site(
        organisation_id=organisation.id,
        name=name,
        kind=kind,
        address=address,
        postcode=postcode,
        city=city,
        opening_hours=opening_hours,
        emergency_contact_name=emergency_contact_name,
        emergency_contact_phone=emergency_contact_phone,
    )
    session.add(site)
    await session.flush()
    return site


async def create_user(
    *,
    session: AsyncSession,
    organisation: Organisation,
    username: str,
    full_name: str,
    role: Role,
    password: str,
    sites: list[Site] | None = None,
    email: str = "",
    specialty: str = "",
) -> User:
    """A new staff account; refuses a taken username, a weak password or a specialty outside
    SPECIALTIES (a doctor's; none for other roles)."""
    username = username.strip().lower()
    if not username:
        raise Invalid("L'identifiant ne peut pas être vide.")
    if specialty and (role is not Role.DOCTOR or specialty not in SPECIALTIES):
        raise Invalid(
            f"Spécialité inconnue : « {specialty} » (un médecin seulement : "
            + ", ".join(SPECIALTIES)
            + ")."
        )
    problem = security.password_problem(password)
    if problem:
        raise Invalid(problem)
    if await session.scalar(select(User).where(User.username == username)):
        raise Conflict(f"L'identifiant « {username} » est déjà utilisé.")
    user = User(
        organisation_id=organisation.id,
        username=username,
        full_name=full_name,
        role=role,
        email=email,
        specialty=specialty,
        password_hash=security.hash_password(password),
    )
    user.sites = list(sites or [])
    session.add(user)
    await session.flush()
    return user


async def set_password(*, session: AsyncSession, user: User, password: str) -> None:
    problem = security.password_problem(password)
    if problem:
        raise Invalid(problem)
    user.password_hash = security.hash_password(password)
    await session.execute(delete(UserSession).where(UserSession.user_id == user.id))


async def get_organisation(*, session: AsyncSession, organisation_id: int) -> Organisation | None:
    """The CPTS with this id, None if there is none."""
    return await session.get(Organisation, organisation_id)


async def organisation_by_slug(*, session: AsyncSession, slug: str) -> Organisation | None:
    """The CPTS with this slug (its public booking address), None if there is none."""
    return await session.scalar(select(Organisation).where(Organisation.slug == slug))


async def organisations(*, session: AsyncSession) -> list[Organisation]:
    """Every CPTS served by the hub, by name."""
    return list(await session.scalars(select(Organisation).order_by(Organisation.name)))


async def teleconsultation_rooms(*, session: AsyncSession, organisation_id: int) -> list[Site]:
    """The teleconsultation rooms of a CPTS, by name."""
    rows = await session.scalars(
        select(Site)
        .where(Site.organisation_id == organisation_id, Site.kind == SiteKind.TELECONSULTATION_ROOM)
        .order_by(Site.name)
    )
    return list(rows)


async def get_site(*, session: AsyncSession, site_id: int) -> Site | None:
    """The site with this id, None if there is none."""
    return await session.get(Site, site_id)


async def site_by_name(*, session: AsyncSession, organisation_id: int, name: str) -> Site | None:
    """The site of this CPTS with this name, None if there is none."""
    return await session.scalar(
        select(Site).where(Site.organisation_id == organisation_id, Site.name == name)
    )


async def every_site(*, session: AsyncSession) -> list[Site]:
    """Every site of every CPTS served by the hub."""
    return list(await session.scalars(select(Site)))


async def sites_by_id(*, session: AsyncSession, site_ids: set[int]) -> dict[int, Site]:
    """These sites, by id."""
    if not site_ids:
        return {}
    return {s.id: s for s in await session.scalars(select(Site).where(Site.id.in_(site_ids)))}


async def get_user(*, session: AsyncSession, user_id: int, refresh: bool = False) -> User:
    """The user with their sites (``refresh`` reloads objects already in the session)."""
    query = select(User).where(User.id == user_id).options(selectinload(User.sites))
    if refresh:
        query = query.execution_options(populate_existing=True)
    user = await session.scalar(query)
    if user is None:
        raise NotFound("Compte introuvable.")
    return user


async def user_by_id(*, session: AsyncSession, user_id: int) -> User | None:
    """The account with this id, None if there is none."""
    return await session.get(User, user_id)


async def actors_of(*, session: AsyncSession, events: list[AuditEvent]) -> dict[int, User]:
    """The members of staff who did these events, by id."""
    ids = {e.actor_id for e in events if e.actor_kind == "user" and e.actor_id}
    if not ids:
        return {}
    return {u.id: u for u in await session.scalars(select(User).where(User.id.in_(ids)))}


async def doctors_serving(
    *, session: AsyncSession, site_ids: Collection[int]
) -> dict[int, list[User]]:
    """The active doctors with an RPPS who serve each of these sites (the remote doctors its
    room's teleconsultations go to), by site id, by name; sites without one are absent."""
    if not site_ids:
        return {}
    rows = await session.execute(
        select(user_sites.c.site_id, User)
        .join(user_sites, user_sites.c.user_id == User.id)
        .where(
            user_sites.c.site_id.in_(list(site_ids)),
            User.role == Role.DOCTOR,
            User.active.is_(True),
            User.rpps != "",
        )
        .order_by(User.full_name, User.id)
    )
    serving: dict[int, list[User]] = {}
    for site_id, doctor in rows.all():
        serving.setdefault(site_id, []).append(doctor)
    return serving


async def sites_for(*, session: AsyncSession, user: User) -> list[Site]:
    """The sites a user may act for: every site of the CPTS for a coordinator, else their own."""
    query = select(Site).options(selectinload(Site.cabins)).order_by(Site.name)
    if user.role is Role.COORDINATOR:
        query = query.where(Site.organisation_id == user.organisation_id)
    else:
        site_ids = [s.id for s in user.sites]
        query = query.where(Site.id.in_(site_ids))
    return list(await session.scalars(query))


async def users_of(*, session: AsyncSession, organisation_id: int) -> list[User]:
    rows = await session.scalars(
        select(User)
        .where(User.organisation_id == organisation_id)
        .options(selectinload(User.sites))
        .order_by(User.role, User.full_name)
    )
    return list(rows)


# --- login, throttling, sessions ---------------------------------------------------------------


def _pair_key(username: str, ip: str) -> str:
    """Failures of one account from one address: only that address is slowed down on it."""
    return f"account-address:{ip} {username.strip().lower()}"


def _address_key(ip: str) -> str:
    """Failures from one address whatever the account (one address guessing many accounts)."""
    return f"address:{ip}"


def _throttled_message(retry_at: dt.datetime, now: dt.datetime) -> str:
    minutes = max(1, math.ceil((retry_at - now).total_seconds() / 60))
    local = retry_at.astimezone(ZoneInfo(THROTTLE_TIMEZONE))
    return (
        "Trop de tentatives de connexion depuis cet appareil. Pour votre sécurité, réessayez "
        f"dans {minutes} minute{'s' if minutes > 1 else ''} (à {local.hour} h "
        f"{local.minute:02d}), ou demandez à la coordination de vérifier votre compte."
    )


async def _retry_at(
    session: AsyncSession,
    *,
    key: str,
    limit: int,
    since: dt.datetime,
    window: dt.timedelta,
    failures: FailureLog | None,
) -> dt.datetime | None:
    """When this key may try again, if it has reached its limit of recent failures."""
    if limit < 1:
        return None
    # The limit-th most recent failure: once it leaves the window, fewer than limit remain.
    if failures is not None:
        oldest_counted = await failures.nth_latest(key, limit, since)
    else:
        oldest_counted = await session.scalar(
            select(LoginFailure.at)
            .where(LoginFailure.key == key, LoginFailure.at >= since)
            .order_by(LoginFailure.at.desc())
            .offset(limit - 1)
            .limit(1)
        )
    if oldest_counted is None:
        return None
    if oldest_counted.tzinfo is None:  # SQLite gives naive UTC back
        oldest_counted = oldest_counted.replace(tzinfo=dt.UTC)
    return oldest_counted + window


async def authenticate(
    *,
    session: AsyncSession,
    username: str,
    password: str,
    ip: str,
    now: dt.datetime,
    max_failures: int,
    max_address_failures: int,
    window: dt.timedelta,
    failures: FailureLog | None = None,
) -> User:
    """The active user with these credentials. Raises TooManyAttempts after ``max_failures``
    recent failures on this account from this address, or ``max_address_failures`` from this
    address on any accounts: failures from one address never lock the account out elsewhere.

    Failures are counted in ``failures`` (Redis, shared by the hub's workers) when given, else
    in the database."""
    pair, address = _pair_key(username, ip), _address_key(ip)
    since = now - window
    limits = ((pair, max_failures), (address, max_address_failures))
    for key, limit in limits:
        retry_at = await _retry_at(
            session, key=key, limit=limit, since=since, window=window, failures=failures
        )
        if retry_at is not None and retry_at > now:
            record_event(
                session=session,
                action="login.throttled",
                actor_kind="anonymous",
                outcome="refused",
                target=f"user:{username.strip().lower()}",
                ip=ip,
            )
            await session.commit()
            raise TooManyAttempts(_throttled_message(retry_at, now))
    user = await session.scalar(select(User).where(User.username == username.strip().lower()))
    ok = security.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        if failures is not None:
            await failures.add((pair, address), now, window)
        else:
            await session.execute(delete(LoginFailure).where(LoginFailure.at < since))
            session.add_all([LoginFailure(key=pair, at=now), LoginFailure(key=address, at=now)])
        record_event(
            session=session,
            action="login",
            actor_kind="anonymous",
            outcome="refused",
            target=f"user:{username.strip().lower()}",
            ip=ip,
        )
        await session.commit()
        raise Unauthenticated(BAD_CREDENTIALS)
    if failures is not None:
        await failures.clear(pair)
    else:
        await session.execute(delete(LoginFailure).where(LoginFailure.key == pair))
    record_event(session=session, action="login", actor_kind="user", actor_id=user.id, ip=ip)
    return user


async def open_session(*, session: AsyncSession, user: User, now: dt.datetime) -> str:
    """A new browser session for the user; returns the secret key for the cookie."""
    key = security.new_session_key()
    session.add(
        UserSession(
            key_hash=security.sha256_hex(key), user_id=user.id, created_at=now, last_seen_at=now
        )
    )
    await session.flush()
    return key


async def resolve_session(
    *, session: AsyncSession, key: str, now: dt.datetime, idle: dt.timedelta
) -> User | None:
    """The user behind a session key, if the session exists, is fresh and the user active."""
    row = await session.scalar(
        select(UserSession)
        .where(UserSession.key_hash == security.sha256_hex(key))
        .options(selectinload(UserSession.user).selectinload(User.sites))
    )
    if row is None:
        return None
    if now - row.last_seen_at > idle or not row.user.active:
        await session.delete(row)
        await session.commit()
        return None
    if now - row.last_seen_at > dt.timedelta(minutes=1):
        row.last_seen_at = now
        await session.commit()
    return row.user


async def close_session(*, session: AsyncSession, key: str) -> None:
    await session.execute(
        delete(UserSession).where(UserSession.key_hash == security.sha256_hex(key))
    )


# --- cabins and their agent tokens -------------------------------------------------------------


async def create_cabin(*, session: AsyncSession, site: Site, name: str) -> tuple[Cabin, str]:
    """A new cabin on the site and its agent token (the token is shown once, stored hashed)."""
    if await session.scalar(select(Cabin).where(Cabin.site_id == site.id, Cabin.name == name)):
        raise Conflict(f"Une cabine « {name} » existe déjà sur ce site.")
    cabin = Cabin(site_id=site.id, name=name)
    session.add(cabin)
    await session.flush()
    token = await issue_cabin_token(session=session, cabin=cabin)
    return cabin, token


async def issue_cabin_token(*, session: AsyncSession, cabin: Cabin) -> str:
    """Replace the cabin's token with a new one; the old token stops working at once."""
    token = security.new_cabin_token()
    cabin.token_hash = security.sha256_hex(token)
    cabin.token_hint = security.token_hint(token)
    cabin.token_issued_at = security_now()
    cabin.token_revoked_at = None
    await session.flush()
    return token


async def revoke_cabin_token(*, session: AsyncSession, cabin: Cabin) -> None:
    """The cabin's agent is refused from now on, until a new token is issued."""
    cabin.token_hash = None
    cabin.token_revoked_at = security_now()
    await session.flush()


async def cabins_for_tokens(*, session: AsyncSession, tokens: list[str]) -> dict[str, Cabin]:
    """The cabins whose current tokens these are, by token (unknown or revoked ones left
    out), with their sites: one query for many agents connecting at once."""
    hashes = {
        security.sha256_hex(t): t for t in tokens if t.startswith(security.CABIN_TOKEN_PREFIX)
    }
    if not hashes:
        return {}
    cabins = await session.scalars(
        select(Cabin).where(Cabin.token_hash.in_(hashes)).options(joinedload(Cabin.site))
    )
    return {hashes[c.token_hash]: c for c in cabins if c.token_hash is not None}


async def cabin_ids_of_site(*, session: AsyncSession, site_id: int) -> set[int]:
    """The ids of the cabins of a site."""
    return set(await session.scalars(select(Cabin.id).where(Cabin.site_id == site_id)))


async def get_cabin(*, session: AsyncSession, cabin_id: int) -> Cabin:
    cabin = await session.scalar(
        select(Cabin).where(Cabin.id == cabin_id).options(selectinload(Cabin.site))
    )
    if cabin is None:
        raise NotFound("Cabine introuvable.")
    return cabin


async def cabin_site_id(*, session: AsyncSession, cabin_id: int) -> int | None:
    """The id of the cabin's site, None if there is no such cabin."""
    return await session.scalar(select(Cabin.site_id).where(Cabin.id == cabin_id))


# Built once, on the table: the gateway re-reads a cabin's token for every batch its agent
# sends (building the statement, and the ORM's path, cost more CPU than running it).
_cabins = Cabin.__table__.c
_TOKEN_HASH = select(_cabins.token_hash).where(_cabins.id == bindparam("cabin_id"))


async def cabin_token_hash(*, session: AsyncSession, cabin_id: int) -> str | None:
    """The hash of the cabin's current agent token, None once revoked (or no such cabin)."""
    return await session.scalar(_TOKEN_HASH, {"cabin_id": cabin_id})


async def touch_cabins(
    *, session: AsyncSession, seen: dict[int, dt.datetime], token_hashes: dict[int, str]
) -> set[int]:
    """Write the last-seen of many connected cabins in one pass (one UPDATE per cabin in one
    transaction, none read first); returns the cabins whose token is no longer the one given
    (revoked or replaced), whose rows are left alone."""
    current = await cabin_token_hashes(session=session, cabin_ids=list(seen))
    stale = {cid for cid in seen if current.get(cid) != token_hashes.get(cid)}
    rows = [
        {"id": cid, "last_seen_at": at, "connected": True}
        for cid, at in seen.items()
        if cid not in stale
    ]
    if rows:
        await session.execute(update(Cabin), rows)
    return stale


async def cabin_token_hashes(*, session: AsyncSession, cabin_ids: list[int]) -> dict[int, str]:
    """The current token hash of each of these cabins (a revoked one is absent)."""
    found: dict[int, str] = {}
    for start in range(0, len(cabin_ids), 500):
        chunk = cabin_ids[start : start + 500]
        for cid, token_hash in await session.execute(
            select(Cabin.id, Cabin.token_hash).where(Cabin.id.in_(chunk))
        ):
            if token_hash is not None:
                found[cid] = token_hash
    return found


async def mark_cabins_hello(
    *, session: AsyncSession, hellos: Mapping[int, tuple[str, dt.datetime]]
) -> None:
    """These cabins' agents said hello (cabin id → agent version, when): each connected,
    heard from then, with its version; one UPDATE statement for all of them."""
    if hellos:
        await session.execute(
            update(Cabin),
            [
                {"id": cid, "connected": True, "last_seen_at": at, "agent_version": version}
                for cid, (version, at) in hellos.items()
            ],
        )


async def set_cabin_link(
    *, session: AsyncSession, cabin_id: int, connected: bool, seen_at: dt.datetime | None = None
) -> None:
    """Record whether the cabin's agent is connected (and when it was last heard of)."""
    cabin = await session.get(Cabin, cabin_id)
    if cabin is not None:
        cabin.connected = connected
        if seen_at is not None:
            cabin.last_seen_at = seen_at


async def disconnect_every_cabin(*, session: AsyncSession) -> None:
    """Mark every cabin's agent as not connected."""
    await session.execute(update(Cabin).where(Cabin.connected.is_(True)).values(connected=False))


def security_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
