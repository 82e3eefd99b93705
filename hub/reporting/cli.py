"""``python -m hub indicators --from DATE --to DATE [--site ID] --format csv|json``, and
``python -m hub reporting-facts`` (the indicators' facts checked and rebuilt)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub import commands, db
from hub.config import Settings
from hub.errors import HubError
from hub.reporting import exports, facts, queries
from hub.reporting.indicators import Period, compute_indicators


async def indicators_text(
    *,
    session: AsyncSession,
    organisation: str,
    period: Period,
    site_id: int | None,
    fmt: str,
    now: dt.datetime,
) -> str:
    """The indicators of a CPTS (by slug; may be empty when there is only one) as CSV or JSON,
    masked like every export."""
    organisations = await queries.organisation_ids(session=session)
    if organisation:
        if organisation not in organisations:
            raise HubError(f"Aucune organisation « {organisation} ».")
        organisation_id = organisations[organisation]
    elif len(organisations) == 1:
        organisation_id = next(iter(organisations.values()))
    else:
        raise HubError(
            "Plusieurs organisations : choisissez-en une avec --organisation "
            f"({', '.join(sorted(organisations)) or 'aucune pour le moment'})."
        )
    report = await compute_indicators(
        session=session, organisation_id=organisation_id, period=period, now=now, site_id=site_id
    )
    return exports.indicators_json(report) if fmt == "json" else exports.indicators_csv(report)


async def _run(settings: Settings, args: argparse.Namespace, period: Period) -> str:
    engine = db.make_engine(settings.database_url)
    try:
        async with db.make_session_factory(engine)() as session:
            return await indicators_text(
                session=session,
                organisation=args.organisation,
                period=period,
                site_id=args.site,
                fmt=args.format,
                now=db.utcnow(),
            )
    finally:
        await engine.dispose()


def cmd_indicators(args: argparse.Namespace) -> int:
    """Print the indicators on stdout; 2 with a message on stderr when they cannot be made."""
    settings = commands.settings_with_database()
    try:
        period = Period(args.date_from, args.date_to)
        text = asyncio.run(_run(settings, args, period))
    except HubError as exc:
        print(f"Erreur : {exc.message}", file=sys.stderr)
        return 2
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


async def _rebuild(settings: Settings) -> tuple[int, int]:
    """How many facts differed from their source, and how many there are once rebuilt, with
    the view and triggers put back in place: one transaction."""
    engine = db.make_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            differed = await conn.run_sync(facts.differences)
            await conn.run_sync(facts.install)
            return differed, await conn.run_sync(facts.rebuild)
    finally:
        await engine.dispose()


def cmd_reporting_facts(args: argparse.Namespace) -> int:
    """Rebuild the indicators' facts; say how many consultations done they hold and how many
    differed from what the hub recorded (0 unless something wrote behind the triggers)."""
    differed, count = asyncio.run(_rebuild(commands.settings_with_database()))
    print(
        f"Indicateurs : {count} consultation(s) réalisée(s) recalculée(s) ; "
        f"{differed} ligne(s) différaient des données du hub avant le recalcul."
    )
    return 0


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date non valable (AAAA-MM-JJ) : {value!r}") from None


def add_parser(sub: Any) -> None:
    """Register ``indicators`` and ``reporting-facts`` on the hub CLI's subparsers."""
    parser = sub.add_parser(
        "indicators",
        help="afficher les indicateurs de la CPTS sur une période (petits effectifs masqués)",
    )
    parser.add_argument(
        "--from", dest="date_from", required=True, type=_date, help="premier jour (AAAA-MM-JJ)"
    )
    parser.add_argument(
        "--to", dest="date_to", required=True, type=_date, help="dernier jour (AAAA-MM-JJ)"
    )
    parser.add_argument(
        "--site", type=int, default=None, help="numéro du site (par défaut : tous les sites)"
    )
    parser.add_argument(
        "--organisation",
        default="",
        help="identifiant court de la CPTS (nécessaire s'il y en a plusieurs)",
    )
    parser.add_argument(
        "--format", choices=["csv", "json"], default="csv", help="csv (par défaut) ou json"
    )
    parser.set_defaults(func=cmd_indicators)
    rebuild = sub.add_parser(
        "reporting-facts",
        help="recalculer les données des indicateurs depuis les consultations (après une "
        "écriture hors du hub, une restauration sans déclencheurs)",
    )
    rebuild.set_defaults(func=cmd_reporting_facts)
