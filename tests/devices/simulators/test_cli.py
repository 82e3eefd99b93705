"""`python -m devices simulate ...`."""

from __future__ import annotations

import json

import pytest

from devices.cli import main
from devices.simulators.cli import run


def test_serial_simulator_prints_its_tty_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["serial", "--model", "nonin-df2", "--duration", "0.2"]) == 0
    path = capsys.readouterr().out.strip()
    assert path.endswith("ttySIM0")


def test_ble_demo_prints_what_the_driver_decodes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "ble-demo", "--device", "generic_gatt_thermometer"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    final = [line for line in lines if not line["intermediate"]]
    assert final[0]["value"]["temperature"] == pytest.approx(37.2)


def test_unknown_simulator_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["bluetooth-speaker"])
    assert exit_info.value.code == 2


def test_ble_demo_weighs_with_the_weight_scale_of_the_registry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The scale's simulator, found through its registry record, indicates 72.4 kg
    (14480 × 0.005 kg) to the real driver, which decodes it with the registry's parser."""
    assert main(["simulate", "ble-demo", "--device", "generic_gatt_weight_scale"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [final] = [line for line in lines if not line["intermediate"]]
    assert final["value"]["weight_raw"] == 14480 and final["value"]["unit"] == "kg"
