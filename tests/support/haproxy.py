"""A throw-away haproxy (Debian's) in front of several hub workers on loopback.

It passes WebSocket upgrades and server-sent events (long `timeout tunnel`), balances new
connections round-robin, and takes a worker out of rotation when its /healthz stops answering,
the shape README's "Running at scale" describes.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.postgres import free_port


def config(
    port: int, backends: list[tuple[str, int]], stats_socket: Path, maxconn: int = 8000
) -> str:
    servers = "\n".join(
        f"    server worker{i} {host}:{bport} check inter 500 fall 2 rise 1"
        for i, (host, bport) in enumerate(backends, start=1)
    )
    return f"""global
    maxconn {maxconn}
    stats socket {stats_socket} mode 600 level admin

defaults
    mode http
    option http-server-close
    option forwardfor
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-keep-alive 5s

frontend hub
    bind 127.0.0.1:{port}
    default_backend workers

backend workers
    balance roundrobin
    option httpchk GET /healthz
{servers}
"""


class ThrowawayHaproxy:
    """`haproxy -db` on a free loopback port; `url` is the hub's address through it."""

    def __init__(self, backends: list[tuple[str, int]], maxconn: int = 8000) -> None:
        # Each proxied connection holds two descriptors: maxconn x 2 must fit `ulimit -n`.
        self.maxconn = maxconn
        binary = shutil.which("haproxy") or (
            "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
        )
        if binary is None:
            raise RuntimeError(
                "haproxy not found; run tests/support/system-deps.sh (make test does)"
            )
        self.binary = binary
        self.backends = backends
        self.root = Path(tempfile.mkdtemp(prefix="cpts-haproxy-"))
        self.port = free_port()
        self.stats_socket = self.root / "admin.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        cfg = self.root / "haproxy.cfg"
        cfg.write_text(config(self.port, self.backends, self.stats_socket, self.maxconn))
        subprocess.run([self.binary, "-c", "-q", "-f", str(cfg)], check=True)
        with open(self.root / "haproxy.log", "wb") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [self.binary, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.root / "haproxy.log").read_text(errors="replace"))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)  # polling a starting server; no event to wait on
        raise RuntimeError(f"haproxy did not listen on port {self.port} in {timeout} s")

    def admin(self, command: str) -> str:
        """A command on haproxy's admin socket, e.g. "show servers state"."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.stats_socket))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                self.process.wait(timeout=10)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
