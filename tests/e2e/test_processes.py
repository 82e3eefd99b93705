"""The real processes: the hub CLI and server, the cabin agent, the demo command."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hub.config import Settings
from tests.conftest import ROOT, TEST_SECRET
from tests.support.postgres import free_port
from tests.support.processes import (
    Processes,
    login,
    loopback_client,
    process_env,
    wait_http,
)
from tests.support.waiting import eventually_blocking

pytestmark = pytest.mark.e2e


def test_hub_and_agent_processes_survive_a_hub_kill(
    settings: Settings, processes: Processes, tmp_path: Path
) -> None:
    env = process_env(
        HUB_DATABASE_URL=settings.database_url,
        HUB_ENVIRONMENT="production",
        HUB_BEHIND_TLS="true",  # as behind the TLS reverse proxy production requires
        HUB_SECRET_KEY=TEST_SECRET,
        HUB_PORT=str(settings.port),
        HUB_AGENT_HEARTBEAT_SECONDS="0.3",
        HUB_AGENT_OFFLINE_AFTER_SECONDS="1.5",
    )
    create = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "create-user",
            "--organisation",
            "cpts-e2e",
            "--create-organisation",
            "CPTS de test",
            "--username",
            "Coord",
            "--full-name",
            "Claire Test",
            "--role",
            "coordinator",
            "--password-stdin",
        ],
        input="motdepasse-tres-sur-1\n",
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert create.returncode == 0, create.stderr
    assert "Compte « coord » créé" in create.stdout
    weak = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "create-user",
            "--organisation",
            "cpts-e2e",
            "--username",
            "x",
            "--full-name",
            "X",
            "--role",
            "nurse",
            "--password-stdin",
        ],
        input="court\n",
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert weak.returncode == 2 and "au moins 10 caractères" in weak.stderr

    hub_url = f"http://127.0.0.1:{settings.port}"
    processes.start("-m", "hub", "serve", env=env)
    wait_http(hub_url + "/healthz")
    with loopback_client(hub_url) as client:
        form = client.get("/connexion")
        assert "Secure" in form.headers["set-cookie"]
        assert form.headers["strict-transport-security"].startswith("max-age=")
        login(client, "coord", "motdepasse-tres-sur-1")
        page = client.get("/coordination")
        assert page.status_code == 200
        assert "Aucun site" in page.text
    # A site and a cabin through the services, as the coordinator's tools would.
    import asyncio

    from hub import db
    from hub.identity import service
    from hub.identity.models import Organisation, SiteKind

    async def make_cabin() -> tuple[int, str]:
        engine = db.make_engine(settings.database_url)
        async with db.make_session_factory(engine)() as session:
            from sqlalchemy import select

            org = await session.scalar(select(Organisation).where(Organisation.slug == "cpts-e2e"))
            assert org is not None
            site = await service.create_site(
                session=session,
                organisation=org,
                name="Salle test",
                kind=SiteKind.TELECONSULTATION_ROOM,
            )
            cabin, token = await service.create_cabin(session=session, site=site, name="Chariot")
            await session.commit()
        await engine.dispose()
        return cabin.id, token

    cabin_id, token = asyncio.run(make_cabin())
    config = tmp_path / "cabin.toml"
    config.write_text(
        f'[hub]\nurl = "{hub_url}"\ncabin_id = {cabin_id}\ntoken = "{token}"\n'
        "[agent]\nheartbeat_seconds = 0.3\n"
        "backoff_initial_seconds = 0.1\nbackoff_max_seconds = 0.5\n"
    )
    agent = processes.start("-m", "cabin_agent", "run", "--config", str(config), env=process_env())

    def last_seen() -> str | None:
        with loopback_client(hub_url) as client:
            login(client, "coord", "motdepasse-tres-sur-1")
            cabins = client.get("/api/v1/cabines").json()
        return cabins[0]["last_seen_at"] if cabins and cabins[0]["online"] else None

    def online() -> bool:
        """Online and heartbeating: the agent has processed the hub's hello_ack."""
        first = last_seen()
        if first is None:
            return False
        eventually_blocking(lambda: last_seen() not in (None, first), "a heartbeat")
        return True

    eventually_blocking(online, "the cabin online")
    hub_proc = processes.procs[0]
    hub_proc.send_signal(signal.SIGKILL)
    hub_proc.wait(10)
    processes.start("-m", "hub", "serve", env=env)
    wait_http(hub_url + "/healthz")
    eventually_blocking(online, "the cabin online")
    assert agent.poll() is None
    agent.send_signal(signal.SIGTERM)
    output, _ = agent.communicate(timeout=10)
    assert agent.returncode == 0, output
    assert "link to the hub lost" in output
    assert "link to the hub restored" in output
    assert output.count("link to the hub lost") == 1  # logged once on the transition


def test_agent_with_a_revoked_token_stops_with_a_clear_message(
    settings: Settings, processes: Processes, tmp_path: Path
) -> None:
    env = process_env(
        HUB_DATABASE_URL=settings.database_url,
        HUB_ENVIRONMENT="test",
        HUB_SECRET_KEY=TEST_SECRET,
        HUB_PORT=str(settings.port),
    )
    hub_url = f"http://127.0.0.1:{settings.port}"
    processes.start("-m", "hub", "serve", env=env)
    wait_http(hub_url + "/healthz")
    config = tmp_path / "cabin.toml"
    config.write_text(f'[hub]\nurl = "{hub_url}"\ncabin_id = 1\ntoken = "cab_revoked"\n')
    result = subprocess.run(
        [sys.executable, "-m", "cabin_agent", "run", "--config", str(config)],
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3
    assert "refused this cabin's token" in result.stderr


def test_demo_runs_prints_each_role_and_stops_cleanly_twice(tmp_path: Path) -> None:
    port = free_port()
    for _ in range(2):  # re-running the demo works
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "demo", "--data-dir", str(tmp_path), "--port", str(port)],
            cwd=ROOT,
            env=process_env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            lines: list[str] = []
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if "Ctrl-C" in line:
                    break
            banner = "".join(lines)
            for path, account in [
                ("/coordination", "coordination / demo-coordination-52"),
                ("/secretariat", "secretariat"),
                ("/infirmier", "infirmiere"),
                ("/medecin", "medecin"),
                ("/etablissement", "etablissement"),
            ]:
                assert f"http://127.0.0.1:{port}{path}" in banner
                assert account in banner
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                login(client, "infirmiere", "demo-infirmiere-52")

                def cabin_online() -> bool:
                    cabins = client.get("/api/v1/cabines").json()
                    return bool(cabins[0]["online"])

                eventually_blocking(cabin_online, "the demo cabin online")
            proc.send_signal(signal.SIGINT)
            output, _ = proc.communicate(timeout=20)
            assert proc.returncode == 0, output
            assert "Démonstration arrêtée" in output
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
