"""A throw-away TURN server (Debian's coturn, /usr/bin/turnserver) on a free loopback port,
with coturn's REST shared-secret scheme (`static-auth-secret`), relaying on the loopback too.

Its log (``log_text()``) is what shows that media went through it: allocations, permissions
and channel binds of the users the hub issued credentials to, and their traffic counters."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.postgres import free_port

REALM = "cpts.test"


class ThrowawayCoturn:
    """`turnserver` in a temporary directory; `url` is what HUB_TURN_URLS takes."""

    def __init__(self, secret: str | None = None) -> None:
        binary = shutil.which("turnserver")
        if binary is None:
            raise RuntimeError(
                "turnserver not found; run tests/support/system-deps.sh (make test does)"
            )
        self.binary = binary
        self.secret = secret or secrets.token_hex(16)
        self.root = Path(tempfile.mkdtemp(prefix="cpts-coturn-"))
        self.port = free_port()
        self.log_file = self.root / "turnserver.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def start(self, timeout: float = 20.0) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "-n",  # not Debian's /etc/turnserver.conf (it logs to syslog)
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                "--listening-ip",
                "127.0.0.1",
                "--listening-port",
                str(self.port),
                "--relay-ip",
                "127.0.0.1",
                "--allow-loopback-peers",
                "--use-auth-secret",
                "--static-auth-secret",
                self.secret,
                "--realm",
                REALM,
                "--fingerprint",
                "--verbose",
                "--simple-log",
                "--no-stdout-log",
                "--log-file",
                str(self.log_file),
                "--pidfile",
                str(self.root / "turnserver.pid"),
                "--userdb",
                str(self.root / "turndb.sqlite"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited: {self.log_text()[-2000:]}")
            if self._answers_binding():
                return
            time.sleep(0.05)  # polling a starting server; no event to wait on
        raise RuntimeError(f"turnserver did not answer on port {self.port} in {timeout} s")

    def _answers_binding(self) -> bool:
        """Whether a STUN Binding request on the TURN port gets an answer."""
        request = bytes.fromhex("000100002112a442") + secrets.token_bytes(12)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            s.sendto(request, ("127.0.0.1", self.port))
            try:
                data = s.recv(2048)
            except OSError:
                return False
        return data[:2] == b"\x01\x01"

    def log_text(self) -> str:
        """Everything coturn logged so far (its log file may be named with a date suffix)."""
        texts = [p.read_text(errors="replace") for p in sorted(self.root.glob("turnserver*.log"))]
        return "".join(texts)

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
