"""A hub job worker as a process of its own, for the tests that kill one mid-job.

``python -m tests.support.job_worker DATABASE_URL SMTP_PORT NOW`` runs one round of the
periodic jobs (``JobRunner.run_once``) with the clock stopped at NOW (ISO 8601), the SMTP relay
on a loopback port, and exits. Also: ``context_for`` builds the HubContext a job runner needs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Callable

from hub import db
from hub.config import Environment, Settings
from hub.context import HubContext
from hub.jobs import JobRunner
from hub.rendering import make_templates

SECRET = "test-secret-key-that-is-long-enough-0123456789"


def worker_settings(
    database_url: str, smtp_port: int, sms_url: str = "", sms_token: str = ""
) -> Settings:
    """Settings of a worker that sends e-mail through a plain loopback SMTP server (and SMS
    through ``sms_url``, if given)."""
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        secret_key=SECRET,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_starttls=False,
        sms_gateway_url=sms_url,
        sms_gateway_token=sms_token,
        jobs_enabled=False,
    )


def context_for(settings: Settings, clock: Callable[[], dt.datetime]) -> HubContext:
    """A hub context of its own (engine, sessions) around ``clock``, as one worker has."""
    engine = db.make_engine(settings.database_url)
    return HubContext(
        settings=settings,
        engine=engine,
        sessions=db.make_session_factory(engine),
        templates=make_templates(),
        clock=clock,
    )


async def _one_round(database_url: str, smtp_port: int, now: dt.datetime) -> None:
    ctx = context_for(worker_settings(database_url, smtp_port), lambda: now)
    runner = JobRunner(ctx)
    try:
        await runner.run_once()
    finally:
        await runner.stop()
        await ctx.engine.dispose()


if __name__ == "__main__":
    url, port, when = sys.argv[1], int(sys.argv[2]), dt.datetime.fromisoformat(sys.argv[3])
    asyncio.run(_one_round(url, port, when))
