"""Faults with the real processes: the hub killed while an oximeter streams, the agent killed
with SIGKILL. After recovery every measurement of the outbox is in the database exactly once."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub import db
from hub.config import Settings
from hub.demo import DemoSeed
from hub.records.observations import Observation
from tests.conftest import PASSWORDS, TEST_SECRET, csrf_from
from tests.support.processes import Processes, login, process_env, wait_http
from tests.support.waiting import eventually_blocking

pytestmark = pytest.mark.e2e
READING_SECONDS = 8


def _stored(settings: Settings) -> list[tuple[int, str]]:
    async def query() -> list[tuple[int, str]]:
        engine = db.make_engine(settings.database_url)
        async with db.make_session_factory(engine)() as session:
            rows = (
                await session.execute(
                    select(Observation.seq, Observation.kind).order_by(Observation.seq)
                )
            ).all()
        await engine.dispose()
        return [(int(s), str(k)) for s, k in rows]

    return asyncio.run(query())


def _outbox_counts(data_dir: Path, cabin_id: int) -> tuple[int, int]:
    path = data_dir / f"outbox-cabin-{cabin_id}.sqlite3"
    with sqlite3.connect(path) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM measurements WHERE rejected_reason IS NULL"
        ).fetchone()[0]
        refused = conn.execute(
            "SELECT count(*) FROM measurements WHERE rejected_reason IS NOT NULL"
        ).fetchone()[0]
    return int(waiting), int(refused)


def _agent_config(path: Path, hub_url: str, seed: DemoSeed, data_dir: Path) -> None:
    path.write_text(
        f'[hub]\nurl = "{hub_url}"\ncabin_id = {seed.cabin_id}\ntoken = "{seed.cabin_token}"\n'
        f"[agent]\nheartbeat_seconds = 0.5\nbackoff_initial_seconds = 0.2\n"
        f'backoff_max_seconds = 1\ndata_dir = "{data_dir}"\n'
        f"simulated_reading_seconds = {READING_SECONDS}\n"
        '[[devices]]\nname = "Oxymètre"\nkind = "pulse_oximeter"\nmodel = "contec_cms50d_plus"\n'
        'transport = "serial"\n'
    )


def _oximeter_state(hub_url: str) -> str | None:
    """The oximeter's state as the hub shows it to the nurse (None before the agent says)."""
    with httpx.Client(base_url=hub_url, timeout=30) as client:
        login(client, "infirmiere", PASSWORDS["infirmiere"])
        [cabin] = client.get("/api/v1/cabines").json()
    return str(cabin["devices"][0]["state"]) if cabin["devices"] else None


def _start_oximeter(hub_url: str, seed: DemoSeed) -> None:
    eventually_blocking(lambda: _oximeter_state(hub_url) == "ready", "the oximeter ready")
    with httpx.Client(base_url=hub_url, timeout=30) as client:
        login(client, "infirmiere", PASSWORDS["infirmiere"])
        page = client.get("/infirmier")
        answer = client.post(
            f"/api/v1/cabines/{seed.cabin_id}/commandes",
            json={"device": "Oxymètre", "action": "measure"},
            headers={"X-CSRF-Token": csrf_from(page.text)},
        )
        assert answer.json()["ok"] is True, answer.text


def _hubenv(settings: Settings) -> dict[str, str]:
    return process_env(
        HUB_DATABASE_URL=settings.database_url,
        HUB_ENVIRONMENT="test",
        HUB_SECRET_KEY=TEST_SECRET,
        HUB_PORT=str(settings.port),
        HUB_JOBS_ENABLED="false",
    )


def test_hub_killed_while_the_oximeter_streams(
    settings: Settings, demo: DemoSeed, processes: Processes, tmp_path: Path
) -> None:
    hub_url = f"http://127.0.0.1:{settings.port}"
    hub = processes.start("-m", "hub", "serve", env=_hubenv(settings))
    wait_http(hub_url + "/healthz")
    data_dir = tmp_path / "agent"
    _agent_config(tmp_path / "cabin.toml", hub_url, demo, data_dir)
    agent = processes.start(
        "-m",
        "cabin_agent",
        "run",
        "--config",
        str(tmp_path / "cabin.toml"),
        "--simulate",
        env=process_env(),
    )
    _start_oximeter(hub_url, demo)
    eventually_blocking(lambda: len(_stored(settings)) >= 4, "four values stored")
    hub.send_signal(signal.SIGKILL)
    hub.wait(10)
    # The oximeter goes on measuring; the agent keeps it all in its outbox.
    eventually_blocking(
        lambda: _outbox_counts(data_dir, demo.cabin_id)[0] >= 3, "values kept in the outbox"
    )
    before_restart = len(_stored(settings))
    processes.start("-m", "hub", "serve", env=_hubenv(settings))
    wait_http(hub_url + "/healthz")
    # The reading is over (the finger is out: ready, no longer measuring) and the hub
    # acknowledged everything the outbox held: nothing more is on its way.
    eventually_blocking(lambda: _oximeter_state(hub_url) == "ready", "the reading to end")
    eventually_blocking(
        lambda: _outbox_counts(data_dir, demo.cabin_id) == (0, 0), "the outbox emptied"
    )
    rows = _stored(settings)
    agent.send_signal(signal.SIGTERM)
    agent.communicate(timeout=15)
    seqs = [s for s, _ in rows]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing twice
    assert len(rows) > before_restart + 2  # what was measured while the hub was down arrived
    assert {k for _, k in rows} >= {"spo2", "pulse_rate"}
    assert _outbox_counts(data_dir, demo.cabin_id) == (0, 0)


def test_agent_killed_and_restarted_replays_its_outbox(
    settings: Settings, demo: DemoSeed, processes: Processes, tmp_path: Path
) -> None:
    hub_url = f"http://127.0.0.1:{settings.port}"
    processes.start("-m", "hub", "serve", env=_hubenv(settings))
    wait_http(hub_url + "/healthz")
    data_dir = tmp_path / "agent"
    config = tmp_path / "cabin.toml"
    _agent_config(config, hub_url, demo, data_dir)
    agent = processes.start(
        "-m", "cabin_agent", "run", "--config", str(config), "--simulate", env=process_env()
    )
    _start_oximeter(hub_url, demo)
    eventually_blocking(lambda: len(_stored(settings)) >= 4, "four values stored")
    agent.send_signal(signal.SIGKILL)
    agent.wait(10)
    killed_with = _outbox_counts(data_dir, demo.cabin_id)
    restarted = processes.start(
        "-m", "cabin_agent", "run", "--config", str(config), "--simulate", env=process_env()
    )
    # The restarted agent replayed its outbox and the hub acknowledged all of it; its oximeter
    # starts finger out, so nothing new is measured.
    eventually_blocking(
        lambda: _outbox_counts(data_dir, demo.cabin_id) == (0, 0), "the outbox replayed", timeout=30
    )
    rows = _stored(settings)
    restarted.send_signal(signal.SIGTERM)
    restarted.communicate(timeout=15)
    seqs = [s for s, _ in rows]
    assert seqs == list(range(1, len(seqs) + 1))
    assert killed_with[1] == 0


def test_revoking_a_connected_cabin_stops_its_agent_with_exit_code_3(
    settings: Settings, demo: DemoSeed, processes: Processes, tmp_path: Path
) -> None:
    hub_url = f"http://127.0.0.1:{settings.port}"
    processes.start("-m", "hub", "serve", env=_hubenv(settings))
    wait_http(hub_url + "/healthz")
    config = tmp_path / "cabin.toml"
    _agent_config(config, hub_url, demo, tmp_path / "agent")
    agent = processes.start(
        "-m", "cabin_agent", "run", "--config", str(config), "--simulate", env=process_env()
    )
    with httpx.Client(base_url=hub_url, timeout=30) as client:
        login(client, "coordination", PASSWORDS["coordination"])
        eventually_blocking(lambda: _online(client, demo.cabin_id), "the cabin online")
        page = client.get("/coordination")
        revoked = client.post(
            f"/coordination/cabines/{demo.cabin_id}/revoquer",
            data={"csrf_token": csrf_from(page.text)},
        )
        assert revoked.status_code == 303
    output, _ = agent.communicate(timeout=30)
    assert agent.returncode == 3, output
    assert "refused this cabin's token (jeton de cabine révoqué ou remplacé)" in output
    assert output.count("connected to the hub as cabin") == 1  # stopped, did not try again


def _online(client: httpx.Client, cabin_id: int) -> bool:
    cabins = client.get("/api/v1/cabines").json()
    return any(c["id"] == cabin_id and c["online"] for c in cabins)
