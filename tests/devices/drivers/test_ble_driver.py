"""The BLE driver, unchanged, against simulated devices through bleak's public API on the
bumble-emulated controller."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from devices.drivers.ble import BleDriver, BleReading, RecordCursor
from devices.drivers.ble_profiles import (
    BLOOD_PRESSURE,
    HEALTH_THERMOMETER,
    PULSE_OXIMETER,
    BleProfile,
)
from devices.gatt.blood_pressure import BloodPressureMeasurement, IntermediateCuffPressure
from devices.gatt.plx import PlxContinuousMeasurement, PlxSpotCheckMeasurement
from devices.gatt.thermometer import IntermediateTemperature, TemperatureMeasurement
from devices.measurements import MeasurementKind, to_measurements
from devices.simulators.ble_devices import SimulatedCuff, SimulatedOximeter, SimulatedThermometer
from devices.simulators.bumble_backend import EmulatedAir
from devices.transports import DeviceLinkError, DriverState, DriverStatus, GattLink
from tests.devices.simulators.harness import emulated_finder, quick_sleep, running
from tests.support.waiting import eventually


@dataclass
class Harness:
    driver: BleDriver
    readings: list[BleReading] = field(default_factory=list)
    states: list[DriverState] = field(default_factory=list)

    def finals(self) -> list[BleReading]:
        return [r for r in self.readings if not r.intermediate]

    async def wait_state(self, state: DriverState, after: int = 0) -> None:
        await eventually(lambda: state in self.states[after:], f"state {state}")


class CountingFinder:
    """The emulated finder, counting the scans that came back: proof the driver searched."""

    def __init__(self, air: EmulatedAir) -> None:
        self._finder = emulated_finder(air)
        self.scans = 0

    async def find(self, service_uuids: list[str], timeout: float) -> GattLink | None:
        link = await self._finder.find(service_uuids, timeout)
        self.scans += 1
        return link


async def start_driver(
    air: EmulatedAir,
    profile: BleProfile,
    *,
    cursor: RecordCursor | None = None,
    import_history: bool = False,
    scan_timeout: float = 1.0,
    finder: CountingFinder | None = None,
) -> tuple[Harness, asyncio.Task[None]]:
    harness_box: list[Harness] = []

    async def on_reading(reading: BleReading) -> None:
        harness_box[0].readings.append(reading)

    def on_state(status: DriverStatus) -> None:
        harness_box[0].states.append(status.state)

    driver = BleDriver(
        profile,
        finder or emulated_finder(air),
        on_reading,
        on_state=on_state,
        cursor=cursor,
        import_history=import_history,
        scan_timeout=scan_timeout,
        sleep=quick_sleep,
    )
    harness_box.append(Harness(driver))
    task = asyncio.create_task(driver.run())
    return harness_box[0], task


@pytest.fixture
async def air() -> AsyncIterator[EmulatedAir]:
    yield EmulatedAir()


@pytest.fixture
async def cuff(air: EmulatedAir) -> AsyncIterator[SimulatedCuff]:
    device = SimulatedCuff(air)
    await device.start()
    yield device
    await device.stop()


async def test_cuff_connects_and_reads_device_information(
    air: EmulatedAir, cuff: SimulatedCuff
) -> None:
    harness, task = await start_driver(air, BLOOD_PRESSURE)
    async with running(task):
        await harness.wait_state(DriverState.READY)
        assert harness.states[:3] == [
            DriverState.SEARCHING,
            DriverState.CONNECTING,
            DriverState.READY,
        ]
        info = harness.driver.device_info
        assert info is not None
        assert (info.manufacturer_name, info.model_number) == ("CPTS Simulators", "SIM-BPM-1")
        assert harness.driver.battery_low is False
        # The driver set the device clock through Current Time (to the second).
        assert abs(cuff.clock_offset.total_seconds()) < 1.5


async def test_cuff_streams_cuff_pressure_then_indicates_the_result(
    air: EmulatedAir, cuff: SimulatedCuff
) -> None:
    harness, task = await start_driver(air, BLOOD_PRESSURE)
    async with running(task):
        await harness.wait_state(DriverState.READY)
        await cuff.measure(132, 84, 67)
        await eventually(lambda: len(harness.finals()) == 1, "the final reading")

        pressures = [
            r.value.cuff_pressure.value
            for r in harness.readings
            if isinstance(r.value, IntermediateCuffPressure)
        ]
        peak = pressures.index(max(pressures))
        assert max(pressures) == 162
        assert pressures[: peak + 1] == sorted(pressures[: peak + 1])  # inflating
        assert pressures[peak:] == sorted(pressures[peak:], reverse=True)  # deflating
        final = harness.finals()[0]
        assert isinstance(final.value, BloodPressureMeasurement)
        assert (final.value.systolic.value, final.value.diastolic.value) == (132, 84)
        assert final.value.pulse_rate is not None and final.value.pulse_rate.value == 67
        assert not final.stored and final.sequence == 1
        assert DriverState.MEASURING in harness.states
        assert harness.states[-1] is DriverState.READY


async def test_link_lost_mid_measurement_is_caught_up_once_through_racp(
    air: EmulatedAir, cuff: SimulatedCuff
) -> None:
    """Record 1 arrives live; the cuff vanishes while measuring record 2 and takes record 3
    while away; after it comes back records 2 and 3 arrive from storage, record 1 is not
    repeated."""
    harness, task = await start_driver(air, BLOOD_PRESSURE)
    async with running(task):
        await harness.wait_state(DriverState.READY)
        await cuff.measure(120, 80, 70)
        await eventually(lambda: len(harness.finals()) == 1, "the first reading")

        seen = len(harness.states)
        await cuff.measure(141, 91, 75, vanish_midway=True)
        await harness.wait_state(DriverState.LOST, after=seen)
        assert len(harness.finals()) == 1  # the second result never came live
        await cuff.measure(118, 79, 64)  # taken while out of range
        assert len(cuff.records) == 3

        seen = len(harness.states)
        await cuff.come_back()
        await harness.wait_state(DriverState.READY, after=seen)
        await eventually(lambda: len(harness.finals()) == 3, "the stored readings")
        await cuff.measure(115, 75, 62)  # live again: whatever the catch-up sent came before
        await eventually(lambda: len(harness.finals()) >= 4, "the next live reading")

        finals = harness.finals()
        assert [r.value.systolic.value for r in finals] == [120, 141, 118, 115]  # type: ignore[attr-defined]
        assert [r.stored for r in finals] == [False, True, True, False]
        assert [r.sequence for r in finals] == [1, 2, 3, 4]
        assert harness.driver.cursor.last_sequence == 4


async def test_reconnect_without_new_records_delivers_nothing(
    air: EmulatedAir, cuff: SimulatedCuff
) -> None:
    harness, task = await start_driver(air, BLOOD_PRESSURE)
    async with running(task):
        await harness.wait_state(DriverState.READY)
        await cuff.measure(120, 80, 70)
        await eventually(lambda: len(harness.finals()) == 1, "the reading")
        seen = len(harness.states)
        await cuff.vanish()
        await harness.wait_state(DriverState.LOST, after=seen)
        await cuff.come_back()
        await harness.wait_state(DriverState.READY, after=seen)
        await cuff.measure(131, 84, 66)  # anything resent on reconnection would come first
        await eventually(lambda: len(harness.finals()) >= 2, "the next live reading")
        assert [(r.value.systolic.value, r.stored) for r in harness.finals()] == [  # type: ignore[attr-defined]
            (120, False),
            (131, False),
        ]


async def test_a_known_cursor_fetches_what_was_measured_since(air: EmulatedAir) -> None:
    """An agent restarted with its saved cursor gets only the records after it."""
    cuff = SimulatedCuff(air)
    await cuff.start()
    await cuff.vanish()
    for systolic in (110, 111, 112):
        await cuff.measure(systolic, 70, 60)
    await cuff.come_back()
    harness, task = await start_driver(air, BLOOD_PRESSURE, cursor=RecordCursor(1))
    async with running(task):
        await eventually(lambda: len(harness.finals()) == 2, "two stored readings")
        assert [r.value.systolic.value for r in harness.finals()] == [111, 112]  # type: ignore[attr-defined]
    await cuff.stop()


async def test_history_import_on_first_connection(air: EmulatedAir) -> None:
    cuff = SimulatedCuff(air)
    await cuff.start()
    await cuff.measure(110, 70, 60)  # nobody connected: stored only
    harness, task = await start_driver(air, BLOOD_PRESSURE, import_history=True)
    async with running(task):
        await eventually(lambda: len(harness.finals()) == 1, "the stored reading")
        assert harness.finals()[0].stored
    await cuff.stop()


async def test_thermometer_intermediate_then_final(air: EmulatedAir) -> None:
    thermometer = SimulatedThermometer(air)
    await thermometer.start()
    harness, task = await start_driver(air, HEALTH_THERMOMETER)
    async with running(task):
        await harness.wait_state(DriverState.READY)
        await thermometer.measure(38.4, steps=3)
        await eventually(lambda: len(harness.finals()) == 1, "the temperature")
        partial = [r.value for r in harness.readings if r.intermediate]
        assert len(partial) == 3 and all(isinstance(v, IntermediateTemperature) for v in partial)
        final = harness.finals()[0].value
        assert isinstance(final, TemperatureMeasurement)
        assert final.temperature.value == pytest.approx(38.4)
    await thermometer.stop()


async def test_oximeter_streams_continuous_values_and_spot_checks(air: EmulatedAir) -> None:
    oximeter = SimulatedOximeter(air, sleep=quick_sleep)
    await oximeter.start()
    harness, task = await start_driver(air, PULSE_OXIMETER)
    async with running(task):
        await harness.wait_state(DriverState.READY)
        oximeter.start_streaming(spo2=96, pulse=81, period=0.01)
        await eventually(lambda: len(harness.readings) >= 3, "continuous values")
        await oximeter.stop_streaming()
        continuous = harness.readings[0].value
        assert isinstance(continuous, PlxContinuousMeasurement)
        assert (continuous.spo2.value, continuous.pulse_rate.value) == (96, 81)
        await oximeter.measure(spo2=98, pulse=70)
        await eventually(lambda: len(harness.finals()) == 1, "the spot check")
        spot = harness.finals()[0].value
        assert isinstance(spot, PlxSpotCheckMeasurement)
        assert spot.spo2.value == 98
        assert harness.states[-1] is DriverState.READY
    await oximeter.stop()


async def test_oximeter_stored_spot_checks_are_flagged_from_storage(air: EmulatedAir) -> None:
    oximeter = SimulatedOximeter(air)
    await oximeter.start()
    await oximeter.measure(spo2=95, pulse=88)
    harness, task = await start_driver(air, PULSE_OXIMETER, import_history=True)
    async with running(task):
        await eventually(lambda: len(harness.finals()) == 1, "the stored spot check")
        spot = harness.finals()[0].value
        assert isinstance(spot, PlxSpotCheckMeasurement)
        assert spot.measurement_status is not None
        assert spot.measurement_status.data_from_measurement_storage
    await oximeter.stop()


@pytest.mark.parametrize("device_class", [SimulatedCuff, SimulatedThermometer])
async def test_driver_ignores_other_kinds_of_devices(
    air: EmulatedAir, device_class: type[SimulatedCuff | SimulatedThermometer]
) -> None:
    """A thermometer driver never connects to a cuff and vice versa."""
    other = device_class(air)
    await other.start()
    profile = HEALTH_THERMOMETER if device_class is SimulatedCuff else BLOOD_PRESSURE
    finder = CountingFinder(air)
    harness, task = await start_driver(air, profile, scan_timeout=0.05, finder=finder)
    async with running(task):
        await eventually(lambda: finder.scans >= 3, "three scans")
        assert set(harness.states) == {DriverState.SEARCHING}
    await other.stop()


async def test_readings_convert_to_measurements(air: EmulatedAir, cuff: SimulatedCuff) -> None:
    harness, task = await start_driver(air, BLOOD_PRESSURE)
    async with running(task):
        await harness.wait_state(DriverState.READY)
        await cuff.measure(126, 78, 64)
        await eventually(lambda: len(harness.finals()) == 1, "the reading")
    reading = harness.finals()[0]
    identity = harness.driver.identity("generic_gatt_cuff")
    assert identity.serial == "SIM-0001"
    measurements = to_measurements(reading.value, device=identity, received_at=reading.received_at)
    values = {m.kind: m.value for m in measurements}
    assert values[MeasurementKind.BLOOD_PRESSURE_SYSTOLIC] == 126
    assert values[MeasurementKind.BLOOD_PRESSURE_DIASTOLIC] == 78


async def test_loss_and_recovery_are_logged_once(
    air: EmulatedAir, cuff: SimulatedCuff, caplog: pytest.LogCaptureFixture
) -> None:
    finder = CountingFinder(air)
    harness, task = await start_driver(air, BLOOD_PRESSURE, scan_timeout=0.02, finder=finder)
    async with running(task):
        await harness.wait_state(DriverState.READY)
        with caplog.at_level(logging.INFO, logger="devices.drivers.ble"):
            seen = len(harness.states)
            await cuff.vanish()
            await harness.wait_state(DriverState.LOST, after=seen)
            scans = finder.scans
            await eventually(lambda: finder.scans >= scans + 3, "several fruitless scans")
            await cuff.come_back()
            await harness.wait_state(DriverState.READY, after=seen)
    messages = [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name == "devices.drivers.ble"
    ]
    assert messages == [
        (logging.WARNING, "blood pressure lost"),
        (logging.INFO, "blood pressure back"),
    ]


class FailingFinder:
    """A finder whose adapter fails twice (e.g. BlueZ restarting), then finds nothing."""

    def __init__(self) -> None:
        self.calls = 0

    async def find(self, service_uuids: list[str], timeout: float) -> None:
        self.calls += 1
        if self.calls <= 2:
            raise DeviceLinkError("adapter not ready")
        await asyncio.sleep(0.001)


async def test_scanner_failures_are_retried_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delays: list[float] = []
    states: list[DriverState] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    async def ignore(_reading: BleReading) -> None:
        return None

    finder = FailingFinder()
    driver = BleDriver(
        BLOOD_PRESSURE,
        finder,
        ignore,
        on_state=lambda status: states.append(status.state),
        sleep=record,
    )
    with caplog.at_level(logging.INFO, logger="devices.drivers.ble"):
        async with running(asyncio.create_task(driver.run())):
            await eventually(lambda: finder.calls >= 4, "searching again")
    assert delays == [0.5, 1.0]
    assert [r.getMessage() for r in caplog.records if r.name == "devices.drivers.ble"] == [
        "blood pressure lost"
    ]
    assert states[:4] == [
        DriverState.SEARCHING,
        DriverState.LOST,
        DriverState.SEARCHING,
        DriverState.LOST,
    ]


async def test_low_battery_is_reported_with_the_state(
    air: EmulatedAir, cuff: SimulatedCuff
) -> None:
    statuses: list[DriverStatus] = []

    async def ignore(_reading: BleReading) -> None:
        return None

    driver = BleDriver(
        BLOOD_PRESSURE, emulated_finder(air), ignore, on_state=statuses.append, sleep=quick_sleep
    )
    async with running(asyncio.create_task(driver.run())):
        await eventually(lambda: driver.state is DriverState.READY, "ready")
        assert statuses[-1] == DriverStatus(DriverState.READY, battery_low=False)
        await cuff.set_battery(12)
        await eventually(lambda: statuses[-1].battery_low is True, "low battery")
        assert statuses[-1].state is DriverState.READY
