"""Transport Protocols the drivers depend on, and the driver states they report.

A driver talks to a `GattLink` (one BLE peripheral) or a `ByteLink` (one serial byte
stream). Implementations wrap bleak (`devices.drivers.bleak_link`), the emulated BLE stack
(bleak over bumble, `devices.simulators.bumble_backend`) or pyserial-asyncio
(`devices.drivers.serial`), so the same driver code runs against real devices and simulators.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from devices.errors import DeviceError

NotifyCallback = Callable[[bytes], None]
"""Called with the value of each notification or indication, in order of arrival."""

DisconnectedCallback = Callable[[], None]
"""Called once when a connected link drops without being asked to."""

Sleep = Callable[[float], Awaitable[None]]
"""`asyncio.sleep`-compatible; injected so tests never wait for real."""


class DriverState(enum.StrEnum):
    """Where a driver stands with its device."""

    SEARCHING = "searching"
    CONNECTING = "connecting"
    READY = "ready"
    MEASURING = "measuring"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class DriverStatus:
    """A driver state plus what is known of the battery (None: the device does not say)."""

    state: DriverState
    battery_low: bool | None = None


StateCallback = Callable[[DriverStatus], None]


@runtime_checkable
class GattLink(Protocol):
    """One connection to one BLE GATT server; characteristics are named by UUID string."""

    @property
    def address(self) -> str: ...

    @property
    def is_connected(self) -> bool: ...

    def set_disconnected_callback(self, callback: DisconnectedCallback | None) -> None:
        """Register the callback run when the link drops unsolicited."""

    async def connect(self) -> None:
        """Connect and discover services; raise `DeviceLinkError` on failure."""

    async def disconnect(self) -> None:
        """Disconnect; a no-op when already disconnected."""

    def has_characteristic(self, uuid: str) -> bool:
        """Return whether the connected server exposes the characteristic."""

    async def read(self, uuid: str) -> bytes:
        """Return the value read from the characteristic."""

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None:
        """Write the value, with or without a write response."""

    async def start_notify(self, uuid: str, callback: NotifyCallback) -> None:
        """Enable notifications or indications (whichever the characteristic has)."""

    async def stop_notify(self, uuid: str) -> None:
        """Disable notifications or indications."""


@runtime_checkable
class GattLinkFinder(Protocol):
    """Scans for a peripheral advertising one of some services and hands out a link to it."""

    async def find(self, service_uuids: list[str], timeout: float) -> GattLink | None:
        """Return a (not yet connected) link to the first matching peripheral, or None."""


@runtime_checkable
class ByteLink(Protocol):
    """A serial byte stream (a tty, a pseudo-terminal, a socket)."""

    @property
    def is_open(self) -> bool: ...

    async def open(self) -> None:
        """Open the stream; raise `DeviceLinkError` when the device is absent."""

    async def close(self) -> None:
        """Close the stream; a no-op when already closed."""

    async def read(self, max_bytes: int = 4096) -> bytes:
        """Return the next available bytes; b"" means end of stream (unplugged)."""

    async def write(self, data: bytes) -> None:
        """Write all of `data`."""


def normalize_uuid(uuid: str) -> str:
    """Return the 128-bit lowercase form of a 16-bit ("2a35") or 128-bit UUID string."""
    text = uuid.lower().removeprefix("0x")
    if len(text) == 4:
        return f"0000{text}-0000-1000-8000-00805f9b34fb"
    return text


class DeviceLinkError(DeviceError):
    """The link to a device could not be opened, or broke while in use."""
