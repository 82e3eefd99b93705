"""JSON API of the consoles: who am I, and the status of the cabins I may see."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from devices.measurements import display_unit
from hub import deps
from hub.audit.service import record_event
from hub.cabins.overview import value_sites
from hub.cabins.presence import (
    DEVICE_STATE_LABELS,
    CabinDevice,
    devices_of,
    seen_in_cluster,
    status_of,
)
from hub.cabins.routing import send_command
from hub.deps import ContextDep, Permitted, SessionDep
from hub.errors import Invalid
from hub.identity import policy
from hub.identity import service as identity
from hub.identity.policy import Permission
from hub.wire import CommandAction

router = APIRouter(prefix="/api/v1", dependencies=[Depends(deps.csrf_protect)])


class SitePublic(BaseModel):
    id: int
    name: str
    kind: str


class MePublic(BaseModel):
    username: str
    full_name: str
    role: str
    sites: list[SitePublic]


class DevicePublic(BaseModel):
    name: str
    kind: str
    model: str
    state: str = "unknown"
    state_label: str = "inconnu"
    battery_low: bool | None = None
    detail: str = ""
    last_kind: str = ""
    last_value: float | None = None
    last_unit: str = ""
    last_unit_display: str = ""  # as people read it ("mmHg", "°C")
    last_at: dt.datetime | None = None


class CabinPublic(BaseModel):
    id: int
    name: str
    site_id: int
    site_name: str
    online: bool
    status_label: str
    last_seen_at: dt.datetime | None
    agent_version: str
    devices: list[DevicePublic]


@router.get("/moi")
async def me(user: Permitted, session: SessionDep) -> MePublic:
    sites = await identity.sites_for(session=session, user=user)
    return MePublic(
        username=user.username,
        full_name=user.full_name,
        role=user.role.value,
        sites=[SitePublic(id=s.id, name=s.name, kind=s.kind.value) for s in sites],
    )


@router.get("/cabines")
async def cabins(user: Permitted, session: SessionDep, ctx: ContextDep) -> list[CabinPublic]:
    """The cabins of the user's sites: online status and each device's state, and its last
    value where the user may see a consultation's measurements."""
    now = ctx.clock()
    offline_after = dt.timedelta(seconds=ctx.settings.agent_offline_after_seconds)
    sites = await identity.sites_for(session=session, user=user)
    with_values = value_sites(user, [s.id for s in sites])
    cabin_ids = [c.id for s in sites for c in s.cabins]
    states = await devices_of(session=session, cabin_ids=cabin_ids)
    seen = await seen_in_cluster(ctx, cabin_ids)
    result = []
    for site in sites:
        for cabin in site.cabins:
            st = status_of(cabin, now=now, offline_after=offline_after, seen=seen)
            result.append(
                CabinPublic(
                    id=st.cabin_id,
                    name=st.name,
                    site_id=site.id,
                    site_name=site.name,
                    online=st.online,
                    status_label=st.label,
                    last_seen_at=st.last_seen_at,
                    agent_version=st.agent_version,
                    devices=[
                        DevicePublic(
                            name=d.name,
                            kind=d.kind,
                            model=d.model,
                            state=d.state if st.online else "lost",
                            state_label=DEVICE_STATE_LABELS.get(d.state, d.state)
                            if st.online
                            else "cabine hors ligne",
                            battery_low=d.battery_low,
                            detail=d.detail,
                            **(_last_value(d) if site.id in with_values else {}),
                        )
                        for d in states.get(cabin.id, [])
                    ],
                )
            )
    return result


def _last_value(d: CabinDevice) -> dict[str, object]:
    return {
        "last_kind": d.last_kind,
        "last_value": d.last_value,
        "last_unit": d.last_unit,
        "last_unit_display": display_unit(d.last_unit),
        "last_at": d.last_at,
    }


class CommandCreate(BaseModel):
    device: str = Field(min_length=1, max_length=80)
    action: CommandAction


class CommandOutcome(BaseModel):
    ok: bool
    message: str


COMMAND_TIMEOUT_SECONDS = 90.0  # a blood-pressure measurement takes up to a minute


@router.post("/cabines/{cabin_id}/commandes")
async def command(
    cabin_id: int,
    body: CommandCreate,
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    user: Permitted,
) -> CommandOutcome:
    """Ask a cabin to act on a device (take a measurement, identify it, start/stop media)."""
    cabin = await identity.get_cabin(session=session, cabin_id=cabin_id)
    policy.check(
        user,
        Permission.COMMAND_CABIN,
        sites=[cabin.site_id],
        refusal="Cette cabine est sur un site pour lequel vous n'agissez pas.",
    )
    known = {d.name for d in (await devices_of(session=session, cabin_ids=[cabin_id]))[cabin_id]}
    if body.device not in known:
        raise Invalid(f"La cabine n'a pas d'appareil « {body.device} ».")
    record_event(
        session=session,
        action=f"cabin.command.{body.action.value}",
        actor_kind="user",
        actor_id=user.id,
        site_id=cabin.site_id,
        target=f"cabin:{cabin_id}:{body.device}",
        ip=request.client.host if request.client else "",
    )
    await session.commit()
    ok, message = await send_command(
        ctx,
        cabin_id=cabin_id,
        action=body.action,
        device=body.device,
        timeout=COMMAND_TIMEOUT_SECONDS,
    )
    return CommandOutcome(ok=ok, message=message)
