"""Real processes for the end-to-end tests: start them, wait for them, log in over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.conftest import ROOT, csrf_from
from tests.support.waiting import eventually_blocking


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def wait_http(url: str, timeout: float = 20.0) -> None:
    """Wait until ``url`` answers 200 (a process started serving)."""

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    eventually_blocking(answers, f"{url} to answer", timeout=timeout)


class Processes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


def login(client: httpx.Client, username: str, password: str) -> None:
    page = client.get("/connexion")
    response = client.post(
        "/connexion",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 303, response.text


def loopback_client(base_url: str) -> httpx.Client:
    """A client of a hub on the loopback address that was told TLS ends in front of it: like a
    browser on localhost, it sends the hub's Secure cookies back over plain HTTP."""
    client = httpx.Client(base_url=base_url)

    def keep_secure_cookies(response: httpx.Response) -> None:
        for cookie in client.cookies.jar:
            cookie.secure = False

    client.event_hooks["response"] = [keep_secure_cookies]
    return client
