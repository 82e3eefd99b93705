"""BLE health-device driver: search, connect, set up, receive, catch up, reconnect.

One `BleDriver` follows one peripheral of one GATT health service. It is written against
`GattLinkFinder`/`GattLink` (bleak by default, or bleak over the emulated stack in tests),
reports explicit state transitions through a callback and hands decoded readings to an async
callback. After every (re)connection it asks the Record Access Control Point for the stored
records it has not seen yet (by sequence number), so a reading taken while the link was down
arrives once, flagged `stored`, and nothing is delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from devices.drivers.backoff import Backoff
from devices.drivers.ble_profiles import BleProfile, read_device_info
from devices.drivers.racp_client import RacpClient, RacpOutcome
from devices.errors import DeviceError
from devices.gatt.device_information import DeviceInformation
from devices.measurements import DeviceIdentity
from devices.transports import (
    DeviceLinkError,
    DriverState,
    DriverStatus,
    GattLink,
    GattLinkFinder,
    Sleep,
    StateCallback,
    normalize_uuid,
)

logger = logging.getLogger(__name__)

BATTERY_LEVEL = normalize_uuid("2a19")
CURRENT_TIME = normalize_uuid("2a2b")
RACP = normalize_uuid("2a52")
LOW_BATTERY_PERCENT = 20


@dataclass(frozen=True, slots=True)
class BleReading:
    """One decoded value from the device.

    `value` is the parsed characteristic (e.g. a `BloodPressureMeasurement`);
    `intermediate` marks a live in-progress value (cuff pressure, intermediate temperature,
    continuous SpO2); `stored` marks a record fetched from the device's memory after a
    reconnection; `sequence` is the device's record number for final readings.
    """

    characteristic: str
    value: object
    intermediate: bool
    stored: bool = False
    sequence: int | None = None
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(slots=True)
class RecordCursor:
    """The last stored-record sequence number delivered (None: not known yet)."""

    last_sequence: int | None = None


ReadingCallback = Callable[[BleReading], Awaitable[None]]


class BleDriver:
    """Follows one BLE health device until cancelled; see the module docstring."""

    def __init__(
        self,
        profile: BleProfile,
        finder: GattLinkFinder,
        on_reading: ReadingCallback,
        *,
        on_state: StateCallback | None = None,
        cursor: RecordCursor | None = None,
        import_history: bool = False,
        scan_timeout: float = 10.0,
        racp_timeout: float = 10.0,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.profile = profile
        self.finder = finder
        self.cursor = cursor or RecordCursor()
        self.device_info: DeviceInformation | None = None
        self.battery_low: bool | None = None
        self._on_reading = on_reading
        self._on_state = on_state
        self._import_history = import_history
        self._scan_timeout = scan_timeout
        self._racp_timeout = racp_timeout
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._now = now
        self._state: DriverState | None = None
        self._lost = False
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._racp = RacpClient()
        self._catching_up = False
        self._link: GattLink | None = None

    @property
    def state(self) -> DriverState | None:
        return self._state

    def identity(self, model_id: str) -> DeviceIdentity:
        """Return who takes the readings, for `devices.measurements.to_measurements`."""
        info = self.device_info or DeviceInformation()
        return DeviceIdentity(
            model=model_id,
            serial=info.serial_number,
            firmware=info.firmware_revision,
            manufacturer=info.manufacturer_name,
        )

    @property
    def link(self) -> GattLink | None:
        """The current link (None while searching)."""
        return self._link

    def _set_state(self, state: DriverState) -> None:
        if state is self._state:
            return
        self._state = state
        # Log the loss once and the recovery once, not every failed retry in between.
        if state is DriverState.LOST and not self._lost:
            self._lost = True
            logger.warning("%s lost", self.profile.name)
        elif state is DriverState.READY and self._lost:
            self._lost = False
            logger.info("%s back", self.profile.name)
        if self._on_state is not None:
            self._on_state(DriverStatus(state, self.battery_low))

    async def run(self) -> None:
        """Search, connect and receive forever (until cancelled), reconnecting with backoff."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._pump(), name=f"{self.profile.name}-pump")
            await self._connection_loop()

    async def _connection_loop(self) -> None:
        next_delay = self._backoff.delays()
        while True:
            self._set_state(DriverState.SEARCHING)
            try:
                link = await self.finder.find([self.profile.service], self._scan_timeout)
            except DeviceError as error:
                logger.debug("%s: %s", self.profile.name, error)
                self._set_state(DriverState.LOST)
                await self._sleep(next_delay())
                continue
            if link is None:
                continue
            self._link = link
            dropped = asyncio.Event()
            link.set_disconnected_callback(dropped.set)
            try:
                self._set_state(DriverState.CONNECTING)
                await link.connect()
                await self._set_up(link)
                next_delay = self._backoff.delays()
                self._set_state(DriverState.READY)
                await self._catch_up(link, dropped)
                if link.is_connected:
                    await dropped.wait()
            except DeviceError as error:
                logger.debug("%s: %s", self.profile.name, error)
            finally:
                self._catching_up = False
                link.set_disconnected_callback(None)
                with contextlib.suppress(DeviceError):
                    await link.disconnect()
                self._link = None
            self._set_state(DriverState.LOST)
            await self._sleep(next_delay())

    async def _set_up(self, link: GattLink) -> None:
        self.device_info = await read_device_info(link)
        if link.has_characteristic(BATTERY_LEVEL):
            self._on_battery_level(await link.read(BATTERY_LEVEL))
            try:
                await link.start_notify(BATTERY_LEVEL, self._on_battery_level)
            except DeviceLinkError:
                logger.debug("%s: battery level is not notified", self.profile.name)
        if link.has_characteristic(CURRENT_TIME):
            try:
                await link.write(CURRENT_TIME, self.profile.current_time(self._now()))
            except DeviceLinkError as error:
                # Some devices refuse the write unless bonded; their clock stays as is.
                logger.info("%s refused the current time: %s", self.profile.name, error)
        # Either kind may be optional (an oximeter may only stream continuous values).
        subscribed = 0
        for uuid in (*self.profile.intermediate, self.profile.measurement):
            if link.has_characteristic(uuid):
                await link.start_notify(uuid, self._enqueue(uuid))
                subscribed += 1
        if not subscribed:
            raise DeviceLinkError(f"{link.address} exposes no {self.profile.name} measurement")

    def _on_battery_level(self, data: bytes) -> None:
        if not data:
            return
        low = data[0] < LOW_BATTERY_PERCENT
        if low is not self.battery_low:
            self.battery_low = low
            # During set-up the coming "ready" carries it; afterwards report it on its own.
            connected = self._state in (DriverState.READY, DriverState.MEASURING)
            if connected and self._state is not None and self._on_state is not None:
                self._on_state(DriverStatus(self._state, low))

    def _enqueue(self, uuid: str) -> Callable[[bytes], None]:
        def put(data: bytes) -> None:
            self._inbox.put_nowait((uuid, data))

        return put

    async def _catch_up(self, link: GattLink, dropped: asyncio.Event) -> None:
        if not link.has_characteristic(RACP):
            return
        await link.start_notify(RACP, self._enqueue(RACP))
        if self.cursor.last_sequence is None and not self._import_history:
            count = await self._racp_call(link, dropped, self._racp.count_all())
            self.cursor.last_sequence = count.count or 0
            return
        first = (self.cursor.last_sequence or 0) + 1
        self._catching_up = True
        try:
            outcome = await self._racp_call(link, dropped, self._racp.report_from(first))
        finally:
            self._catching_up = False
        logger.debug("%s: catch-up from record %d: %s", self.profile.name, first, outcome)

    async def _racp_call(
        self, link: GattLink, dropped: asyncio.Event, request: bytes
    ) -> RacpOutcome:
        """Write a RACP request and wait for its answer, failing if the link drops."""
        answer = self._racp.expect()
        await link.write(RACP, request)
        waiter = asyncio.ensure_future(dropped.wait())
        either: set[asyncio.Future[Any]] = {answer, waiter}
        try:
            async with asyncio.timeout(self._racp_timeout):
                done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise DeviceLinkError("no answer from the record access control point") from None
        finally:
            waiter.cancel()
        if answer not in done:
            answer.cancel()
            raise DeviceLinkError("link dropped during a record access control procedure")
        return answer.result()

    async def _pump(self) -> None:
        """Decode what the device sent, in order, and deliver it."""
        while True:
            uuid, data = await self._inbox.get()
            if uuid == RACP:
                # The answer ends the procedure: what follows is live again.
                self._catching_up = False
                self._racp.on_indication(data)
                continue
            try:
                value = self.profile.parse(uuid, data)
            except DeviceError as error:
                logger.info("%s: dropped an undecodable value: %s", self.profile.name, error)
                continue
            intermediate = uuid != self.profile.measurement
            sequence: int | None = None
            if intermediate:
                self._set_state(DriverState.MEASURING)
            else:
                if self.cursor.last_sequence is not None:
                    self.cursor.last_sequence += 1
                    sequence = self.cursor.last_sequence
                if self._state is DriverState.MEASURING:
                    self._set_state(DriverState.READY)
            reading = BleReading(
                uuid, value, intermediate, stored=self._catching_up, sequence=sequence
            )
            try:
                await self._on_reading(reading)
            except Exception:
                logger.exception("%s: the reading callback failed", self.profile.name)
