"""A bleak backend whose radio is bumble's emulated controller, all in-process.

`EmulatedAir` is the shared radio medium: a `bumble.link.LocalLink` on which simulated
peripherals (bumble `Device`s with a GATT server) advertise, and one central bumble `Device`
that the backend classes below use. Pass the backend classes to bleak's public API and the
unchanged driver code runs against the simulators, with no BlueZ, D-Bus or root::

    air = EmulatedAir()
    scanner = BleakScanner(backend=BumbleBleakScanner, air=air)
    client = BleakClient(ble_device, backend=BumbleBleakClient, air=air)

Everything runs on the event loop that created the air.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import (
    AdvertisementData,
    AdvertisementDataCallback,
    BaseBleakScanner,
)
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

logger = logging.getLogger(__name__)

CENTRAL_ADDRESS = "C0:CA:B1:00:00:01"
_T = TypeVar("_T")

_SERVICE_LIST_TYPES = (
    AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)


def bleak_uuid(uuid: UUID) -> str:
    """Return the bleak (128-bit lowercase) string form of a bumble UUID."""
    return normalize_uuid_str(uuid.to_hex_str("-"))


def bare_address(address: Address | str) -> str:
    """Return "AA:BB:..." without bumble's "/P" public-address suffix."""
    return str(address).split("/")[0]


class LinkDropped(BleakError):
    """The emulated link dropped while an operation was waiting for the peer."""


async def until_disconnected(connection: Connection, awaitable: Awaitable[_T]) -> _T:
    """Await `awaitable`, or raise LinkDropped as soon as `connection` drops.

    Unlike bumble's `cancel_on_disconnection`, this never turns a disconnection into a
    CancelledError, so a caller's own cancellation is never confused with a lost link.
    """
    loop = asyncio.get_running_loop()
    operation = asyncio.ensure_future(awaitable)
    dropped: asyncio.Future[None] = loop.create_future()

    def on_disconnection(*_args: object) -> None:
        if not dropped.done():
            dropped.set_result(None)

    connection.on(Connection.EVENT_DISCONNECTION, on_disconnection)
    try:
        either: set[asyncio.Future[Any]] = {operation, dropped}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        connection.remove_listener(Connection.EVENT_DISCONNECTION, on_disconnection)
        if not operation.done():
            operation.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await operation
    if operation.done() and not operation.cancelled():
        return operation.result()
    raise LinkDropped("the link dropped during the operation")


class EmulatedAir:
    """The emulated radio: a bumble LocalLink, its peripherals, and one central device."""

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self._central: Device | None = None
        self._central_lock = asyncio.Lock()
        # A controller initiates one connection at a time (a second LE Create Connection
        # while one is pending is refused with "command disallowed"): clients take turns.
        self.connecting = asyncio.Lock()
        self._scan_users = 0

    def create_device(self, name: str, address: str) -> Device:
        """Return a new (powered-off) bumble Device whose controller is on this air."""
        controller = Controller(name, link=self.link, public_address=address)
        host = Host(controller, AsyncPipeSink(controller))
        return Device(name=name, address=Address(address), host=host)

    async def central(self) -> Device:
        """Return the powered-on central device the bleak backend drives."""
        async with self._central_lock:
            if self._central is None:
                device = self.create_device("cabin-central", CENTRAL_ADDRESS)
                await device.power_on()
                self._central = device
            return self._central

    def is_advertising(self, address: str) -> bool:
        """Return whether a controller with this address is advertising (connectable) now."""
        for controller in self.link.controllers:
            addresses = {
                bare_address(controller.public_address),
                bare_address(controller.random_address),
            }
            if address.upper() in addresses:
                return bool(controller.is_advertising)
        return False

    async def wait_advertising(self, address: str, timeout: float) -> bool:
        """Wait until `address` advertises; False after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                # The controller emits no event when advertising starts: poll it.
                while not self.is_advertising(address):  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
        except TimeoutError:
            return False
        return True

    async def acquire_scan(self) -> Device:
        """Start scanning on the central (shared by concurrent scanners) and return it."""
        central = await self.central()
        self._scan_users += 1
        if self._scan_users == 1:
            await central.start_scanning(scan_interval=10, scan_window=10)
        return central

    async def release_scan(self) -> None:
        """Stop scanning when the last scanner stops."""
        self._scan_users = max(0, self._scan_users - 1)
        if self._scan_users == 0 and self._central is not None:
            await self._central.stop_scanning()


def _air_from(kwargs: dict[str, Any], device: BLEDevice | str | None = None) -> EmulatedAir:
    air = kwargs.get("air")
    if air is None and isinstance(device, BLEDevice) and isinstance(device.details, EmulatedAir):
        air = device.details
    if not isinstance(air, EmulatedAir):
        raise BleakError("the bumble backend needs air=EmulatedAir(...)")
    return air


class BumbleBleakScanner(BaseBleakScanner):
    """bleak scanner backend listening to advertisements on an `EmulatedAir`."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        normalized = (
            None if service_uuids is None else [normalize_uuid_str(u) for u in service_uuids]
        )
        super().__init__(detection_callback, normalized)
        self._air = _air_from(kwargs)
        self._central: Device | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._central = await self._air.acquire_scan()
        self._central.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)

    async def stop(self) -> None:
        if self._central is None:
            return
        self._central.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._central = None
        await self._air.release_scan()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        names = data.get_all(AdvertisingData.Type.COMPLETE_LOCAL_NAME) or data.get_all(
            AdvertisingData.Type.SHORTENED_LOCAL_NAME
        )
        name = names[0] if names else None
        service_uuids = [
            bleak_uuid(uuid)
            for ad_type in _SERVICE_LIST_TYPES
            for entry in data.get_all(ad_type)
            for uuid in (entry if isinstance(entry, list) else [entry])
            if isinstance(uuid, UUID)
        ]
        if not self.is_allowed_uuid(service_uuids):
            return
        address = bare_address(advertisement.address)
        adv = AdvertisementData(
            local_name=name,
            manufacturer_data={},
            service_data={},
            service_uuids=service_uuids,
            tx_power=None,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        device = self.create_or_update_device(address, address, name, self._air, adv)
        self.call_detection_callbacks(device, adv)


class BumbleBleakClient(BaseBleakClient):
    """bleak client backend connecting through the central device of an `EmulatedAir`."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._air = _air_from(kwargs, address_or_ble_device)
        self._name = (
            address_or_ble_device.name
            if isinstance(address_or_ble_device, BLEDevice) and address_or_ble_device.name
            else self.address
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}
        self._disconnecting = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        central = await self._air.central()
        # bumble's emulated controller cannot cancel a pending connection (a later
        # advertisement would complete it behind bumble's back), so only initiate one
        # towards a peripheral that advertises, as a real connection needs anyway.
        if not await self._air.wait_advertising(self.address, self._timeout):
            raise BleakError(f"could not connect to {self.address}: not advertising (timeout)")
        async with self._air.connecting:
            if not self._air.is_advertising(self.address):  # it went while we waited our turn
                raise BleakError(f"could not connect to {self.address}: not advertising")
            try:
                connection = await central.connect(Address(self.address), timeout=self._timeout)
            except Exception as error:
                raise BleakError(f"could not connect to {self.address}: {error!r}") from error
        self._connection = connection
        self._disconnecting = False
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._peer = Peer(connection)
        try:
            self.services = await self._guard(self._discover())
        except BaseException:
            await self.disconnect()
            raise

    async def _discover(self) -> BleakGATTServiceCollection:
        assert self._peer is not None
        peer = self._peer
        await peer.discover_services()
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            await peer.discover_characteristics(service=service)
            bleak_service = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                await peer.discover_descriptors(characteristic)
                properties: Any = [
                    flag.name.lower().replace("write_without_response", "write-without-response")
                    for flag in type(characteristic.properties)
                    if flag.name and characteristic.properties & flag
                ]
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    bleak_uuid(characteristic.uuid),
                    properties,
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                for descriptor in characteristic.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, bleak_uuid(descriptor.type), bleak_char
                        )
                    )
        return collection

    def _on_disconnection(self, reason: int) -> None:
        logger.debug("emulated link to %s dropped (reason %s)", self.address, reason)
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        if not self._disconnecting and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._disconnecting = True
        with contextlib.suppress(Exception):
            await connection.disconnect()
        self._connection = None
        self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("pairing is not emulated")

    async def unpair(self) -> None:
        raise NotImplementedError("pairing is not emulated")

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def _guard(self, awaitable: Awaitable[_T]) -> _T:
        """Await a GATT operation, failing with BleakError if the link drops meanwhile."""
        connection = self._connection
        if connection is None:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise BleakError("Not connected")
        try:
            return await until_disconnected(connection, awaitable)
        except BleakError:
            raise
        except Exception as error:  # ATT errors and the like, as bleak's backends report them
            raise BleakError(f"GATT operation failed: {error!r}") from error

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._guard(peer.read_value(characteristic.obj)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._guard(peer.read_value(descriptor.obj)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        await self._guard(peer.write_value(characteristic.obj, bytes(data), with_response=response))

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        await self._guard(peer.write_value(descriptor.obj, bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()

        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = subscriber
        await self._guard(peer.subscribe(characteristic.obj, subscriber, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._guard(peer.unsubscribe(characteristic.obj, subscriber))
