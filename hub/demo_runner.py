"""``python -m hub demo``: migrate a SQLite file, seed the demo CPTS, run the hub and one agent."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import secrets
import signal
import sys
from pathlib import Path

import uvicorn
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devices.catalogue import get_model
from hub import db, migrate
from hub.app import GRACEFUL_SHUTDOWN_SECONDS, create_app
from hub.config import Environment, Settings
from hub.consoles.login import ROLE_HOME
from hub.consultation.models import Consultation
from hub.context import HubContext
from hub.demo import CLOS_MORTIER, DEMO_ACCOUNTS, DEMO_ORG_SLUG, DemoSeed, seed_demo
from hub.demo_agenda import seed_demo_agenda
from hub.demo_history import seed_demo_history
from hub.identity.models import Site
from hub.logs import configure_logging
from hub.records.patient_links import record_url
from hub.records.patients import Patient
from hub.rendering import make_templates

# The simulated trolley of the demo cabin: every kind of device (name, registry model).
DEMO_TROLLEY = (
    ("Tensiomètre", "generic_gatt_cuff"),
    ("Oxymètre", "contec_cms50d_plus"),
    ("Thermomètre", "generic_gatt_thermometer"),
    ("Pèse-personne", "generic_gatt_weight_scale"),
    ("Stéthoscope", "usb_stethoscope"),
    ("Otoscope", "usb_otoscope"),
    ("Caméra de la salle", "room_camera"),
)


def _write_agent_config(
    path: Path, *, hub_url: str, cabin_id: int, token: str, data_dir: Path
) -> None:
    devices = "".join(
        f'\n[[devices]]\nname = "{name}"\nkind = "{get_model(model).kind.value}"\n'
        f'model = "{model}"\ntransport = "{get_model(model).transport.value}"\n'
        for name, model in DEMO_TROLLEY
    )
    path.write_text(
        "# Demo cabin agent configuration, written by `python -m hub demo`.\n"
        "[hub]\n"
        f'url = "{hub_url}"\n'
        f"cabin_id = {cabin_id}\n"
        f'token = "{token}"\n\n'
        f'[agent]\nheartbeat_seconds = 5\ndata_dir = "{data_dir}"\n' + devices,
        encoding="utf-8",
    )
    path.chmod(0o600)


def _secret(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def run_demo(*, data_dir: Path, port: int) -> int:
    """Run until Ctrl-C; returns the exit code."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        environment=Environment.DEVELOPMENT,
        database_url=f"sqlite+aiosqlite:///{(data_dir / 'hub.sqlite3').resolve()}",
        secret_key=SecretStr(_secret(data_dir)),
        port=port,
        agent_heartbeat_seconds=5,
        agent_offline_after_seconds=15,
        log_format="text",
    )
    configure_logging(level="INFO", fmt="text")
    migrate.upgrade(settings.database_url)
    seed = asyncio.run(_seed(settings))
    agent_config = data_dir / "cabin-clos-mortier.toml"
    _write_agent_config(
        agent_config,
        hub_url=settings.base_url,
        cabin_id=seed.cabin_id,
        token=seed.cabin_token,
        data_dir=(data_dir / "agent").resolve(),
    )
    return asyncio.run(_serve(settings, agent_config, seed))


async def _seed(settings: Settings) -> DemoSeed:
    engine = db.make_engine(settings.database_url)
    sessions = db.make_session_factory(engine)
    ctx = HubContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        templates=make_templates(),
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    try:
        async with sessions() as session:
            seed = await seed_demo(session=session)
            past = await seed_demo_history(session=session, ctx=ctx)
            room = await session.scalar(select(Site).where(Site.name == CLOS_MORTIER))
            assert room is not None  # seeded just above
            await seed_demo_agenda(session=session, site=room, now=ctx.clock())
            patient_url = await _patient_url(session, settings, past)
            return dataclasses.replace(seed, patient_url=patient_url)
    finally:
        await engine.dispose()


async def _serve(settings: Settings, agent_config: Path, seed: DemoSeed) -> int:
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            log_config=None,
            lifespan="on",
        )
    )
    # Ctrl-C and SIGTERM stop the server gracefully; the agent gets its own SIGTERM below.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, setattr, server, "should_exit", True)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            print(
                f"\nLe hub n'a pas pu démarrer (le port {settings.port} est-il libre ? "
                "Choisissez-en un autre avec HUB_PORT).",
                file=sys.stderr,
            )
            return 1
        await asyncio.sleep(0.05)
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cabin_agent",
        "run",
        "--config",
        str(agent_config),
        "--simulate",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    _print_banner(settings, seed)
    try:
        await serving
    finally:
        if agent.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                agent.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(agent.wait(), 10)
            except TimeoutError:
                agent.kill()
    print(
        "\nDémonstration arrêtée. Relancez la même commande pour la reprendre : "
        "les données sont conservées."
    )
    return 0


async def _patient_url(session: AsyncSession, settings: Settings, past: list[int]) -> str:
    """The record page of the first past consultation's patient, as their signed link."""
    consultation = await session.get(Consultation, past[0]) if past else None
    patient = await session.get(Patient, consultation.patient_id) if consultation else None
    if patient is None:
        return ""
    url = record_url(
        settings.base_url, settings.secret_key.get_secret_value(), patient, now=db.utcnow()
    )
    await session.commit()  # the link's nonce, created on first use
    return url


def _print_banner(settings: Settings, seed: DemoSeed) -> None:
    print("\n".join(banner_lines(settings, seed)), flush=True)


def banner_lines(settings: Settings, seed: DemoSeed) -> list[str]:
    """What the demo prints once it runs: every entry point, with its address and login."""
    url = settings.base_url
    env = f"HUB_DATABASE_URL={settings.database_url}"
    lines = [
        "",
        "=" * 72,
        "  Téléconsultation CPTS — démonstration",
        f"  Hub : {url}   (cabine simulée : {CLOS_MORTIER}, chariot complet)",
        "",
        f"  {'Rôle':<28}{'Adresse':<38}Identifiant / mot de passe",
    ]
    for account in DEMO_ACCOUNTS:
        lines.append(
            f"  {account.role.label:<28}{url + ROLE_HOME[account.role]:<38}"
            f"{account.username} / {account.password}"
        )
    lines += [
        "",
        "  L'agenda du jour du Clos Mortier a des patients qui attendent (infirmière).",
        "",
        f"  Prise de rendez-vous en ligne (patients, sans compte) : {url}/rdv",
        f"  Documentation de l'API : {url}/api/docs",
        f"  Créneaux pour le SAS (FHIR) : {url}/fhir/Slot  (jeton « Bearer » requis)",
        "  Créer ce jeton pour la plateforme du SAS :",
        f"    {env} \\",
        f"    {sys.executable} -m hub create-api-client --organisation {DEMO_ORG_SLUG}",
    ]
    if seed.patient_url:
        lines += [
            "",
            "  Dossier d'une patiente (lien reçu après son compte rendu) :",
            f"  {seed.patient_url}",
        ]
    lines += [
        "",
        "  Documents d'une consultation passée (CDA, XDM, FHIR) :",
        f"    {env} \\",
        f"    {sys.executable} -m hub export-consultation 1 --out var/export",
        "",
        "  Ctrl-C arrête le hub et l'agent.",
        "=" * 72,
        "",
    ]
    return lines
