"""The agent's configuration file: valid files load, wrong ones say which key is wrong."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cabin_agent.__main__ import main
from cabin_agent.config import AgentConfig, ConfigError, load_config
from cabin_agent.connection import Backoff
from cabin_agent.media_quality import quality_for

GOOD = """
[hub]
url = "http://127.0.0.1:8000"
cabin_id = 3
token = "cab_secret"

[[devices]]
name = "Tensiomètre"
kind = "blood_pressure_cuff"
model = "generic_gatt_cuff"
transport = "ble"
"""


def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "cabin.toml"
    path.write_text(GOOD)
    config = load_config(path)
    assert config.ws_url == "ws://127.0.0.1:8000/agent/ws"
    assert config.hub.resolved_token() == "cab_secret"
    assert config.devices[0].kind == "blood_pressure_cuff"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("cabin_id = 3", "cabin_id = 0"), "hub.cabin_id : doit être supérieur à 0 (« 0 »)"),
        (
            ('kind = "blood_pressure_cuff"', 'kind = "toaster"'),
            "devices.0 : type d'appareil inconnu « toaster »",
        ),
        (
            ('url = "http://127.0.0.1:8000"', 'url = "nowhere"'),
            "hub.url : adresse (URL) non valable",
        ),
        (('token = "cab_secret"', ""), "hub : indiquez soit « token », soit « token_file »"),
        (("[hub]", "[hub]\ncolour = 1"), "hub.colour : réglage inconnu"),
        (("[hub]", "[hub"), "ce n'est pas du TOML valable (ligne 2, colonne 5)"),
        (
            ("[hub]", "[media]\nvideo_fps = 60\n[hub]"),
            "media.video_fps : doit valoir au plus 30 (« 60 »)",
        ),
        (
            ("[hub]", "[media]\nvideo_fps = 10\nmin_video_fps = 12\n[hub]"),
            "media : min_video_fps ne peut pas dépasser video_fps",
        ),
    ],
)
def test_wrong_files_say_where_and_why(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "cabin.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_video_size_and_rate_are_settings_with_a_floor(tmp_path: Path) -> None:
    path = tmp_path / "cabin.toml"
    default = AgentConfig.model_validate(
        {"hub": {"url": "http://h", "cabin_id": 1, "token": "t"}}
    ).media
    assert (default.video_width, default.video_height, default.video_fps) == (640, 480, 15.0)
    assert default.adapt
    media = "[media]\nvideo_width = 1280\nvideo_height = 720\nvideo_fps = 24\n"
    path.write_text(media + "min_video_fps = 8\n" + GOOD)
    levels = quality_for(load_config(path).media).levels
    assert (levels[0].width, levels[0].height, levels[0].fps) == (1280, 720, 24)
    assert (levels[-1].width, levels[-1].height, levels[-1].fps) == (640, 360, 8)
    path.write_text(media + "adapt = false\n" + GOOD)
    assert len(quality_for(load_config(path).media).levels) == 1


def test_token_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("cab_from_file\n")
    path = tmp_path / "cabin.toml"
    path.write_text(GOOD.replace('token = "cab_secret"', 'token_file = "token"'))
    assert load_config(path).hub.resolved_token() == "cab_from_file"


def test_cli_exits_with_a_clear_message_on_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cabin.toml"
    path.write_text(GOOD.replace("cabin_id = 3", 'cabin_id = "trois"'))
    assert main(["run", "--config", str(path)]) == 2
    assert "hub.cabin_id" in capsys.readouterr().err


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(40)]
    assert 0.0 <= delays[0] <= 1.0
    assert all(0.0 <= d <= 8.0 for d in delays)  # capped
    assert max(delays[4:]) > 4.0  # grown past the first windows
    assert min(delays[4:]) < 2.0  # spread over the whole window (full jitter)
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_after_the_hub_says_it_restarts_the_agent_retries_within_the_restart_window() -> None:
    backoff = Backoff(initial=1.0, maximum=60.0, rng=random.Random(2), restart_attempts=5)
    for _ in range(10):  # a long outage: the windows grew to the cap
        backoff.next_delay()
    backoff.hub_restarting()
    flat = [backoff.next_delay() for _ in range(5)]
    assert all(0.0 <= d <= backoff.restart_window for d in flat)
    assert len(set(flat)) == len(flat)  # jittered: the agents do not come back all at once
    assert backoff.next_delay() <= 1.0  # then backs off again from the first window
