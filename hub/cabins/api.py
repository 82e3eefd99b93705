"""JSON API of the consoles: who am I, and the status of the cabins I may see."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from hub import deps
from hub.cabins.presence import status_of
from hub.deps import ContextDep, CurrentUser, SessionDep
from hub.identity import service as identity

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
async def me(user: CurrentUser, session: SessionDep) -> MePublic:
    sites = await identity.sites_for(session=session, user=user)
    return MePublic(
        username=user.username,
        full_name=user.full_name,
        role=user.role.value,
        sites=[SitePublic(id=s.id, name=s.name, kind=s.kind.value) for s in sites],
    )


@router.get("/cabines")
async def cabins(user: CurrentUser, session: SessionDep, ctx: ContextDep) -> list[CabinPublic]:
    now = ctx.clock()
    offline_after = dt.timedelta(seconds=ctx.settings.agent_offline_after_seconds)
    result = []
    for site in await identity.sites_for(session=session, user=user):
        for cabin in site.cabins:
            st = status_of(cabin, now=now, offline_after=offline_after)
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
                        DevicePublic(name=d.name, kind=d.kind, model=d.model) for d in st.devices
                    ],
                )
            )
    return result
