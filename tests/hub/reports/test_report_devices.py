"""Reports name each measuring device as the device registry does — its French label and model
— with its serial number only when it has one (a port or a pseudo-terminal path is not one)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hub.records.observations import Observation
from hub.reports.gather import session_measurements
from tests.hub.reports.test_report_pdf import pdf_text
from tests.support.reports import START, sample_facts

SIMULATOR_PTY = "/tmp/tmpk2x8q1/pty-oxymetre"


def _observation(seq: int, kind: str, model: str, serial: str, name: str) -> Observation:
    return Observation(
        id=seq,
        cabin_id=1,
        seq=seq,
        site_id=1,
        device_name=name,
        kind=kind,
        value=97.0,
        unit="%",
        loinc="59408-5",
        measured_at=START + dt.timedelta(minutes=seq),
        device_model=model,
        device_serial=serial,
    )


def test_devices_are_named_by_label_and_model_never_by_id_or_port() -> None:
    measured = session_measurements(
        [
            _observation(1, "spo2", "contec_cms50d_plus", SIMULATOR_PTY, "Oxymètre"),
            _observation(2, "blood_pressure_systolic", "generic_gatt_cuff", "SIM-0001", "Tensio"),
            _observation(3, "body_temperature", "generic_gatt_thermometer", "/dev/ttyUSB0", "T"),
            _observation(4, "body_weight", "a_model_we_do_not_know", "COM3", "Balance du cabinet"),
        ]
    )
    assert [m.device for m in measured] == [
        "Oxymètre de pouls Contec CMS50D+",
        "Tensiomètre Bluetooth (profil standard) n° SIM-0001",
        "Thermomètre Bluetooth (profil standard)",
        "Balance du cabinet",
    ]


def test_the_report_pdf_prints_the_registry_names() -> None:
    facts = sample_facts()
    measured = session_measurements(
        [_observation(1, "spo2", "contec_cms50d_plus", SIMULATOR_PTY, "Oxymètre")]
    )
    text = pdf_text(dataclasses.replace(facts, measurements=tuple(measured)))
    assert "Oxymètre de pouls Contec CMS50D+" in text
    assert "contec_cms50d_plus" not in text and "/tmp/" not in text and "pty" not in text
