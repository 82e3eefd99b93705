"""The registry's names for documents, and what is not a serial number."""

from __future__ import annotations

import pytest

from devices.catalogue import CATALOGUE, describe_device, is_serial_number


@pytest.mark.parametrize(
    "value", ["/dev/ttyUSB0", "/tmp/tmpab12/pty0", "/dev/pts/3", "COM3", "ttyACM0", "pty7", "", " "]
)
def test_ports_and_paths_are_not_serial_numbers(value: str) -> None:
    assert not is_serial_number(value)


@pytest.mark.parametrize("value", ["SIM-0001", "CMS-1", "0015", "BP-7", "TTL2024X"])
def test_serial_numbers_are(value: str) -> None:
    assert is_serial_number(value)


def test_every_model_has_a_french_document_name_starting_with_its_label() -> None:
    for model in CATALOGUE.values():
        assert model.document_name.startswith(model.label + " ")
        assert model.model_id not in model.document_name


def test_describe_device() -> None:
    assert (
        describe_device("nonin_df2", serial="/dev/ttyS0")
        == "Oxymètre de pouls Nonin (protocole série 2)"
    )
    assert describe_device("room_camera") == "Caméra de la salle USB"
    assert describe_device("unknown", serial="A1", fallback="Balance") == "Balance n° A1"
    assert describe_device("unknown") == "unknown"
