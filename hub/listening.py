"""The sockets a lone hub worker listens on, bound before its application is built.

A hub that restarts is found by its agents at once: each retries within a couple of seconds
(``cabin_agent.connection.Backoff.hub_restarting``). Bound first thing, the port takes their
connections while the application is imported and its lifespan starts, and the kernel keeps
them queued (up to ``BACKLOG``, capped by ``net.core.somaxconn``) until uvicorn accepts them,
instead of refusing them and leaving each agent to its next try."""

from __future__ import annotations

import errno
import logging
import socket

logger = logging.getLogger(__name__)

# Connections the kernel keeps waiting to be accepted: a territory's agents reconnecting while
# the hub starts (Linux caps it at net.core.somaxconn, 4096 by default).
BACKLOG = 8192


def bind(host: str, port: int, *, backlog: int = BACKLOG) -> list[socket.socket]:
    """Listening sockets on every address ``host`` names, as uvicorn would bind them (one per
    address, IPv6 ones IPv6 only, the port reusable at once after a restart); exits with a
    French message when the address cannot be listened on."""
    where = f"{host}:{port}"
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise SystemExit(
            f"Impossible de lancer le hub : l'adresse {where} (HUB_HOST, HUB_PORT) est inconnue "
            f"({exc.strerror})."
        ) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, address in dict.fromkeys((f, k, p, a) for f, k, p, _, a in found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        reason = (
            "un autre programme l'utilise déjà (un hub déjà lancé ?)"
            if exc.errno == errno.EADDRINUSE
            else exc.strerror or str(exc)
        )
        raise SystemExit(
            f"Impossible de lancer le hub : écoute impossible sur {where} (HUB_HOST, HUB_PORT) : "
            f"{reason}."
        ) from None
    for sock in sockets:
        logger.info("listening on %s", sock.getsockname())
    return sockets
