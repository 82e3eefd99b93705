"""A pseudo-terminal that looks like a USB serial device which can be unplugged.

The slave side is exposed through a stable symlink (like /dev/serial/by-id/…): unplugging
closes the pty and removes the link, so the reader sees an I/O error and reopening fails;
replugging creates a new pty behind the same link path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import termios
import tty

logger = logging.getLogger(__name__)


class UnpluggablePty:
    """A pty whose slave is reachable at `path` while plugged in."""

    def __init__(self, path: str | None = None) -> None:
        self._path = path
        self._own_directory: str | None = None
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def path(self) -> str:
        """Where the tty appears while plugged (a temporary directory unless given)."""
        if self._path is None:
            self._own_directory = tempfile.mkdtemp(prefix="cpts-serial-")
            self._path = os.path.join(self._own_directory, "ttySIM0")
        return self._path

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def tty_name(self) -> str | None:
        """The real /dev/pts/N behind the link, while plugged."""
        return os.ttyname(self._slave) if self._slave is not None else None

    def plug(self) -> None:
        """Create the pty and the link to its slave side."""
        if self.plugged:
            return
        master, slave = os.openpty()
        tty.setraw(slave, termios.TCSANOW)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.symlink(os.ttyname(slave), self.path)
        logger.debug("simulated serial device plugged at %s", self.path)

    def unplug(self) -> None:
        """Close the pty (readers get EIO) and remove the link (reopening fails)."""
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        logger.debug("simulated serial device unplugged from %s", self.path)

    def write(self, data: bytes) -> int:
        """Write to the device side; bytes nobody reads are dropped like on a real UART."""
        if self._master is None:
            return 0
        try:
            return os.write(self._master, data)
        except BlockingIOError:
            self.discard_output()
            return 0
        except OSError:
            return 0

    def discard_output(self) -> None:
        """Drop what was written but not yet read by the host."""
        if self._slave is not None:
            with contextlib.suppress(OSError):
                termios.tcflush(self._slave, termios.TCIFLUSH)

    def read(self, max_bytes: int = 4096) -> bytes:
        """Return what the host wrote to the device (commands), without blocking."""
        if self._master is None:
            return b""
        try:
            return os.read(self._master, max_bytes)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        """Unplug for good and remove the temporary directory if we made it."""
        self.unplug()
        if self._own_directory is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._own_directory)
            self._own_directory = None
