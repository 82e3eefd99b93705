"""Command line of the hub: ``python -m hub serve|migrate|create-user|verify-audit|
export-consultation|indicators|demo``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError
from sqlalchemy import select

from hub import db, migrate
from hub.app import GRACEFUL_SHUTDOWN_SECONDS, create_app
from hub.audit.service import ChainReport, seal_pending, verify_chain
from hub.config import Settings
from hub.errors import HubError
from hub.identity import service
from hub.identity.models import Organisation, Role, Site
from hub.interop.cli import add_create_api_client_parser
from hub.logs import configure_logging
from hub.reporting.cli import add_parser as add_indicators_parser


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise SystemExit(f"configuration error: {messages}") from None


def cmd_serve(_args: argparse.Namespace) -> int:
    settings = _settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        log_config=None,
        proxy_headers=False,
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.direction == "upgrade":
        target = args.revision or "head"
        migrate.upgrade(settings.database_url, target)
    else:
        target = args.revision or "base"
        migrate.downgrade(settings.database_url, target)
    print(f"database {args.direction}d to {target}")
    return 0


async def _create_user(settings: Settings, args: argparse.Namespace, password: str) -> str:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            org = await session.scalar(
                select(Organisation).where(Organisation.slug == args.organisation)
            )
            if org is None:
                if not args.create_organisation:
                    raise HubError(
                        f"No organisation '{args.organisation}' (add --create-organisation NAME)."
                    )
                org = await service.create_organisation(
                    session=session, name=args.create_organisation, slug=args.organisation
                )
            sites = []
            for name in args.site:
                site = await session.scalar(
                    select(Site).where(Site.organisation_id == org.id, Site.name == name)
                )
                if site is None:
                    raise HubError(f"No site named '{name}' in {org.slug}.")
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
            )
            await session.commit()
            return user.username
    finally:
        await engine.dispose()


def cmd_create_user(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Mot de passe : ")
        if getpass.getpass("Confirmez : ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    try:
        username = asyncio.run(_create_user(settings, args, password))
    except HubError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"user '{username}' created ({args.role})")
    return 0


async def _verify_audit(settings: Settings) -> ChainReport:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            await seal_pending(session=session, now=db.utcnow())
            return await verify_chain(session=session)
    finally:
        await engine.dispose()


def cmd_verify_audit(_args: argparse.Namespace) -> int:
    """Exit 0 when the audit trail's hash chain is intact, 1 (with the problems) otherwise."""
    report = asyncio.run(_verify_audit(_settings()))
    for problem in report.problems:
        print(f"TAMPERED: {problem}")
    if report.problems:
        return 1
    print(f"audit trail intact: {report.sealed} events sealed, {report.pending} still settling")
    return 0


def cmd_export_consultation(args: argparse.Namespace) -> int:
    """Write a consultation's CDA, XDM zip and FHIR bundle (exit 2 when it has no report)."""
    from hub.reports.export import cmd_export_consultation as export

    return export(_settings(), args)


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo_runner import run_demo

    return run_demo(data_dir=Path(args.data_dir), port=args.port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hub", description="Hub of the CPTS teleconsultation rooms."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the hub (settings from HUB_* variables)").set_defaults(
        func=cmd_serve
    )

    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.add_argument("direction", nargs="?", choices=["upgrade", "downgrade"], default="upgrade")
    mig.add_argument("revision", nargs="?", default="")
    mig.set_defaults(func=cmd_migrate)

    cu = sub.add_parser("create-user", help="create a staff account")
    cu.add_argument("--organisation", required=True, help="organisation slug")
    cu.add_argument(
        "--create-organisation",
        metavar="NAME",
        default="",
        help="create the organisation with this name if it does not exist",
    )
    cu.add_argument("--username", required=True)
    cu.add_argument("--full-name", required=True)
    cu.add_argument("--role", required=True, choices=[r.value for r in Role])
    cu.add_argument("--site", action="append", default=[], help="site name (repeatable)")
    cu.add_argument("--email", default="")
    cu.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    cu.set_defaults(func=cmd_create_user)

    add_create_api_client_parser(sub)
    add_indicators_parser(sub)
    sub.add_parser("verify-audit", help="check the audit trail's hash chain").set_defaults(
        func=cmd_verify_audit
    )

    exp = sub.add_parser(
        "export-consultation",
        help="write a consultation's CDA, IHE_XDM.ZIP and FHIR bundle into a folder",
    )
    exp.add_argument("consultation_id", type=int)
    exp.add_argument("--out", required=True, help="folder to write into (created if missing)")
    exp.set_defaults(func=cmd_export_consultation)

    demo = sub.add_parser("demo", help="seed a demo CPTS and run the hub with a cabin agent")
    demo.add_argument("--data-dir", default=os.environ.get("DEMO_DATA_DIR", "var/demo"))
    demo.add_argument("--port", type=int, default=int(os.environ.get("HUB_PORT", "8000")))
    demo.set_defaults(func=cmd_demo)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
