"""Serial oximeter simulators: real framing, realistic values, pty plug/unplug."""

from __future__ import annotations

import os

from devices.serialproto.contec import Cms50Framer, Cms50Protocol
from devices.serialproto.nonin import NoninDf2Framer
from devices.simulators.pty import UnpluggablePty
from devices.simulators.serial_devices import SerialModel, SerialOximeterSimulator


def test_contec_stream_decodes_to_a_pulsatile_pleth_at_60_hz() -> None:
    simulator = SerialOximeterSimulator(SerialModel.CONTEC_CMS50D_PLUS, tick=2.0)
    frames = Cms50Framer().feed(simulator.next_chunk())
    assert len(frames) == 120
    assert all(f.protocol is Cms50Protocol.LEGACY and not f.finger_out for f in frames)
    pleth = [f.pleth for f in frames]
    assert max(pleth) - min(pleth) > 60  # a real waveform, not a flat line
    beats = sum(1 for f in frames if f.pulse_beep)
    assert 1 <= beats <= 4  # 60–90 /min over two seconds


def test_nonin_stream_decodes_to_packets_of_25_frames() -> None:
    simulator = SerialOximeterSimulator(SerialModel.NONIN_DF2, tick=1.0)
    packets = NoninDf2Framer().feed(simulator.next_chunk())
    assert len(packets) == 3
    assert all(p.spo2 is not None and 95 <= p.spo2 <= 99 for p in packets)
    assert all(p.heart_rate is not None and 60 <= p.heart_rate <= 90 for p in packets)


def test_finger_out_sends_no_values() -> None:
    for model in SerialModel:
        simulator = SerialOximeterSimulator(model, tick=1.0)
        simulator.finger_out = True
        framer = Cms50Framer() if model is SerialModel.CONTEC_CMS50D_PLUS else NoninDf2Framer()
        frames = framer.feed(simulator.next_chunk())
        assert frames and all(f.spo2 is None for f in frames)


def test_values_drift_within_normal_ranges() -> None:
    simulator = SerialOximeterSimulator(SerialModel.NONIN_DF2, tick=1.0, seed=7)
    seen = []
    for _ in range(600):
        simulator.physiology.step(1.0)
        seen.append((simulator.physiology.spo2, simulator.physiology.pulse))
    assert all(95 <= s <= 99 and 60 <= p <= 90 for s, p in seen)
    assert len({round(p) for _, p in seen}) > 5


def test_unplug_removes_the_path_and_replug_restores_it() -> None:
    pty = UnpluggablePty()
    pty.plug()
    first = os.path.realpath(pty.path)
    assert first.startswith("/dev/pts/")
    pty.unplug()
    assert not os.path.exists(pty.path)
    assert pty.write(b"ignored") == 0
    pty.plug()
    assert os.path.realpath(pty.path).startswith("/dev/pts/")
    pty.close()
    assert not os.path.exists(os.path.dirname(pty.path))
