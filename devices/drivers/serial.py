"""Serial device driver: a tty read through pyserial-asyncio, decoded by an incremental framer.

The driver opens the port with the model's line settings, writes the model's start
commands, feeds every chunk to a fresh framer and hands each decoded frame to an async
callback. A read error, end of stream or silence longer than `no_data_timeout` means the
device is gone (state lost); the driver then closes the port and reopens it with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import serial
import serial_asyncio

from devices.catalogue import DeviceModel, get_model
from devices.drivers.backoff import Backoff
from devices.errors import UnknownDeviceModel
from devices.transports import (
    ByteLink,
    DeviceLinkError,
    DriverState,
    DriverStatus,
    Sleep,
    StateCallback,
)

logger = logging.getLogger(__name__)

FrameT = TypeVar("FrameT")
FrameT_co = TypeVar("FrameT_co", covariant=True)


@dataclass(frozen=True, slots=True)
class LineSettings:
    """UART settings: 19200 8N1 is written LineSettings(19200, 8, "N", 1)."""

    baudrate: int = 19200
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1


class Framer(Protocol[FrameT_co]):
    """An incremental decoder: bytes in, whole frames out, resynchronising after garbage."""

    def feed(self, chunk: bytes) -> Sequence[FrameT_co]: ...


class SerialByteLink:
    """A `ByteLink` over pyserial-asyncio on a tty path."""

    def __init__(self, path: str, settings: LineSettings | None = None) -> None:
        self.path = path
        self.settings = settings or LineSettings()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def open(self) -> None:
        s = self.settings
        try:
            self._reader, self._writer = await serial_asyncio.open_serial_connection(
                url=self.path,
                baudrate=s.baudrate,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
            )
        except (serial.SerialException, OSError, ValueError) as error:
            raise DeviceLinkError(f"cannot open serial device {self.path}: {error}") from error

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(serial.SerialException, OSError):
            await writer.wait_closed()

    async def read(self, max_bytes: int = 4096) -> bytes:
        if self._reader is None:
            raise DeviceLinkError(f"serial device {self.path} is not open")
        try:
            return await self._reader.read(max_bytes)
        except (serial.SerialException, OSError) as error:
            raise DeviceLinkError(f"reading {self.path} failed: {error}") from error

    async def write(self, data: bytes) -> None:
        if self._writer is None:
            raise DeviceLinkError(f"serial device {self.path} is not open")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (serial.SerialException, OSError) as error:
            raise DeviceLinkError(f"writing {self.path} failed: {error}") from error


class SerialDriver(Generic[FrameT]):
    """Keeps one serial device open, decoding its frames, until `stop()` or cancellation."""

    def __init__(
        self,
        link: ByteLink,
        framer_factory: Callable[[], Framer[FrameT]],
        on_frame: Callable[[FrameT], Awaitable[None]],
        *,
        start_commands: Sequence[bytes] = (),
        on_state: StateCallback | None = None,
        is_measuring: Callable[[FrameT], bool] | None = None,
        keepalive: bytes = b"",
        keepalive_interval: float | None = None,
        no_data_timeout: float = 3.0,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.link = link
        self._keepalive = keepalive
        self._keepalive_interval = keepalive_interval
        self._clock = clock
        self._framer_factory = framer_factory
        self._on_frame = on_frame
        self._start_commands = tuple(start_commands)
        self._on_state = on_state
        self._is_measuring = is_measuring
        self._no_data_timeout = no_data_timeout
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._state: DriverState | None = None
        self._stopping = False

    @property
    def state(self) -> DriverState | None:
        return self._state

    def _set_state(self, state: DriverState) -> None:
        if state is self._state:
            return
        path = getattr(self.link, "path", "")
        if state is DriverState.LOST:
            logger.warning("serial device %s lost", path)
        elif state is DriverState.READY and self._state is DriverState.LOST:
            logger.info("serial device %s back", path)
        self._state = state
        if self._on_state is not None:
            self._on_state(DriverStatus(state))

    async def run(self) -> None:
        """Open, read and reopen the device until `stop()` is called or the task is cancelled."""
        next_delay = self._backoff.delays()
        self._set_state(DriverState.CONNECTING)
        try:
            while not self._stopping:
                try:
                    await self.link.open()
                    for command in self._start_commands:
                        await self.link.write(command)
                    self._set_state(DriverState.READY)
                    next_delay = self._backoff.delays()
                    await self._read_until_gone()
                except DeviceLinkError as error:
                    logger.debug("serial link: %s", error)
                finally:
                    await self.link.close()
                if self._stopping:
                    break
                self._set_state(DriverState.LOST)
                await self._sleep(next_delay())
        finally:
            await self.link.close()

    async def _read_until_gone(self) -> None:
        framer = self._framer_factory()
        last_keepalive = self._clock()
        while not self._stopping:
            interval = self._keepalive_interval
            if (
                self._keepalive
                and interval is not None
                and self._clock() - last_keepalive >= interval
            ):
                await self.link.write(self._keepalive)
                last_keepalive = self._clock()
            try:
                async with asyncio.timeout(self._no_data_timeout):
                    chunk = await self.link.read()
            except TimeoutError:
                raise DeviceLinkError(
                    f"no data for {self._no_data_timeout} s (device unplugged or off?)"
                ) from None
            if not chunk:
                raise DeviceLinkError("end of stream (device unplugged)")
            for frame in framer.feed(chunk):
                if self._is_measuring is not None:
                    measuring = self._is_measuring(frame)
                    self._set_state(DriverState.MEASURING if measuring else DriverState.READY)
                await self._on_frame(frame)

    def stop(self) -> None:
        """Ask `run()` to return after the current read."""
        self._stopping = True


def serial_driver_for_model(
    model: DeviceModel | str,
    path: str,
    on_frame: Callable[[object], Awaitable[None]],
    **options: Any,
) -> SerialDriver[object]:
    """Return a driver for a catalogue model on `path` (line settings, framer, commands).

    `options` go to `SerialDriver` (on_state, is_measuring, no_data_timeout, backoff, ...);
    by default a frame carrying an SpO2 value means "measuring" (a finger is in).
    """
    record = get_model(model) if isinstance(model, str) else model
    settings = record.serial
    if settings is None:
        raise UnknownDeviceModel(f"{record.model_id} is not a serial device")
    line = LineSettings(settings.baudrate, settings.bytesize, settings.parity, settings.stopbits)
    return SerialDriver(
        SerialByteLink(path, line),
        settings.framer,
        on_frame,
        start_commands=[settings.start_command] if settings.start_command else [],
        keepalive=settings.keepalive_command,
        keepalive_interval=settings.keepalive_interval_s,
        **{"is_measuring": _has_spo2, **options},
    )


def _has_spo2(frame: object) -> bool:
    return getattr(frame, "spo2", None) is not None
