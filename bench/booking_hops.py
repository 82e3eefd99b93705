#!/usr/bin/env python
"""Hops of two hub paths: the named hub functions a request goes through, traced.

On a fresh SQLite database seeded with the demo CPTS, runs the hub in this process (uvicorn, so
that the agent's WebSocket is real) and traces with ``sys.setprofile`` every hub function first
entered below a root:

- online booking: ``POST /rdv/{cpts}/creneau/{id}`` (root ``book_online``) → stored booking and
  queued confirmation; also without the message-rendering subtree (notify, messages, links,
  ical, rendering...);
- measurement: one agent frame carrying one measurement (roots ``_receive``, which reads the
  frame, and ``_handle``, which acts on it) → stored observation → event published.

Prints, for each path, the distinct named functions entered (the hops), the deepest nesting
below the root and the SQL statements the database received meanwhile, with a ratio against a
sibling path traced in the same run: showing the booking form (``GET``, root
``booking_form``) and one heartbeat frame. ``--list`` prints the functions, in order.

    .venv/bin/python bench/booking_hops.py [--list]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import sys
import tempfile
import types
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import uvicorn
import websockets
from sqlalchemy import event
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices.measurements import (  # noqa: E402
    DeviceIdentity,
    Measurement,
    MeasurementKind,
    Unit,
)
from hub import db, migrate  # noqa: E402
from hub.app import create_app  # noqa: E402
from hub.config import Environment, Settings  # noqa: E402
from hub.demo import seed_demo  # noqa: E402
from hub.wire import (  # noqa: E402
    AGENT_WS_PATH,
    Heartbeat,
    Hello,
    MeasurementBatch,
    MeasurementItem,
    WireMeasurement,
    encode,
)
from tests.support.postgres import free_port  # noqa: E402

HUB = str(ROOT / "hub") + "/"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
RENDERING = (
    *("notify/", "messages.py:_", "links.py", "ical", "rendering.py", "config.py"),
    *("context.py", "reminder_offsets", "get_organisation"),
)


class Trace:
    """The hub functions first entered below one of the roots, with their depth below it."""

    def __init__(self, roots: set[str]) -> None:
        self.roots = roots
        self.depth: dict[types.CodeType, int] = {}
        self.order: list[str] = []
        self.statements = 0

    def _count(self, *_args: object) -> None:
        self.statements += 1

    def _below_root(self, frame: types.FrameType) -> int | None:
        depth, outer = 0, frame.f_back
        while outer is not None:
            if outer.f_code.co_filename.startswith(HUB):
                depth += 1
                if outer.f_code.co_name in self.roots:
                    return depth
            outer = outer.f_back
        return None

    def __call__(self, frame: types.FrameType, event: str, _arg: object) -> None:
        code = frame.f_code
        if event != "call" or not code.co_filename.startswith(HUB):
            return
        if code in self.depth or code.co_name.startswith("<"):
            return
        depth = 0 if code.co_name in self.roots else self._below_root(frame)
        if depth is not None:
            self.depth[code] = depth
            self.order.append(f"{depth} {code.co_filename[len(HUB) :]}:{code.co_qualname}")

    async def run(self, action: Callable[[], Awaitable[object]]) -> Trace:
        event.listen(Engine, "before_cursor_execute", self._count)
        sys.setprofile(self)
        try:
            await action()
        finally:
            sys.setprofile(None)
            event.remove(Engine, "before_cursor_execute", self._count)
        return self

    @property
    def hops(self) -> int:
        return len([d for d in self.depth.values() if d > 0])

    def hops_without(self, parts: tuple[str, ...]) -> int:
        kept = [o for o in self.order if not any(p in o for p in parts)]
        return len([o for o in kept if not o.startswith("0 ")])


def form_data(csrf: str) -> dict[str, str]:
    return {
        "birth_name": "Lefèvre",
        "first_names": "Marie Claire",
        "birth_date": "1985-04-12",
        "sex": "F",
        "phone": "06 12 34 56 78",
        "email": "marie@example.org",
        "has_mt": "non",
        "reason": "Mal de gorge depuis trois jours",
        "consent": "oui",
        "csrf_token": csrf,
    }


def measurement(seq: int) -> MeasurementItem:
    m = Measurement(
        kind=MeasurementKind.SPO2,
        value=97.0,
        unit=Unit.PERCENT,
        received_at=dt.datetime.now(dt.UTC),
        device=DeviceIdentity(model="contec_cms50d_plus", serial="bench"),
        loinc="59408-5",
    )
    return MeasurementItem(
        seq=seq, device="Oxymètre", measurement=WireMeasurement.from_measurement(m)
    )


async def main(show: bool) -> None:
    with tempfile.TemporaryDirectory() as work:
        url = f"sqlite+aiosqlite:///{Path(work) / 'hub.sqlite3'}"
        await asyncio.to_thread(migrate.upgrade, url)
        engine = db.make_engine(url)
        async with db.make_session_factory(engine)() as session:
            seed = await seed_demo(session=session)
        await engine.dispose()
        port = free_port()
        settings = Settings(
            environment=Environment.TEST,
            database_url=url,
            secret_key=SECRET,
            port=port,
            jobs_enabled=False,
        )
        server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="error"))
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                page = await client.get("/rdv/cpts-demo")
                path = re.findall(r"/rdv/cpts-demo/creneau/\d+", page.text)[0]
                got: list[httpx.Response] = []

                async def show_form() -> None:
                    got.append(await client.get(path))

                async def book() -> None:
                    got.append(await client.post(path, data=form_data(csrf)))

                form_page = await Trace({"booking_form"}).run(show_form)
                found = re.search(r'name="csrf_token" value="([^"]+)"', got[0].text)
                assert found is not None, "no CSRF token on the booking form"
                csrf = found.group(1)
                booking = await Trace({"book_online"}).run(book)
                assert got[1].status_code == 303, got[1].text[:300]
            async with websockets.connect(
                f"ws://127.0.0.1:{port}{AGENT_WS_PATH}",
                additional_headers={"Authorization": f"Bearer {seed.cabin_token}"},
            ) as ws:
                await ws.send(encode(Hello(cabin_id=seed.cabin_id, agent_version="bench")))
                await ws.recv()  # hello_ack

                async def beat() -> None:
                    await ws.send(encode(Heartbeat(seq=1, sent_at=dt.datetime.now(dt.UTC))))
                    await ws.recv()  # heartbeat ack

                async def measure() -> None:
                    await ws.send(encode(MeasurementBatch(items=(measurement(1),))))
                    await ws.recv()  # measurement ack

                heartbeat = await Trace({"_receive", "_handle"}).run(beat)
                measuring = await Trace({"_receive", "_handle"}).run(measure)
        finally:
            server.should_exit = True
            await serving
    paths = (
        ("online booking (POST /rdv → booking + queued confirmation)", booking, True),
        ("measurement (agent frame → observation → event)", measuring, False),
    )
    baselines = (("showing the booking form (GET)", form_page), ("a heartbeat frame", heartbeat))
    for (name, trace, extra), (base_name, base) in zip(paths, baselines, strict=True):
        print(f"{name}:")
        print(
            f"  {trace.hops} hub functions entered, depth {max(trace.depth.values())}"
            f" ({trace.hops / max(base.hops, 1):.2f}× the {base.hops} of {base_name});"
            f" {trace.statements} SQL statements ({base.statements} for {base_name})"
        )
        if extra:
            print(f"  {trace.hops_without(RENDERING)} without the message-rendering subtree")
        if show:
            print("    " + "\n    ".join(trace.order))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the functions entered")
    asyncio.run(main(parser.parse_args().list))
