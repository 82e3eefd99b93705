"""``python -m hub create-api-client``: an API client for a CPTS, its token printed once."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.errors import HubError
from hub.identity.models import Organisation
from hub.interop import clients
from hub.interop.models import ApiClientKind


async def _create(settings: Settings, args: argparse.Namespace) -> tuple[int, str]:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            org = await session.scalar(
                select(Organisation).where(Organisation.slug == args.organisation)
            )
            if org is None:
                raise HubError(f"No organisation '{args.organisation}'.")
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
    try:
        settings = Settings()
    except ValidationError as exc:
        raise SystemExit(f"configuration error: {exc.errors()[0]['msg']}") from None
    try:
        client_id, token = asyncio.run(_create(settings, args))
    except HubError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"API client {client_id} created ({args.kind}) for {args.organisation}.")
    print(f"Token (shown once, give it to the platform as 'Authorization: Bearer …'):\n{token}")
    return 0


def add_create_api_client_parser(sub: Any) -> None:
    """Register ``create-api-client`` on the hub CLI's subparsers."""
    parser = sub.add_parser(
        "create-api-client", help="create an API client (e.g. the SAS platform) for a CPTS"
    )
    parser.add_argument("--organisation", required=True, help="organisation slug")
    parser.add_argument("--name", default="Plateforme SAS")
    parser.add_argument("--kind", choices=[k.value for k in ApiClientKind], default="sas")
    parser.add_argument(
        "--finess", default="", help="FINESS of the CPTS (9 digits), sent to the SAS as 1 + FINESS"
    )
    parser.set_defaults(func=cmd_create_api_client)
