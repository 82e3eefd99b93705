"""Common machinery of the simulated BLE health devices on an `EmulatedAir`.

A `SimulatedPeripheral` is a bumble device with Device Information, Battery, Current Time
and a Record Access Control Point over its stored records, plus the health service of its
subclass. It advertises until a central connects, advertises again when the central leaves,
and can vanish (drop the link as if it went out of range, stop advertising) and come back.
Every final measurement is stored (sequence numbers from 1) and indicated if a central is
subscribed; RACP reports stored records (all, or sequence number >= n) and their number.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from bumble import gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.hci import HCI_CONNECTION_TIMEOUT_ERROR

from devices.errors import DeviceError
from devices.gatt.racp import (
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpRequest,
    RacpResponse,
    RacpResponseCode,
)
from devices.gatt.time import CurrentTime
from devices.simulators.bumble_backend import EmulatedAir, until_disconnected

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
_READ = gatt.Characteristic.Properties.READ
_WRITE = gatt.Characteristic.Properties.WRITE
_NOTIFY = gatt.Characteristic.Properties.NOTIFY
_INDICATE = gatt.Characteristic.Properties.INDICATE
_READABLE = gatt.Characteristic.READABLE
_READ_WRITE = gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE


def characteristic(
    uuid: str,
    properties: gatt.Characteristic.Properties,
    value: bytes | gatt.CharacteristicValue[bytes] = b"",
) -> gatt.Characteristic[bytes]:
    """Return a bumble characteristic (readable unless only notify/indicate)."""
    permissions = _READ_WRITE if properties & _WRITE else _READABLE
    return gatt.Characteristic(uuid, properties, permissions, value)


class SimulatedPeripheral:
    """Base of the simulated cuff, thermometer and oximeter."""

    service_uuid = "180D"
    measurement_uuid = "2A37"

    def __init__(
        self,
        air: EmulatedAir,
        *,
        name: str,
        address: str,
        model: str,
        serial_number: str = "SIM-0001",
        manufacturer: str = "CPTS Simulators",
        firmware: str = "1.0.0",
        battery_percent: int = 85,
        now: Callable[[], dt.datetime] = dt.datetime.now,
        sleep: Sleep = asyncio.sleep,
        advertising_interval_ms: float = 20.0,
    ) -> None:
        self.air = air
        self.name = name
        self.address = address
        self.records: list[bytes] = []
        self.clock_offset = dt.timedelta(0)
        self.vanished = False
        self._now = now
        self._sleep = sleep
        self._interval = advertising_interval_ms
        self._connection: Connection | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._radio_lock = asyncio.Lock()
        self.device: Device = air.create_device(name, address)
        self.measurement = characteristic(self.measurement_uuid, _INDICATE)
        self.racp = characteristic(
            "2A52", _WRITE | _INDICATE, gatt.CharacteristicValue(write=self._on_racp_write)
        )
        self.current_time = characteristic(
            "2A2B",
            _READ | _WRITE | _NOTIFY,
            gatt.CharacteristicValue(read=self._read_time, write=self._write_time),
        )
        self.battery = characteristic("2A19", _READ | _NOTIFY, bytes([battery_percent]))
        info = {"2A29": manufacturer, "2A24": model, "2A25": serial_number, "2A26": firmware}
        self.device.add_services(
            [
                gatt.Service(
                    "180A",
                    [characteristic(uuid, _READ, text.encode()) for uuid, text in info.items()],
                ),
                gatt.Service("180F", [self.battery]),
                gatt.Service("1805", [self.current_time]),
                gatt.Service(self.service_uuid, [*self.health_characteristics(), self.racp]),
            ]
        )
        self.device.on(Device.EVENT_CONNECTION, self._on_connection)

    def health_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        """The characteristics of the health service, besides the RACP."""
        return [self.measurement]

    # Life cycle -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def start(self) -> None:
        """Power on and advertise."""
        await self.device.power_on()
        await self._advertise()

    async def _advertise(self) -> None:
        async with self._radio_lock:  # one advertising command sequence at a time
            if self.vanished or self.device.is_advertising or self._connection is not None:
                return
            await self._start_advertising()

    async def _start_advertising(self) -> None:
        data = AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                (
                    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                    bytes(UUID(self.service_uuid)),
                ),
            ]
        )
        await self.device.start_advertising(
            advertising_data=bytes(data),
            advertising_interval_min=self._interval,
            advertising_interval_max=self._interval,
        )

    async def vanish(self) -> None:
        """Drop the link as if out of range (supervision timeout) and stop advertising."""
        self.vanished = True
        async with self._radio_lock:
            if self.device.is_advertising:
                await self.device.stop_advertising()
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect(reason=HCI_CONNECTION_TIMEOUT_ERROR)

    async def come_back(self) -> None:
        """Advertise again after `vanish()`."""
        self.vanished = False
        await self._advertise()

    async def stop(self) -> None:
        """Vanish, let background work finish (cancel what lingers) and power off."""
        await self.vanish()
        if self._tasks:
            _, lingering = await asyncio.wait(set(self._tasks), timeout=1.0)
            for task in lingering:
                task.cancel()
            await asyncio.gather(*lingering, return_exceptions=True)
        await self.device.power_off()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _measured(measurement: Awaitable[int]) -> None:
        """Run a measurement in the background (its sequence number is not needed)."""
        await measurement

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection

        def on_disconnection(_reason: int) -> None:
            if self._connection is connection:
                self._connection = None
            self._spawn(self._advertise())

        connection.on(Connection.EVENT_DISCONNECTION, on_disconnection)

    async def set_battery(self, percent: int) -> None:
        """Change the battery level and notify it."""
        value = bytes([max(0, min(100, percent))])
        self.battery.value = value
        await self.notify(self.battery, value)

    # Time ---------------------------------------------------------------------------------

    def device_time(self) -> dt.datetime:
        """The device's own clock (set by the central through Current Time)."""
        return self._now() + self.clock_offset

    def _read_time(self, _connection: Connection) -> bytes:
        return bytes(CurrentTime.from_datetime(self.device_time()))

    def _write_time(self, _connection: Connection, value: bytes) -> None:
        try:
            written = CurrentTime.parse(value).date_time.to_datetime()
        except DeviceError as error:
            logger.info("simulator %s: bad current time write: %s", self.name, error)
            return
        if written is not None:
            self.clock_offset = written - self._now()

    # Measurements -------------------------------------------------------------------------

    async def notify(self, char: gatt.Characteristic[bytes], value: bytes) -> None:
        """Notify a value to the subscribed central, if any."""
        if self._connection is None:
            return
        with contextlib.suppress(Exception):
            await self.device.notify_subscribers(char, value)

    async def indicate(self, char: gatt.Characteristic[bytes], value: bytes) -> None:
        """Indicate a value to the subscribed central and wait for its confirmation."""
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(Exception):
            await until_disconnected(
                connection, self.device.indicate_subscriber(connection, char, value)
            )

    async def complete(self, record: bytes) -> int:
        """Store a final measurement, indicate it if possible; return its sequence number."""
        self.records.append(record)
        await self.indicate(self.measurement, record)
        return len(self.records)

    # Record Access Control Point --------------------------------------------------------

    def _on_racp_write(self, _connection: Connection, value: bytes) -> None:
        # Answer after the write response, as a real server does.
        self._spawn(self._answer_racp(value))

    async def _answer_racp(self, value: bytes) -> None:
        await asyncio.sleep(0)
        try:
            request = RacpRequest.parse(value)
        except DeviceError:
            op_code = RacpOpCode.REPORT_STORED_RECORDS
            with contextlib.suppress(ValueError, IndexError):
                op_code = RacpOpCode(value[0])
            await self._respond(op_code, RacpResponseCode.INVALID_OPERATOR)
            return
        if request.op_code is RacpOpCode.ABORT_OPERATION:
            await self._respond(request.op_code, RacpResponseCode.SUCCESS)
            return
        selected = self._select(request)
        if selected is None:
            await self._respond(request.op_code, RacpResponseCode.OPERATOR_NOT_SUPPORTED)
        elif request.op_code is RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            await self.indicate(self.racp, bytes(RacpNumberOfRecords(len(selected))))
        elif request.op_code is RacpOpCode.REPORT_STORED_RECORDS:
            for record in selected:
                await self.indicate(self.measurement, self.as_stored(record))
            code = RacpResponseCode.SUCCESS if selected else RacpResponseCode.NO_RECORDS_FOUND
            await self._respond(request.op_code, code)
        else:
            await self._respond(request.op_code, RacpResponseCode.OP_CODE_NOT_SUPPORTED)

    async def _respond(self, op_code: RacpOpCode, code: RacpResponseCode) -> None:
        await self.indicate(self.racp, bytes(RacpResponse(op_code, code)))

    def _select(self, request: RacpRequest) -> list[bytes] | None:
        """The records a request designates (sequence numbers start at 1), None if unsupported."""
        if request.operator is RacpOperator.ALL_RECORDS:
            return list(self.records)
        at_least = request.operator is RacpOperator.GREATER_THAN_OR_EQUAL_TO
        if at_least and request.minimum is not None:
            return self.records[max(0, request.minimum - 1) :]
        if request.operator is RacpOperator.LAST_RECORD:
            return self.records[-1:]
        if request.operator is RacpOperator.FIRST_RECORD:
            return self.records[:1]
        return None

    def as_stored(self, record: bytes) -> bytes:
        """The record as reported from storage (subclasses may flag it)."""
        return record
