"""`python -m devices decode ...` and `simulate`."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from devices.cli import main, parse_hex


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    output = json.loads(captured.out) if captured.out else None
    return code, output, captured.err


def test_decode_blood_pressure(capsys: pytest.CaptureFixture[str]) -> None:
    code, output, err = _run(
        capsys,
        "decode",
        "blood_pressure_measurement",
        "1e 8a 00 58 00 78 00 00:00:04 11 14 29 3b 3c 00 01 27 00",
    )
    assert (code, err) == (0, "")
    assert output == {
        "systolic": 138.0,
        "diastolic": 88.0,
        "mean_arterial_pressure": 120.0,
        "unit": "mm[Hg]",
        "timestamp": "XXXX-04-17T20:41:59",
        "pulse_rate": 60.0,
        "user_id": 1,
        "status": {
            "body_movement_detected": True,
            "cuff_fit_loose": True,
            "irregular_pulse_detected": True,
            "pulse_rate_range": "within_range",
            "improper_measurement_position": True,
        },
    }


def test_decode_intermediate_cuff_pressure_shows_special_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, output, _ = _run(capsys, "decode", "intermediate_cuff_pressure", "005000ff07ff07")
    assert code == 0
    assert isinstance(output, dict)
    assert (output["systolic"], output["diastolic"], output["mean_arterial_pressure"]) == (
        80.0,
        "NaN",
        "NaN",
    )
    assert output["timestamp"] is None


@pytest.mark.parametrize(
    ("wire", "value", "special"),
    [
        ("ff07", "NaN", "NaN"),
        ("0008", "NRes", "NRes"),
        ("fe07", "+INF", "+INF"),
        ("0208", "-INF", "-INF"),
        ("0108", "reserved", "reserved"),
        ("6ef1", 36.6, None),
    ],
)
def test_decode_sfloat(
    capsys: pytest.CaptureFixture[str], wire: str, value: object, special: object
) -> None:
    code, output, _ = _run(capsys, "decode", "sfloat", wire)
    assert code == 0
    assert isinstance(output, dict)
    assert (output["value"], output["special"]) == (value, special)


def test_decode_temperature(capsys: pytest.CaptureFixture[str]) -> None:
    code, output, _ = _run(
        capsys, "decode", "temperature_measurement", "066e0100ffe4070a0f0c1e0006"
    )
    assert code == 0
    assert output == {
        "temperature": 36.6,
        "unit": "Cel",
        "timestamp": "2020-10-15T12:30:00",
        "temperature_type": "mouth",
    }


def test_decode_plx_spot_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, output, _ = _run(capsys, "decode", "plx_spot_check", "0e 6200 4100 8000 200000 19f0")
    assert code == 0
    assert isinstance(output, dict)
    assert (output["spo2"], output["pulse_rate"], output["perfusion_index"]) == (98.0, 65.0, 2.5)
    assert output["measurement_status"]["validated_data"] is True
    assert output["device_and_sensor_status"]["low_perfusion_detected"] is True


def test_decode_racp_and_current_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "decode", "racp", "05000300")[1] == {
        "type": "number_of_stored_records_response",
        "count": 3,
    }
    code, output, _ = _run(capsys, "decode", "current_time", "e4070a0f0c1e00048001")
    assert code == 0
    assert output == {
        "date_time": "2020-10-15T12:30:00",
        "day_of_week": "thursday",
        "fractions256": 128,
        "adjust_reason": {
            "manual_time_update": True,
            "external_reference_time_update": False,
            "change_of_time_zone": False,
            "change_of_dst": False,
        },
    }


def test_decode_serial_stream(capsys: pytest.CaptureFixture[str]) -> None:
    code, output, _ = _run(capsys, "decode", "cms50dplus", "00 c540473461 c540")
    assert code == 0
    assert isinstance(output, dict)
    assert output["discarded_bytes"] == 1
    [frame] = output["frames"]
    assert (frame["spo2"], frame["pulse_rate"], frame["pleth"]) == (97, 180, 64)
    code, output, _ = _run(capsys, "decode", "nonin_df8", "84022c7f")
    assert output == {
        "frames": [
            {
                "heart_rate": 300,
                "spo2": None,
                "status": {
                    "artifact": True,
                    "marginal_perfusion": False,
                    "low_perfusion": False,
                    "out_of_track": False,
                    "sensor_disconnect": False,
                },
            }
        ],
        "discarded_bytes": 0,
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["decode", "blood_pressure_measurement", "1e8a00"],
            "error: blood_pressure_measurement: blood pressure measurement too short:"
            " flags 0x1e need 19 bytes, got 3\n",
        ),
        (["decode", "sfloat", "ff07ff"], "error: sfloat: SFLOAT needs exactly 2 bytes, got 3\n"),
        (["decode", "racp", "zz"], "error: invalid hex: unexpected character 'z'\n"),
        (["decode", "racp", "123"], "error: invalid hex: odd number of digits (3)\n"),
        (
            ["decode", "nonin_df2", "0102"],
            "error: nonin_df2: no complete nonin_df2 frame in 2 bytes (2 discarded)\n",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, output, err = _run(capsys, *argv)
    assert (code, output, err) == (2, None, message)


def test_parse_hex_accepts_separators() -> None:
    assert parse_hex("0x1E:8a 00-58") == bytes.fromhex("1e8a0058")


def test_simulate_hands_its_arguments_to_the_simulators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received: list[list[str]] = []

    def run(args: list[str]) -> int:
        received.append(args)
        return 7

    fake = types.ModuleType("devices.simulators.cli")
    fake.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "devices.simulators.cli", fake)
    assert main(["simulate", "serial", "--model", "nonin-df2"]) == 7
    assert received == [["serial", "--model", "nonin-df2"]]


def test_simulate_without_simulators(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "devices.simulators.cli", None)  # import fails
    assert main(["simulate", "cuff"]) == 2
    assert capsys.readouterr().err == (
        "error: simulators are not available (devices.simulators.cli is missing)\n"
    )


def test_module_entry_point_runs_without_traceback() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "devices", "decode", "temperature_type", "09"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout) == {"temperature_type": "tympanum"}
    bad = subprocess.run(
        [sys.executable, "-m", "devices", "decode", "temperature_type", "00"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr == (
        "error: temperature_type: temperature type: temperature type 0 is reserved (valid: 1..9)\n"
    )
