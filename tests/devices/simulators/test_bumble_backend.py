"""bleak's public API (BleakScanner, BleakClient) over the bumble-emulated controller."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from devices.gatt.blood_pressure import BloodPressureMeasurement
from devices.gatt.racp import (
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpRequest,
    RacpResponse,
    RacpResponseCode,
    parse_racp,
)
from devices.gatt.time import CurrentTime
from devices.simulators.ble_devices import SimulatedCuff, SimulatedThermometer
from devices.simulators.bumble_backend import BumbleBleakClient, BumbleBleakScanner, EmulatedAir
from tests.support.waiting import eventually

BPM = "00002a35-0000-1000-8000-00805f9b34fb"
RACP = "00002a52-0000-1000-8000-00805f9b34fb"
CURRENT_TIME = "00002a2b-0000-1000-8000-00805f9b34fb"


@pytest.fixture
async def air() -> AsyncIterator[EmulatedAir]:
    yield EmulatedAir()


@pytest.fixture
async def cuff(air: EmulatedAir) -> AsyncIterator[SimulatedCuff]:
    device = SimulatedCuff(air)
    await device.start()
    yield device
    await device.stop()


@pytest.fixture
async def client(air: EmulatedAir, cuff: SimulatedCuff) -> AsyncIterator[BleakClient]:
    bleak_client = BleakClient(cuff.address, backend=BumbleBleakClient, air=air)
    await bleak_client.connect()
    yield bleak_client
    await bleak_client.disconnect()


async def test_scanner_filters_by_advertised_service(air: EmulatedAir, cuff: SimulatedCuff) -> None:
    thermometer = SimulatedThermometer(air)
    await thermometer.start()
    found = await BleakScanner.find_device_by_filter(
        lambda _d, adv: True,
        timeout=2.0,
        service_uuids=["1810"],
        backend=BumbleBleakScanner,
        air=air,  # type: ignore[call-arg]
    )
    assert found is not None
    assert (found.address, found.name) == (cuff.address, "SIM-BP")
    await thermometer.stop()


async def test_client_discovers_services_and_reads(client: BleakClient) -> None:
    assert client.is_connected
    assert client.services.get_service("1810") is not None
    bpm = client.services.get_characteristic(BPM)
    assert bpm is not None and "indicate" in bpm.properties
    assert await client.read_gatt_char("2a29") == bytearray(b"CPTS Simulators")


async def test_indications_reach_the_callback(client: BleakClient, cuff: SimulatedCuff) -> None:
    received: list[bytes] = []

    def on_value(_char: BleakGATTCharacteristic, data: bytearray) -> None:
        received.append(bytes(data))

    await client.start_notify(BPM, on_value)
    await cuff.measure(128, 82, 71)
    await eventually(lambda: len(received) == 1, "the measurement indication")
    assert BloodPressureMeasurement.parse(received[0]).systolic.value == 128
    await client.stop_notify(BPM)


async def test_current_time_write_sets_the_device_clock(
    client: BleakClient, cuff: SimulatedCuff
) -> None:
    target = cuff.device_time().replace(microsecond=0) + dt.timedelta(hours=3)
    await client.write_gatt_char(CURRENT_TIME, bytes(CurrentTime.from_datetime(target)))
    read_back = CurrentTime.parse(bytes(await client.read_gatt_char(CURRENT_TIME)))
    device_now = read_back.date_time.to_datetime()
    assert device_now is not None
    assert abs((device_now - target).total_seconds()) <= 1


async def racp_call(client: BleakClient, request: bytes) -> tuple[list[bytes], list[bytes]]:
    """Write a RACP request; return (records indicated, RACP answers)."""
    records: list[bytes] = []
    answers: list[bytes] = []
    await client.start_notify(BPM, lambda _c, data: records.append(bytes(data)))
    await client.start_notify(RACP, lambda _c, data: answers.append(bytes(data)))
    await client.write_gatt_char(RACP, request, response=True)
    await eventually(lambda: bool(answers), "the RACP answer")
    return records, answers


async def test_racp_counts_and_reports_records_from_a_sequence_number(
    client: BleakClient, cuff: SimulatedCuff
) -> None:
    for systolic in (101, 102, 103):
        await cuff.measure(systolic, 70, 60)
    count_request = RacpRequest(RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS)
    _, answers = await racp_call(client, bytes(count_request))
    assert parse_racp(answers[0]) == RacpNumberOfRecords(3)

    await client.stop_notify(BPM)
    await client.stop_notify(RACP)
    records, answers = await racp_call(
        client,
        bytes(
            RacpRequest(
                RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.GREATER_THAN_OR_EQUAL_TO, minimum=2
            )
        ),
    )
    # The records measured live were indicated too; keep those that came from storage.
    stored = records[-2:]
    assert [BloodPressureMeasurement.parse(r).systolic.value for r in stored] == [102, 103]
    assert parse_racp(answers[0]) == RacpResponse(
        RacpOpCode.REPORT_STORED_RECORDS, RacpResponseCode.SUCCESS
    )


async def test_racp_answers_no_records_and_unsupported_operators(client: BleakClient) -> None:
    _, answers = await racp_call(client, bytes(RacpRequest(RacpOpCode.REPORT_STORED_RECORDS)))
    assert parse_racp(answers[0]) == RacpResponse(
        RacpOpCode.REPORT_STORED_RECORDS, RacpResponseCode.NO_RECORDS_FOUND
    )
    await client.stop_notify(BPM)
    await client.stop_notify(RACP)
    _, answers = await racp_call(
        client,
        bytes(
            RacpRequest(
                RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.LESS_THAN_OR_EQUAL_TO, maximum=4
            )
        ),
    )
    assert parse_racp(answers[0]) == RacpResponse(
        RacpOpCode.REPORT_STORED_RECORDS, RacpResponseCode.OPERATOR_NOT_SUPPORTED
    )


async def test_vanishing_calls_the_disconnected_callback(
    air: EmulatedAir, cuff: SimulatedCuff
) -> None:
    dropped = asyncio.Event()
    bleak_client = BleakClient(
        cuff.address,
        disconnected_callback=lambda _c: dropped.set(),
        backend=BumbleBleakClient,
        air=air,
    )
    await bleak_client.connect()
    await cuff.vanish()
    async with asyncio.timeout(2):
        await dropped.wait()
    assert not bleak_client.is_connected
    with pytest.raises(BleakError):
        await bleak_client.read_gatt_char("2a29")


async def test_vanished_device_cannot_be_connected(air: EmulatedAir, cuff: SimulatedCuff) -> None:
    await cuff.vanish()
    bleak_client = BleakClient(cuff.address, backend=BumbleBleakClient, air=air, timeout=0.2)
    with pytest.raises(BleakError, match="could not connect"):
        await bleak_client.connect()
    await cuff.come_back()
    await bleak_client.connect()
    assert bleak_client.is_connected
    await bleak_client.disconnect()


def test_the_backend_needs_an_air() -> None:
    with pytest.raises(BleakError, match="air=EmulatedAir"):
        BleakClient("F1:B0:00:00:00:01", backend=BumbleBleakClient)
