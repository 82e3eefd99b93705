"""The on-site program of one trolley: connects to the hub, says hello, keeps the link alive.

``config`` reads and validates the TOML configuration, ``connection`` holds the WebSocket link
to the hub (hello, heartbeats, reconnection with capped exponential backoff and jitter),
``__main__`` is the command line (``python -m cabin_agent run --config FILE``).
"""

__version__ = "0.1.0"
