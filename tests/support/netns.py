"""A cabin on its own network: a Linux network namespace joined to the host by a veth pair,
whose link the test can cut (``ip link set … down``) and restore, like a rural line failing.

Needs root and iproute2 (tests/support/system-deps.sh installs it); `unavailable()` says why
a machine cannot run it, for the tests to skip with that reason. Names are unique per run and
`remove()` takes everything away, whatever state the test left it in."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def unavailable() -> str | None:
    """Why this machine cannot give a cabin its own network namespace, or None if it can."""
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed: run tests/support/system-deps.sh"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"cpts-probe-{secrets.token_hex(3)}"
    added = _ip("netns", "add", probe, check=False)
    if added.returncode != 0:
        return f"ip netns add refused: {added.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


class CabinNetwork:
    """A namespace with one veth link to the host: the host at `host_address`, the cabin at
    `cabin_address` (a /30 of 10.x.y.0), the cabin's default route through the host."""

    def __init__(self) -> None:
        token = secrets.token_hex(3)
        self.name = f"cpts-cabin-{token}"
        self.host_link = f"cpt{token}h"  # interface names: 15 characters at most
        self.cabin_link = f"cpt{token}c"
        second, third = 200 + secrets.randbelow(50), secrets.randbelow(256)
        fourth = 4 * secrets.randbelow(64)
        self.host_address = f"10.{second}.{third}.{fourth + 1}"
        self.cabin_address = f"10.{second}.{third}.{fourth + 2}"

    def create(self) -> None:
        """Create the namespace and the link, up."""
        _ip("netns", "add", self.name)
        _ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.cabin_link)
        _ip("link", "set", self.cabin_link, "netns", self.name)
        _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_link)
        _ip("link", "set", self.host_link, "up")
        inside = ("netns", "exec", self.name, "ip")
        _ip(*inside, "addr", "add", f"{self.cabin_address}/30", "dev", self.cabin_link)
        _ip(*inside, "link", "set", self.cabin_link, "up")
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "route", "add", "default", "via", self.host_address)

    def command(self, *args: str) -> list[str]:
        """A command line that runs `args` inside the cabin's namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def cut(self) -> None:
        """The line fails: the host's end of the link goes down (the cabin's loses carrier)."""
        _ip("link", "set", self.host_link, "down")

    def restore(self) -> None:
        """The line comes back."""
        _ip("link", "set", self.host_link, "up")

    def remove(self) -> None:
        """Delete the link and the namespace (never fails: cleanup after anything)."""
        _ip("link", "del", self.host_link, check=False)
        _ip("netns", "del", self.name, check=False)
