"""Command line of the hub: ``python -m hub serve|migrate|create-user|create-api-client|
verify-audit|export-consultation|indicators|reporting-facts|demo``, in French. Every command
but ``migrate`` and ``demo`` checks first that its database exists and is migrated
(``hub.commands``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from devices.cli_fr import FrenchArgumentParser
from hub import collector, commands, db, listening, migrate
from hub.config import Settings
from hub.errors import HubError
from hub.identity.models import SPECIALTIES, Role
from hub.interop.cli import add_create_api_client_parser
from hub.logs import configure_logging
from hub.reporting.cli import add_parser as add_indicators_parser

if TYPE_CHECKING:
    from hub.audit.service import ChainReport


def cmd_serve(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise SystemExit("Impossible de continuer : --workers attend un nombre de processus ≥ 1.")
    if args.workers > 1:
        commands.refuse_several_workers(commands.settings())
    settings = commands.settings_with_database()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    # A lone worker listens before it imports and builds the application: agents reconnecting
    # to a restarting hub wait in the kernel's queue instead of being refused (hub.listening).
    sockets = listening.bind(settings.host, settings.port) if args.workers == 1 else []
    collector.tune_for_start()
    import uvicorn

    from hub.app import GRACEFUL_SHUTDOWN_SECONDS, create_app

    options: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "log_config": None,
        "proxy_headers": False,
        # The agents' frames are small JSON: compressing them costs CPU and a zlib context
        # per cabin (memory) for nothing (measured by bench/hub_capacity.py).
        "ws_per_message_deflate": False,
        "backlog": listening.BACKLOG,
    }
    if args.workers > 1:  # each worker process builds its own app from the environment
        uvicorn.run("hub.app:from_environment", factory=True, workers=args.workers, **options)  # type: ignore[arg-type]
        return 0
    app = create_app(settings)
    collector.tune_for_serving()
    server = uvicorn.Server(uvicorn.Config(app, **options))  # type: ignore[arg-type]
    server.run(sockets=sockets)
    if not server.started:  # as uvicorn.run: the application could not start
        return 3
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from alembic.util import CommandError  # Alembic: loaded by the commands that migrate

    settings = commands.settings()
    target = args.revision or ("head" if args.direction == "upgrade" else "base")
    step = migrate.upgrade if args.direction == "upgrade" else migrate.downgrade
    try:
        step(settings.database_url, target)
    except CommandError as exc:
        if "Can't locate revision" in str(exc):
            raise SystemExit(
                f"Erreur : la version « {target} » n'existe pas (les versions sont les "
                "fichiers de hub/migrations/versions, par exemple 0017 ; « head » est la "
                "dernière, « base » une base vide)."
            ) from None
        raise SystemExit(f"Erreur : migration impossible ({exc}).") from None
    done = "mise à jour" if args.direction == "upgrade" else "ramenée"
    print(f"Base de données {_database_name(settings)} {done} à la version {target}.")
    if not os.environ.get("HUB_DATABASE_URL"):
        print(
            "HUB_DATABASE_URL n'est pas défini : c'est la base SQLite par défaut, relative au "
            "dossier où la commande est lancée. Les autres commandes la trouvent lancées du "
            f"même dossier, ou avec HUB_DATABASE_URL={settings.database_url}."
        )
    return 0


def _database_name(settings: Settings) -> str:
    """The database as people recognise it: its file, or its URL without the password."""
    path = settings.sqlite_path()
    if path is not None:
        return str(path)
    return make_url(settings.database_url).render_as_string(hide_password=True)


async def _create_user(settings: Settings, args: argparse.Namespace, password: str) -> str:
    from hub.identity import service

    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            org = await service.organisation_by_slug(session=session, slug=args.organisation)
            if org is None:
                if not args.create_organisation:
                    raise HubError(
                        f"Aucune organisation « {args.organisation} » (ajoutez "
                        "--create-organisation NOM pour la créer)."
                    )
                org = await service.create_organisation(
                    session=session, name=args.create_organisation, slug=args.organisation
                )
            sites = []
            for name in args.site:
                site = await service.site_by_name(
                    session=session, organisation_id=org.id, name=name
                )
                if site is None:
                    raise HubError(f"Aucun site nommé « {name} » dans {org.slug}.")
                sites.append(site)
            user = await service.create_user(
                session=session,
                organisation=org,
                username=args.username,
                full_name=args.full_name,
                role=Role(args.role),
                password=password,
                sites=sites,
                email=args.email,
                specialty=args.specialty,
            )
            await session.commit()
            return user.username
    finally:
        await engine.dispose()


def cmd_create_user(args: argparse.Namespace) -> int:
    settings = commands.settings_with_database()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Mot de passe : ")
        if getpass.getpass("Confirmez : ") != password:
            print("Erreur : les deux mots de passe diffèrent.", file=sys.stderr)
            return 2
    try:
        username = asyncio.run(_create_user(settings, args, password))
    except HubError as exc:
        print(f"Erreur : {exc.message}", file=sys.stderr)
        return 2
    print(f"Compte « {username} » créé ({Role(args.role).label}).")
    return 0


async def _verify_audit(settings: Settings) -> ChainReport:
    from hub.audit.service import seal_pending, verify_chain

    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            await seal_pending(session=session, now=db.utcnow())
            return await verify_chain(session=session)
    finally:
        await engine.dispose()


def cmd_verify_audit(_args: argparse.Namespace) -> int:
    """Exit 0 when the audit trail's hash chain is intact, 1 (with the problems) otherwise."""
    report = asyncio.run(_verify_audit(commands.settings_with_database()))
    for problem in report.problems:
        print(f"ALTÉRÉ : {problem}")
    if report.problems:
        return 1
    print(
        f"Journal d'audit intact : {report.sealed} événements scellés, "
        f"{report.pending} en attente de scellement."
    )
    return 0


def cmd_export_consultation(args: argparse.Namespace) -> int:
    """Write a consultation's CDA, XDM zip and FHIR bundle (exit 2 when it has no report)."""
    from hub.reports.export import cmd_export_consultation as export

    return export(commands.settings_with_database(), args)


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo_runner import run_demo

    return run_demo(data_dir=Path(args.data_dir), port=args.port)


def main(argv: list[str] | None = None) -> int:
    parser = FrenchArgumentParser(
        prog="python -m hub",
        description="Hub des cabines de téléconsultation de la CPTS. Réglages : variables "
        "d'environnement HUB_… (base de données : HUB_DATABASE_URL).",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, title="commandes", metavar="COMMANDE"
    )
    serve = sub.add_parser("serve", help="lancer le hub (réglages : variables HUB_…)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="nombre de processus sur le même port (au-delà de 1 : PostgreSQL et "
        "HUB_REDIS_URL obligatoires)",
    )
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser(
        "migrate", help="créer la base de données ou la mettre à jour (HUB_DATABASE_URL)"
    )
    mig.add_argument(
        "direction",
        nargs="?",
        choices=["upgrade", "downgrade"],
        default="upgrade",
        help="upgrade (mettre à jour, par défaut) ou downgrade (revenir en arrière)",
    )
    mig.add_argument(
        "revision", nargs="?", default="", help="version visée (par défaut : la dernière)"
    )
    mig.set_defaults(func=cmd_migrate)

    cu = sub.add_parser("create-user", help="créer le compte d'un membre de l'équipe")
    cu.add_argument("--organisation", required=True, help="identifiant court de la CPTS (slug)")
    cu.add_argument(
        "--create-organisation",
        metavar="NOM",
        default="",
        help="créer la CPTS sous ce nom si elle n'existe pas",
    )
    cu.add_argument("--username", required=True, help="identifiant de connexion")
    cu.add_argument("--full-name", required=True, help="prénom et nom, tels qu'affichés")
    cu.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in Role],
        help="rôle : " + ", ".join(f"{r.value} ({r.label})" for r in Role),
    )
    cu.add_argument("--site", action="append", default=[], help="nom d'un site (à répéter)")
    cu.add_argument("--email", default="", help="adresse e-mail")
    cu.add_argument(
        "--specialty", default="", choices=list(SPECIALTIES), help="spécialité d'un médecin"
    )
    cu.add_argument(
        "--password-stdin", action="store_true", help="lire le mot de passe sur l'entrée standard"
    )
    cu.set_defaults(func=cmd_create_user)

    add_create_api_client_parser(sub)
    add_indicators_parser(sub)
    sub.add_parser(
        "verify-audit", help="vérifier que le journal d'audit n'a pas été altéré"
    ).set_defaults(func=cmd_verify_audit)

    exp = sub.add_parser(
        "export-consultation",
        help="écrire le CDA, l'IHE_XDM.ZIP et le paquet FHIR d'une consultation dans un dossier",
    )
    exp.add_argument("consultation_id", type=int, help="numéro de la consultation")
    exp.add_argument("--out", required=True, help="dossier où écrire (créé s'il manque)")
    exp.set_defaults(func=cmd_export_consultation)

    demo = sub.add_parser(
        "demo", help="créer une CPTS de démonstration et lancer le hub avec une cabine simulée"
    )
    demo.add_argument(
        "--data-dir",
        default=os.environ.get("DEMO_DATA_DIR", "var/demo"),
        help="dossier des données de la démonstration (par défaut : var/demo)",
    )
    demo.add_argument(
        "--port",
        type=int,
        default=os.environ.get("HUB_PORT", "8000"),  # a string: argparse checks it as typed
        help="port du hub (par défaut : 8000, ou HUB_PORT)",
    )
    demo.set_defaults(func=cmd_demo)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
