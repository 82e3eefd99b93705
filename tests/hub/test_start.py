"""The hub's start: what a restarted hub loads before it listens again (its cabins wait)."""

from __future__ import annotations

import subprocess
import sys


def test_the_hub_starts_without_loading_what_only_some_requests_need() -> None:
    """reportlab (a signed report), zeep (an INSi query) and Alembic (a migration) load when
    first needed: importing them at start delayed every cabin's reconnection after a restart."""
    probe = (
        "import sys, hub.app; "
        "print(','.join(m for m in ('reportlab', 'zeep', 'alembic', 'pikepdf') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert loaded == ""
