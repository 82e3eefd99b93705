"""The device catalogue."""

from __future__ import annotations

import pytest

from devices.catalogue import (
    CATALOGUE,
    CharacteristicRole,
    DeviceKind,
    Transport,
    get_model,
    models_for_service,
)
from devices.errors import UnknownDeviceModel
from devices.gatt.blood_pressure import BloodPressureMeasurement
from devices.gatt.device_information import CharacteristicUuid, ServiceUuid
from devices.serialproto.contec import LIVE_START_COMMAND, Cms50Framer
from devices.serialproto.nonin import NoninDf2Framer, NoninDf8Framer


def test_every_kind_of_the_trolley_has_a_model() -> None:
    assert {model.kind for model in CATALOGUE.values()} == set(DeviceKind)


def test_models_are_consistent_with_their_transport() -> None:
    for model in CATALOGUE.values():
        assert (model.transport is Transport.BLE) == bool(model.service_uuids), model.model_id
        assert (model.transport is Transport.SERIAL) == (model.serial is not None)
        assert (model.transport is Transport.AUDIO) == (model.audio is not None)
        assert (model.transport is Transport.VIDEO) == (model.video is not None)


def test_ble_cuff() -> None:
    [cuff] = models_for_service(ServiceUuid.BLOOD_PRESSURE)
    measurement = cuff.characteristic(CharacteristicUuid.BLOOD_PRESSURE_MEASUREMENT)
    assert measurement is not None and measurement.role is CharacteristicRole.MEASUREMENT
    assert isinstance(measurement.parse(bytes.fromhex("00780050006000")), BloodPressureMeasurement)
    live = [c.uuid for c in cuff.characteristics_with(CharacteristicRole.LIVE)]
    assert live == [CharacteristicUuid.INTERMEDIATE_CUFF_PRESSURE]


def test_serial_oximeters() -> None:
    cms50 = get_model("contec_cms50d_plus")
    assert cms50.serial is not None
    assert (
        cms50.serial.baudrate,
        cms50.serial.bytesize,
        cms50.serial.parity,
        cms50.serial.stopbits,
    ) == (115200, 8, "N", 1)
    assert cms50.serial.start_command == LIVE_START_COMMAND == bytes.fromhex("7d81a1808080808080")
    assert isinstance(cms50.serial.framer(), Cms50Framer)
    legacy = get_model("contec_cms50d_plus_legacy").serial
    assert legacy is not None and legacy.baudrate == 19200 and legacy.start_command == b""
    df2, df8 = get_model("nonin_df2").serial, get_model("nonin_df8").serial
    assert df2 is not None and df8 is not None
    assert (df2.baudrate, df8.baudrate) == (9600, 9600)
    assert isinstance(df2.framer(), NoninDf2Framer)
    assert isinstance(df8.framer(), NoninDf8Framer)


def test_unknown_model() -> None:
    with pytest.raises(UnknownDeviceModel, match="unknown device model 'acme_9000' \\(known: "):
        get_model("acme_9000")
