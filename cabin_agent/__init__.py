"""The on-site program of one trolley: connects to the hub, says hello, keeps the link alive.

``config`` reads and validates the TOML configuration, ``connection`` holds the WebSocket link
to the hub (hello, heartbeats, reconnection with capped exponential backoff and jitter),
``__main__`` is the command line (``python -m cabin_agent run --config FILE``). Device runners,
the outbox and the hub link share the main event loop; media (``media``, ``media_sessions``,
``room_display``, ``media_sources`` opening each trolley source once for all; ``media_sfu``
and ``janus_session`` publish into a Janus VideoRoom when a consultation has more than two
parties) runs in a separate process (``media_process``, driven through ``media_boundary``),
started on the first offer and ended with the last session. ``scheduling`` asks Linux to
serve the measurement path first when it wakes (a short time slice) and media after.
"""

__version__ = "0.1.0"
