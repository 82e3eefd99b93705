"""A throw-away Janus (Debian's `janus`) on free loopback ports: the VideoRoom plugin only,
the plain-HTTP transport only (client API and admin API), ICE on loopback, no STUN or NAT.

Janus checks every client request against tokens the admin API adds (`token_auth`), the way
the hub runs it: only parties the hub let in reach a room.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx

from tests.support.postgres import free_port
from tests.support.waiting import eventually_blocking

LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
KEPT_PLUGIN = "libjanus_videoroom.so"
KEPT_TRANSPORT = "libjanus_http.so"


def _others(folder: Path, kept: str) -> str:
    """Every module of `folder` but `kept`, as janus.jcfg's `disable` list."""
    names = sorted({p.name.split(".so")[0] + ".so" for p in folder.glob("*.so*")})
    return ",".join(n for n in names if n != kept)


def janus_config(*, lib: Path, log: Path, admin_secret: str, rtp_ports: str) -> str:
    return f"""general: {{
    configs_folder = "{log.parent}"
    plugins_folder = "{lib / "plugins"}"
    transports_folder = "{lib / "transports"}"
    events_folder = "{lib / "events"}"
    loggers_folder = "{lib / "loggers"}"
    log_to_stdout = false
    log_to_file = "{log}"
    debug_level = 4
    admin_secret = "{admin_secret}"
    token_auth = true
    session_timeout = 60
    hide_dependencies = true
}}
certificates: {{
}}
media: {{
    ipv6 = false
    rtp_port_range = "{rtp_ports}"
}}
nat: {{
    nice_debug = false
    full_trickle = false  # aiortc sends and takes every candidate in the SDP
    ice_enforce_list = "127.0.0.1"
    ignore_mdns = true
}}
plugins: {{
    disable = "{_others(lib / "plugins", KEPT_PLUGIN)}"
}}
transports: {{
    disable = "{_others(lib / "transports", KEPT_TRANSPORT)}"
}}
loggers: {{
    disable = "{_others(lib / "loggers", "")}"
}}
events: {{
    broadcast = false
}}
"""


def http_config(*, port: int, admin_port: int) -> str:
    return f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    ip = "127.0.0.1"
    port = {port}
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = true
    admin_ip = "127.0.0.1"
    admin_port = {admin_port}
    admin_https = false
}}
cors: {{
}}
"""


VIDEOROOM_CONFIG = """general: {
}
"""


class ThrowawayJanus:
    """`janus -F <tmp>`; `url`, `admin_url` and `admin_secret` are what HUB_JANUS_URL,
    HUB_JANUS_ADMIN_URL and HUB_JANUS_ADMIN_SECRET take."""

    def __init__(self) -> None:
        binary = shutil.which("janus")
        if binary is None or not (LIB / "plugins" / KEPT_PLUGIN).exists():
            raise RuntimeError("janus not found; run tests/support/system-deps.sh (make test does)")
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="cpts-janus-"))
        self.port = free_port()
        self.admin_port = free_port()
        self.admin_secret = "throwaway-janus-admin-secret"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/janus"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}/admin"

    @property
    def log(self) -> Path:
        return self.root / "janus.log"

    def start(self, timeout: float = 30.0) -> None:
        rtp = free_port()
        (self.root / "janus.jcfg").write_text(
            janus_config(
                lib=LIB,
                log=self.log,
                admin_secret=self.admin_secret,
                rtp_ports=f"{rtp}-{rtp + 200}",
            )
        )
        (self.root / "janus.transport.http.jcfg").write_text(
            http_config(port=self.port, admin_port=self.admin_port)
        )
        (self.root / "janus.plugin.videoroom.jcfg").write_text(VIDEOROOM_CONFIG)
        with open(self.root / "stderr.log", "wb") as err:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [self.binary, "-F", str(self.root), "-C", str(self.root / "janus.jcfg")],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"janus exited: {self.tail()}")
            try:
                info = httpx.get(f"{self.url}/info", timeout=1)
            except httpx.HTTPError:
                return False
            return info.status_code == 200 and "janus.plugin.videoroom" in info.json().get(
                "plugins", {}
            )

        eventually_blocking(answers, "janus to answer /janus/info", timeout=timeout)

    def tail(self, chars: int = 3000) -> str:
        text = ""
        for path in (self.log, self.root / "stderr.log"):
            if path.exists():
                text += path.read_text(errors="replace")[-chars:]
        return text

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
