"""How the agent's two processes ask Linux for the processor: the measurement path (the agent's
process: device runners, outbox, hub link) to be served as soon as it wakes, the media process
to run on what the measurements leave.

A reading crosses wake-ups on its way to the hub: the device's frame waking the event loop,
then the end of the outbox's disk sync (on the loop's own thread: see ``outbox``). The
kernel's EEVDF scheduler (Linux 6.6 and later) lets a running task use up its time slice
(``se.slice`` in ``/proc/PID/sched``: 1.4 ms on the 2-core bench machine) before a task that
wakes, unless the waking one asked for a shorter slice. With a consultation under way the
media process keeps a core busy, so each wake-up of a reading could wait up to a slice
behind video: most of what media added to the reading → hub latency
(`bench/agent_pipeline.py --media`). So:

- the agent asks a short slice for its threads (``sched_setattr``'s ``sched_runtime``,
  honoured by Linux 6.12 and later, no privilege needed): waking, they preempt the media
  process; they use under 1 % of a core, so they take next to nothing from video;
- short, not the shortest: a slice also ends a running task's turn. A reading's work on the
  loop (decoding, the outbox's JSON, insert and commit, the send) takes about 0.6 ms of CPU;
  with the kernel's minimum (0.1 ms) the agent's turn ended mid-reading, and once it had run
  beyond its share the scheduler gave the core to video first: with a consultation under way
  half the readings waited 0.2–0.5 ms, and one in ten up to 3 ms, between two statements
  (timestamps at each step of the bench). 1 ms covers a reading's work and is still shorter
  than the default, and media's niceness makes its turns count for less anyway;
- the media process gives the default slice back (it inherits the agent's) and adds its
  niceness, so it weighs less than the measurements when both want the processor.

Not the idle scheduling class for media, which would starve the consultation's video and
sound behind any busy program on the cabin's PC. All of it is best effort: on another system,
an older kernel or an unknown architecture, the agent runs as before (a refusal is logged).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

logger = logging.getLogger(__name__)

#: ``sched_setattr``'s system call number, by machine (``uname -m``).
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274, "riscv64": 274, "armv7l": 380, "armv6l": 380}
#: The shortest slice the kernel grants (it clamps to 0.1–100 ms).
MIN_SLICE_SECONDS = 0.0001


class _SchedAttr(ctypes.Structure):
    """``struct sched_attr`` (include/uapi/linux/sched/types.h)."""

    _fields_ = [
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32),
        ("sched_util_max", ctypes.c_uint32),
    ]


def set_slice(seconds: float) -> str | None:
    """Ask the scheduler for this time slice (0: the kernel's default) for the calling thread
    and the threads and processes it starts afterwards, keeping its policy and niceness; None
    if the kernel took the request (one before 6.12 takes it and ignores the slice), else why
    not."""
    number = _SCHED_SETATTR.get(platform.machine())
    if platform.system() != "Linux" or number is None:
        return f"not on this system ({platform.system()} {platform.machine()})"
    policy = os.sched_getscheduler(0)
    if policy not in (os.SCHED_OTHER, os.SCHED_BATCH):
        return f"scheduling policy {policy} left as it is"
    attr = _SchedAttr(
        size=ctypes.sizeof(_SchedAttr),
        sched_policy=policy,
        sched_nice=os.getpriority(os.PRIO_PROCESS, 0),
        sched_runtime=0 if seconds <= 0 else max(int(seconds * 1e9), int(MIN_SLICE_SECONDS * 1e9)),
    )
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.syscall(number, 0, ctypes.byref(attr), 0) != 0:
        return os.strerror(ctypes.get_errno())
    return None


def measurements_first(slice_seconds: float) -> None:
    """For the agent's process, before it starts any thread: a short slice, so that its
    measurement path, waking, preempts the media process (see the module's docstring)."""
    if slice_seconds <= 0:
        return
    refused = set_slice(slice_seconds)
    if refused is None:
        logger.info("measurement path scheduled with a %.1f ms time slice", slice_seconds * 1000)
    else:
        logger.info("no short time slice (%s): readings may wait behind video", refused)
