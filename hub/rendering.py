"""Rendering pages: templates with the user, CSRF token and anonymous cookie handled."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import web
from devices.catalogue import DeviceKind
from devices.measurements import display_unit, kind_label
from hub import deps
from hub.audit.service import ACTION_LABELS
from hub.context import HubContext, context_of
from hub.identity.models import ROLE_LABELS, SITE_KIND_LABELS


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(web.TEMPLATES_DIR))
    templates.env.globals["role_labels"] = ROLE_LABELS
    templates.env.globals["site_kind_labels"] = SITE_KIND_LABELS
    templates.env.globals["action_labels"] = ACTION_LABELS
    # From the device registry: the kinds of device the nurse or the doctor can ask to measure.
    templates.env.globals["measurable_kinds"] = frozenset(
        kind.value for kind in DeviceKind if kind.measurable
    )
    templates.env.filters["measurement_label"] = kind_label
    templates.env.filters["unit_display"] = display_unit
    templates.env.filters["datetime_fr"] = _datetime_fr
    templates.env.filters["when_fr"] = when_fr
    templates.env.filters["time_fr"] = time_fr
    templates.env.filters["phone_fr"] = phone_fr
    return templates


DAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def when_fr(value: dt.datetime, timezone: str = "Europe/Paris") -> str:
    """A moment as people say it: « lundi 23 novembre 2026 à 9 h 20 » (site's local time)."""
    local = value.astimezone(ZoneInfo(timezone))
    minutes = f"{local.minute:02d}" if local.minute else ""
    return (
        f"{DAYS_FR[local.weekday()]} {local.day} {MONTHS_FR[local.month - 1]} {local.year} "
        f"à {local.hour} h {minutes}"
    ).rstrip()


def time_fr(value: dt.datetime, timezone: str = "Europe/Paris") -> str:
    """« 9 h 20 » in the site's local time."""
    local = value.astimezone(ZoneInfo(timezone))
    return f"{local.hour} h {local.minute:02d}"


def phone_fr(value: str) -> str:
    """A French number stored as 10 digits, as people read it: « 03 25 11 22 33 »."""
    if len(value) == 10 and value.isdigit():
        return " ".join(value[i : i + 2] for i in range(0, 10, 2))
    return value


def _datetime_fr(value: Any, timezone: str = "Europe/Paris") -> str:
    """« 06/12/2026 à 09:05:18 » in the site's local time (never the server's), or « jamais »."""
    if value is None:
        return "jamais"
    local = value.astimezone(ZoneInfo(timezone))
    return str(local.strftime("%d/%m/%Y à %H:%M:%S"))


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page; sets the anonymous CSRF cookie when this browser had none."""
    ctx = context_of(request)
    data = {"user": getattr(request.state, "user", None), "csrf_token": deps.csrf_token(request)}
    data.update(context or {})
    response = ctx.templates.TemplateResponse(request, template, data, status_code=status_code)
    _set_anon_cookie(request, response, ctx)
    return response


def _set_anon_cookie(request: Request, response: HTMLResponse, ctx: HubContext) -> None:
    if getattr(request.state, "anon_nonce_new", False):
        response.set_cookie(
            deps.ANON_COOKIE,
            deps.sign_cookie(ctx, "anon", request.state.anon_nonce),
            httponly=True,
            samesite="strict",
            secure=ctx.settings.secure_cookies,
        )
