"""Room video latency: from the agent's capture to the doctor's browser rendering the frame.

The agent's real ``MediaSession`` sends a room video whose frames carry their capture time
(milliseconds, drawn as 32 black or white blocks); Debian's Chromium (Playwright) receives it
over a real WebRTC connection, reads the blocks back from each rendered frame and subtracts
the time from its own clock (same machine). Two runs in one process: the direct path (the
baseline) and a path where the agent's outgoing packets are delayed and some dropped (loss
injected in the ICE transport). Prints p50, p95 and the frames not rendered, and the ratios.
Then the recovery after a real network cut (``bench/cut_recovery.py``: the whole product, the
agent in a network namespace whose veth goes down): from restore to the first rendered frame,
p50 and max over ``--cuts`` cuts of ``--cut-seconds``, against the cold start.
``--three-party`` measures instead the path through Janus (``bench/three_party.py``: the
whole product, a guest invited into the consultation): capture → render at the doctor (peer
to peer, the baseline) and at the guest (through Janus) over the same window.

    .venv/bin/python bench/media_latency.py [--seconds 15] [--delay-ms 60] [--loss 0.02]
        [--cuts 5] [--cut-seconds 10]
    .venv/bin/python bench/media_latency.py --three-party [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import random
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from aiortc import MediaStreamTrack
from av import VideoFrame
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aioice.ice  # noqa: E402
import cut_recovery  # noqa: E402  # bench/cut_recovery.py, beside this script
import three_party  # noqa: E402  # bench/three_party.py, beside this script

from cabin_agent.media import MediaSession  # noqa: E402
from devices.media.tracks import OtoscopeTrack, StethoscopeTrack  # noqa: E402
from tests.support.postgres import free_port  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 30
BITS, BLOCK = 32, 20
TIME_BASE = fractions.Fraction(1, 90_000)


class StampedRoomTrack(MediaStreamTrack):
    """Frames carrying their capture time (ms, low 32 bits) as black/white blocks."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.index = 0
        self.start = time.monotonic()
        self.sent = 0

    async def recv(self) -> VideoFrame:
        await asyncio.sleep(max(0.0, self.start + self.index / FPS - time.monotonic()))
        image = np.full((HEIGHT, WIDTH, 3), 90, dtype=np.uint8)
        stamp = int(time.time() * 1000) & 0xFFFFFFFF
        for bit in range(BITS):
            value = 255 if stamp >> (BITS - 1 - bit) & 1 else 0
            row, col = divmod(bit, WIDTH // BLOCK)
            image[row * BLOCK : (row + 1) * BLOCK, col * BLOCK : (col + 1) * BLOCK] = value
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = int(self.index * 90_000 / FPS), TIME_BASE
        self.index += 1
        self.sent += 1
        return frame


PAGE = """<!doctype html><html><body><video id="room" autoplay playsinline muted></video>
<canvas id="c" width="%(w)d" height="%(b)d"></canvas><script>
const results = {latencies: [], frames: 0, ready: false};
window.results = results;
(async () => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", {direction: "recvonly"});
  pc.addTransceiver("video", {direction: "recvonly"});
  pc.addTransceiver("audio", {direction: "recvonly"});
  const channel = pc.createDataChannel("vitals");
  let roomMid = null; const tracks = {};
  const attach = () => {
    if (!roomMid || !tracks[roomMid]) return;
    const video = document.getElementById("room");
    video.srcObject = new MediaStream([tracks[roomMid]]);
    const ctx = document.getElementById("c").getContext("2d", {willReadFrequently: true});
    const onFrame = () => {
      const now = Date.now();
      ctx.drawImage(video, 0, 0, %(w)d, %(h)d, 0, 0, %(w)d, %(h)d);
      const pixels = ctx.getImageData(0, 0, %(w)d, %(b)d).data;
      let stamp = 0;
      for (let bit = 0; bit < %(bits)d; bit++) {
        const x = bit * %(b)d + %(b)d / 2, y = %(b)d / 2;
        const v = pixels[(y * %(w)d + x) * 4];
        stamp = stamp * 2 + (v > 128 ? 1 : 0);
      }
      const latency = ((now %% 4294967296) - stamp + 4294967296) %% 4294967296;
      if (latency < 10000) results.latencies.push(latency);
      results.frames += 1;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    results.ready = true;
  };
  channel.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === "tracks") {
      for (const [mid, label] of Object.entries(m.mids)) if (label === "room") roomMid = mid;
      attach();
    }
  };
  pc.ontrack = (e) => { tracks[e.transceiver.mid] = e.track; attach(); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => { if (pc.iceGatheringState === "complete") r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && r(); });
  const answer = await (await fetch("/offer", {method: "POST",
    body: JSON.stringify({sdp: pc.localDescription.sdp})})).json();
  await pc.setRemoteDescription({type: "answer", sdp: answer.sdp});
})();
</script></body></html>""" % {"w": WIDTH, "h": HEIGHT, "b": BLOCK, "bits": BITS}  # noqa: UP031


def impair(delay_s: float, loss: float, rng: random.Random) -> Callable[[], None]:
    """Delay and drop the agent's outgoing datagrams (ICE data path); returns an undo."""
    original = aioice.ice.StunProtocol.send_data

    async def send_data(self: Any, data: bytes, addr: tuple[str, int]) -> None:
        if rng.random() < loss:
            return

        def later() -> None:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.sendto(data, addr)

        asyncio.get_running_loop().call_later(delay_s, later)

    aioice.ice.StunProtocol.send_data = send_data  # type: ignore[method-assign]

    def undo() -> None:
        aioice.ice.StunProtocol.send_data = original  # type: ignore[method-assign]

    return undo


async def measure(
    seconds: float, setup: Callable[[], Awaitable[None]] | None = None
) -> dict[str, Any]:
    room = StampedRoomTrack()
    session = MediaSession(
        room=room, otoscope=OtoscopeTrack(width=320, height=240), stethoscope=StethoscopeTrack()
    )
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    @app.post("/offer")
    async def offer(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        return JSONResponse({"sdp": await session.answer(body["sdp"])})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.05)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=chromium,
                args=[
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-features=WebRtcHideLocalIpsWithMdns",
                    "--autoplay-policy=no-user-gesture-required",
                ],
            )
            page_ = await browser.new_page()
            if setup is not None:
                await setup()
            await page_.goto(f"http://127.0.0.1:{port}/")
            for _ in range(200):
                if await page_.evaluate("window.results && window.results.ready"):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # let the jitter buffer settle
            sent_before = room.sent
            frames_before = await page_.evaluate("window.results.frames")
            latencies_before = await page_.evaluate("window.results.latencies.length")
            await asyncio.sleep(seconds)
            result = await page_.evaluate("window.results")
            sent = room.sent - sent_before
            await browser.close()
    finally:
        await session.close()
        server.should_exit = True
        await serving
    latencies = result["latencies"][latencies_before:]
    rendered = result["frames"] - frames_before
    return {"latencies": latencies, "sent": sent, "rendered": rendered}


def summary(name: str, r: dict[str, Any]) -> tuple[float, float]:
    lat = sorted(r["latencies"])
    if not lat:
        print(f"{name}: no frame decoded")
        return float("nan"), float("nan")
    p50 = lat[len(lat) // 2]
    p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
    dropped = max(0, r["sent"] - r["rendered"])
    print(
        f"{name:<22} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  mean {statistics.fmean(lat):6.1f} ms  "
        f"frames sent {r['sent']}, rendered {r['rendered']}, not rendered {dropped} "
        f"({100 * dropped / max(1, r['sent']):.1f} %)"
    )
    return p50, p95


async def main_async(args: argparse.Namespace) -> None:
    direct = await measure(args.seconds)
    undo: list[Callable[[], None]] = []

    async def degrade() -> None:
        undo.append(impair(args.delay_ms / 1000, args.loss, random.Random(1)))

    try:
        impaired = await measure(args.seconds, degrade)
    finally:
        for u in undo:
            u()
    print(
        f"room video {WIDTH}x{HEIGHT} at {FPS} fps, {args.seconds:g} s per path, "
        "capture time read back from each rendered frame"
    )
    b50, b95 = summary("direct (baseline)", direct)
    i50, i95 = summary(f"+{args.delay_ms} ms, {args.loss:.0%} loss", impaired)
    print(f"ratio impaired/direct: p50 ×{i50 / b50:.2f}, p95 ×{i95 / b95:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--delay-ms", type=float, default=60)
    parser.add_argument("--loss", type=float, default=0.02)
    parser.add_argument("--cuts", type=int, default=5, help="network cuts (0: none)")
    parser.add_argument("--cut-seconds", type=float, default=10.0)
    parser.add_argument(
        "--three-party", action="store_true", help="the guest's path through Janus, only"
    )
    args = parser.parse_args()
    if args.three_party:
        asyncio.run(three_party.report(args.seconds))
        return 0
    asyncio.run(main_async(args))
    if args.cuts > 0:
        cut_recovery.report(args.cuts, args.cut_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
