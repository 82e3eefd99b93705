"""A throw-away IMAP server (Debian's dovecot-imapd) on a free loopback port: one mailbox,
plain login without TLS (loopback only), Maildir in a temporary directory.

As root, mail is kept under the ``dovecot`` system user (Dovecot refuses uid 0 for mail);
otherwise under the current user.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import free_port

USER = "cpts-val-de-loire@cpts.mssante.fr"
PASSWORD = "boite-s3cret"


class ThrowawayDovecot:
    """``dovecot -F`` in a temporary directory; ``url`` is what HUB_MSSANTE_IMAP_URL takes."""

    def __init__(self) -> None:
        binary = shutil.which("dovecot") or (
            "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
        )
        if binary is None:
            raise RuntimeError(
                "dovecot not found; run tests/support/system-deps.sh (make test does)"
            )
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="cpts-imap-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"imap://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        if os.getuid() == 0:
            mail_user = pwd.getpwnam("dovecot")
            internal, login = "dovecot", "dovenull"
        else:
            mail_user = pwd.getpwuid(os.getuid())
            internal = login = mail_user.pw_name
        mail = self.root / "mail"
        for folder in ("run", "state", "mail"):
            (self.root / folder).mkdir()
        os.chmod(self.root, 0o755)
        if os.getuid() == 0:
            os.chown(mail, mail_user.pw_uid, mail_user.pw_gid)
        (self.root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        config = self.root / "dovecot.conf"
        config.write_text(
            f"""base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail}/%u
default_internal_user = {internal}
default_login_user = {login}
default_internal_group = {internal}
first_valid_uid = {mail_user.pw_uid}
last_valid_uid = {mail_user.pw_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/users
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""
        )
        return config

    def start(self, timeout: float = 20.0) -> None:
        config = self._config()
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.root / "dovecot.log").read_text(errors="replace")
                raise RuntimeError(f"dovecot exited: {log[-2000:]}")
            try:
                with self.client():
                    return
            except (OSError, imaplib.IMAP4.error):
                pass
            time.sleep(0.05)  # polling a starting server; no event to wait on
        self.process.terminate()
        self.process.wait(timeout=10)
        raise RuntimeError(f"dovecot did not answer on port {self.port} in {timeout} s")

    def client(self) -> imaplib.IMAP4:
        """A logged-in IMAP connection with INBOX selected (use it in a ``with``)."""
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=5)
        try:
            client.login(USER, PASSWORD)
            client.select("INBOX")
        except BaseException:
            client.shutdown()
            raise
        return client

    def deliver(self, raw: bytes) -> None:
        """Put a message in the mailbox, unseen, as the operator's server would."""
        with self.client() as client:
            status, answer = client.append("INBOX", None, None, raw)
            assert status == "OK", answer

    def unseen(self) -> int:
        with self.client() as client:
            _status, data = client.uid("SEARCH", "UNSEEN")
            return len((data[0] or b"").split())

    def clear(self) -> None:
        with self.client() as client:
            _status, data = client.search(None, "ALL")
            if (data[0] or b"").split():
                client.store("1:*", "+FLAGS", "(\\Deleted)")
                client.expunge()

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                self.process.wait(timeout=10)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ThrowawayDovecot]:
    """One Dovecot for the session (started on first use); ``mailbox`` empties it per test."""
    server = ThrowawayDovecot()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def mailbox(imap_server: ThrowawayDovecot) -> ThrowawayDovecot:
    """The hub's MSSanté mailbox on a real IMAP server, empty."""
    imap_server.clear()
    return imap_server
