"""Command line of the cabin agent: ``python -m cabin_agent run --config FILE``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from cabin_agent.agent import CabinAgent
from cabin_agent.config import AgentConfig, ConfigError, load_config
from cabin_agent.connection import AuthRefused
from cabin_agent.scheduling import measurements_first
from devices.cli_fr import FrenchArgumentParser

logger = logging.getLogger("cabin_agent")

EXIT_CONFIG = 2
EXIT_REFUSED = 3


async def _run(config: AgentConfig, simulate: bool) -> int:
    agent = CabinAgent(config, simulate=simulate)
    task = asyncio.create_task(agent.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        logger.info("agent stopped")
        return 0
    except AuthRefused as exc:
        logger.error(
            "the hub refused this cabin's token (%s); ask the coordinator for a new one", exc
        )
        return EXIT_REFUSED
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = FrenchArgumentParser(
        prog="python -m cabin_agent",
        description="Agent d'un chariot de téléconsultation : relie ses appareils au hub.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, title="commandes", metavar="COMMANDE"
    )
    run = sub.add_parser("run", help="se connecter au hub et servir les appareils du chariot")
    run.add_argument("--config", type=Path, required=True, help="fichier de configuration (TOML)")
    run.add_argument(
        "--simulate",
        action="store_true",
        help="remplacer chaque appareil configuré par son simulateur (démonstration, tests)",
    )
    run.add_argument(
        "--log-level", default="INFO", help="niveau du journal : DEBUG, INFO (par défaut), WARNING"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.config)
        config.hub.resolved_token()
    except ConfigError as exc:
        print(f"Erreur de configuration : {exc}", file=sys.stderr)
        return EXIT_CONFIG
    measurements_first(config.agent.wakeup_slice_ms / 1000)  # before any thread starts
    return asyncio.run(_run(config, args.simulate))


if __name__ == "__main__":
    sys.exit(main())
