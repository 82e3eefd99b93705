"""``python -m hub create-api-client``: an API client for a CPTS, its token printed once."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from hub import commands, db
from hub.config import Settings
from hub.errors import HubError
from hub.identity import service as identity_service
from hub.interop import clients
from hub.interop.models import ApiClientKind


async def _create(settings: Settings, args: argparse.Namespace) -> tuple[int, str]:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            org = await identity_service.organisation_by_slug(
                session=session, slug=args.organisation
            )
            if org is None:
                raise HubError(f"Aucune organisation « {args.organisation} ».")
            client, token = await clients.create_api_client(
                session=session, organisation=org, name=args.name, kind=ApiClientKind(args.kind)
            )
            if args.finess:
                await clients.set_finess(session=session, organisation=org, finess=args.finess)
            await session.commit()
            return client.id, token
    finally:
        await engine.dispose()


def cmd_create_api_client(args: argparse.Namespace) -> int:
    """Create the client and print its token (shown once: only its hash is stored)."""
    settings = commands.settings_with_database()
    try:
        client_id, token = asyncio.run(_create(settings, args))
    except HubError as exc:
        print(f"Erreur : {exc.message}", file=sys.stderr)
        return 2
    print(f"Client d'API n° {client_id} créé ({args.kind}) pour {args.organisation}.")
    print(
        "Jeton (affiché une seule fois ; à donner à la plateforme, qui l'envoie dans l'en-tête "
        f"« Authorization: Bearer … ») :\n{token}"
    )
    return 0


def add_create_api_client_parser(sub: Any) -> None:
    """Register ``create-api-client`` on the hub CLI's subparsers."""
    parser = sub.add_parser(
        "create-api-client",
        help="créer un client d'API (la plateforme du SAS, par exemple) et afficher son jeton",
    )
    parser.add_argument("--organisation", required=True, help="identifiant court de la CPTS (slug)")
    parser.add_argument("--name", default="Plateforme SAS", help="nom du client")
    parser.add_argument(
        "--kind",
        choices=[k.value for k in ApiClientKind],
        default="sas",
        help="type de client (par défaut : sas)",
    )
    parser.add_argument(
        "--finess",
        default="",
        help="numéro FINESS de la CPTS (9 chiffres), transmis au SAS sous la forme 1 + FINESS",
    )
    parser.set_defaults(func=cmd_create_api_client)
