"""The agent asks Linux to serve its measurements first when they wake; its media process runs
with the kernel's default slice and its niceness (`cabin_agent.scheduling`)."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from pathlib import Path

import pytest

from cabin_agent.config import AgentConfig
from cabin_agent.media_boundary import MediaProcess
from cabin_agent.scheduling import MIN_SLICE_SECONDS, measurements_first
from tests.support.waiting import eventually


def slice_ns(task: str) -> int:
    """The time slice the scheduler gives a thread or process (``/proc/…/sched``)."""
    found = re.search(r"^se\.slice\s*:\s*(\d+)", Path(task, "sched").read_text(), re.M)
    if found is None:
        pytest.skip("this kernel does not show its tasks' time slices (before Linux 6.12)")
    return int(found.group(1))


def this_thread() -> str:
    return f"/proc/self/task/{threading.get_native_id()}"


def started_like_the_agent(config: AgentConfig) -> dict[str, int]:
    """As ``python -m cabin_agent run`` does before anything else, in a thread of its own: the
    short slice; then a worker thread and a media process are started from there. Returns the
    slices of that thread, of its worker and of the media process, and the latter's niceness."""
    found: dict[str, int] = {}

    async def start() -> None:
        found["worker"] = await asyncio.to_thread(lambda: slice_ns(this_thread()))
        process = await MediaProcess.start(config, simulate=True)
        try:
            # It takes its niceness once it has read its configuration, after its slice.
            await eventually(lambda: os.getpriority(os.PRIO_PROCESS, process.pid) != 0)
            found["media"] = slice_ns(f"/proc/{process.pid}")
            found["media niceness"] = os.getpriority(os.PRIO_PROCESS, process.pid)
        finally:
            await process.stop()

    def agent() -> None:
        measurements_first(MIN_SLICE_SECONDS)
        found["agent"] = slice_ns(this_thread())
        asyncio.run(start())

    thread = threading.Thread(target=agent)
    thread.start()
    thread.join(120)
    return found


def test_readings_wake_with_a_short_slice_and_media_gets_the_default_back(
    tmp_path: Path,
) -> None:
    """A reading's wake-ups (the agent's loop, the outbox's disk sync in a worker thread)
    preempt the video instead of waiting out its slice; the media process, started by the
    agent, does not keep that short slice (it would preempt the readings back) and runs at
    its niceness."""
    default = slice_ns(this_thread())
    config = AgentConfig.model_validate(
        {
            "hub": {"url": "http://127.0.0.1:9", "cabin_id": 1, "token": "t"},
            "agent": {"data_dir": str(tmp_path)},
        }
    )
    found = started_like_the_agent(config)
    if found["agent"] == default:
        pytest.skip("this kernel ignores a requested time slice (before Linux 6.12)")
    short = int(MIN_SLICE_SECONDS * 1e9)
    assert found == {"agent": short, "worker": short, "media": default, "media niceness": 10}
