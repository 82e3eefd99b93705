"""`python -m devices`: see devices.cli."""

from __future__ import annotations

import sys

from devices.cli import main

if __name__ == "__main__":
    sys.exit(main())
