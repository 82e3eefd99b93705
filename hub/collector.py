"""The garbage collector of a serving hub process (``python -m hub serve``, each worker).

With CPython's default thresholds (700, 10, 10) a hub holding thousands of agent links spends
a large share of its CPU in full collections that walk every object it has (measured by
bench/hub_capacity.py: about 3.2 s of the 6.3 s a hub spent taking 2,000 cabins' hellos, and
0.3 s with these settings). Once the app is built, everything made so far (modules, routes,
models, templates) is frozen out of the collector's sight, and the young generation is
collected every `THRESHOLDS` [0] allocations, the older ones more rarely. Reference cycles are
still collected; memory is still freed by reference counting as before.

Only the serving command calls `tune_for_start` and `tune_for_serving`: tests and scripts that
build many apps in one process keep the defaults."""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def tune_for_serving() -> None:
    """Freeze the objects made so far and set `THRESHOLDS`; call once the app is built."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def tune_for_start() -> None:
    """Set `THRESHOLDS` before the serving process imports and builds its app: what it makes
    then lives as long as the process, and collecting it in passing cost about a tenth of
    that start's CPU (``-X importtime`` of ``hub.app``, 0.70–0.77 s against 0.62–0.75 s)."""
    gc.set_threshold(*THRESHOLDS)
