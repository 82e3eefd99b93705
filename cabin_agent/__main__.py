"""Command line of the cabin agent: ``python -m cabin_agent run --config FILE``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from cabin_agent import __version__
from cabin_agent.config import AgentConfig, ConfigError, load_config
from cabin_agent.connection import AuthRefused, Backoff, HubLink
from hub.wire import DeviceDescription

logger = logging.getLogger("cabin_agent")

EXIT_CONFIG = 2
EXIT_REFUSED = 3


def build_link(config: AgentConfig) -> HubLink:
    """The hub link described by a configuration."""
    devices = tuple(
        DeviceDescription(name=d.name, kind=d.kind, model=d.model, transport=d.transport)
        for d in config.devices
    )
    return HubLink(
        ws_url=config.ws_url,
        cabin_id=config.hub.cabin_id,
        token=config.hub.resolved_token(),
        agent_version=__version__,
        devices=devices,
        heartbeat_seconds=config.agent.heartbeat_seconds,
        backoff=Backoff(
            initial=config.agent.backoff_initial_seconds, maximum=config.agent.backoff_max_seconds
        ),
    )


async def _run(config: AgentConfig) -> int:
    link = build_link(config)
    task = asyncio.create_task(link.run())
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
    parser = argparse.ArgumentParser(
        prog="cabin_agent", description="Agent of a teleconsultation trolley."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="connect to the hub and serve the trolley")
    run.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    run.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.config)
        config.hub.resolved_token()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return asyncio.run(_run(config))


if __name__ == "__main__":
    sys.exit(main())
