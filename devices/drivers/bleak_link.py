"""`GattLink` and `GattLinkFinder` over bleak's public API.

With the default backend these talk to the host's Bluetooth adapter; with
`backend=BumbleBleakClient` / `scanner_backend=BumbleBleakScanner` and `air=...` in
`backend_kwargs` they talk to the emulated BLE stack of the simulators, unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from devices.transports import (
    DeviceLinkError,
    DisconnectedCallback,
    GattLink,
    NotifyCallback,
    normalize_uuid,
)

logger = logging.getLogger(__name__)


class BleakGattLink:
    """A `GattLink` wrapping one `bleak.BleakClient`."""

    def __init__(
        self,
        device: BLEDevice | str,
        *,
        backend: type[BaseBleakClient] | None = None,
        backend_kwargs: Mapping[str, Any] | None = None,
        timeout: float = 20.0,
    ) -> None:
        self._disconnected_callback: DisconnectedCallback | None = None
        self._client = BleakClient(
            device,
            disconnected_callback=self._on_disconnected,
            timeout=timeout,
            backend=backend,
            **dict(backend_kwargs or {}),
        )

    @property
    def address(self) -> str:
        return self._client.address

    @property
    def is_connected(self) -> bool:
        return self._client.is_connected

    def set_disconnected_callback(self, callback: DisconnectedCallback | None) -> None:
        self._disconnected_callback = callback

    def _on_disconnected(self, _client: BleakClient) -> None:
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def connect(self) -> None:
        try:
            await self._client.connect()
        except (BleakError, TimeoutError, OSError) as error:
            raise DeviceLinkError(f"cannot connect to {self.address}: {error}") from error

    async def disconnect(self) -> None:
        try:
            await self._client.disconnect()
        except (BleakError, OSError) as error:
            logger.debug("disconnect from %s failed: %s", self.address, error)

    def _characteristic(self, uuid: str) -> BleakGATTCharacteristic:
        characteristic = self._client.services.get_characteristic(normalize_uuid(uuid))
        if characteristic is None:
            raise DeviceLinkError(f"{self.address} has no characteristic {uuid}")
        return characteristic

    def has_characteristic(self, uuid: str) -> bool:
        try:
            return self._client.services.get_characteristic(normalize_uuid(uuid)) is not None
        except BleakError:
            return False

    async def read(self, uuid: str) -> bytes:
        try:
            return bytes(await self._client.read_gatt_char(self._characteristic(uuid)))
        except (BleakError, TimeoutError, OSError) as error:
            raise DeviceLinkError(f"reading {uuid} from {self.address} failed: {error}") from error

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None:
        try:
            await self._client.write_gatt_char(self._characteristic(uuid), data, response=response)
        except (BleakError, TimeoutError, OSError) as error:
            raise DeviceLinkError(f"writing {uuid} to {self.address} failed: {error}") from error

    async def start_notify(self, uuid: str, callback: NotifyCallback) -> None:
        def forward(_sender: BleakGATTCharacteristic, data: bytearray) -> None:
            callback(bytes(data))

        try:
            await self._client.start_notify(self._characteristic(uuid), forward)
        except (BleakError, TimeoutError, OSError) as error:
            raise DeviceLinkError(f"subscribing to {uuid} failed: {error}") from error

    async def stop_notify(self, uuid: str) -> None:
        try:
            await self._client.stop_notify(self._characteristic(uuid))
        except (BleakError, TimeoutError, OSError) as error:
            raise DeviceLinkError(f"unsubscribing from {uuid} failed: {error}") from error


class BleakFinder:
    """A `GattLinkFinder` scanning with `bleak.BleakScanner` for advertised service UUIDs.

    `address`, when given, restricts the search to one peripheral (a trolley's own cuff).
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        backend_kwargs: Mapping[str, Any] | None = None,
        connect_timeout: float = 20.0,
    ) -> None:
        self._address = address.upper() if address else None
        self._client_backend = client_backend
        self._scanner_backend = scanner_backend
        self._backend_kwargs = dict(backend_kwargs or {})
        self._connect_timeout = connect_timeout

    async def find(self, service_uuids: list[str], timeout: float) -> GattLink | None:
        wanted = {normalize_uuid(uuid) for uuid in service_uuids}
        scanner = BleakScanner(
            service_uuids=sorted(wanted), backend=self._scanner_backend, **self._backend_kwargs
        )
        try:
            # Start and stop outside the timeout: only the wait for an advertisement is bounded.
            await scanner.start()
            try:
                async with asyncio.timeout(timeout):
                    async for device, adv in scanner.advertisement_data():
                        if self._address and device.address.upper() != self._address:
                            continue
                        if wanted & set(adv.service_uuids):
                            return BleakGattLink(
                                device,
                                backend=self._client_backend,
                                backend_kwargs=self._backend_kwargs,
                                timeout=self._connect_timeout,
                            )
            except TimeoutError:
                return None
            finally:
                await scanner.stop()
        except (BleakError, OSError) as error:
            raise DeviceLinkError(f"scanning failed: {error}") from error
        return None
