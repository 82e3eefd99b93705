"""Stethoscope path frequency response, measured in the browser.

A stepped sine sweep from 20 Hz to 2 kHz (one tone per band, equal amplitude) is sent over a
real WebRTC connection to Debian's Chromium, which measures each tone's level with WebAudio
(an AnalyserNode on the received track). Two paths in one run: the project's stethoscope path
(``OpusAudioModeTrack``: Opus in "audio" application mode, packets passed through aiortc
unchanged) and aiortc's default encoding of a raw track (Opus in "voip" mode, which high-pass
filters the low band where heart sounds live). Prints the level of each band in dB relative
to 1 kHz for both, and their difference.

With ``--through-janus`` the second path is the SFU's instead: the cabin agent's publisher
sends the sweep as its stethoscope into a Janus VideoRoom (Debian's janus, started for the
run, the room opened by the hub's client) and the browser subscribes to it; the response is
printed against the direct path measured in the same run. Janus forwards the Opus packets, so
the two should agree within ±1 dB.

    .venv/bin/python bench/stethoscope_response.py [--tone-seconds 0.6] [--through-janus]
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cabin_agent.janus_session import JanusSession  # noqa: E402
from cabin_agent.media_sfu import SfuPublisher  # noqa: E402
from devices.media.quality import VideoQuality  # noqa: E402
from devices.media.tracks import OpusAudioModeTrack, OtoscopeTrack, RoomCameraTrack  # noqa: E402
from hub.config import Environment, Settings  # noqa: E402
from hub.consultation.sfu import SfuRooms  # noqa: E402
from hub.wire.janus import jsep  # noqa: E402
from tests.support.janus import ThrowawayJanus  # noqa: E402
from tests.support.postgres import free_port  # noqa: E402

RATE, PTIME = 48_000, 0.02
SAMPLES = int(RATE * PTIME)
BANDS = (
    20,
    25,
    31,
    40,
    50,
    63,
    80,
    100,
    125,
    160,
    200,
    250,
    315,
    400,
    500,
    630,
    800,
    1000,
    1250,
    1600,
    2000,
)
REFERENCE = 1000
BENCH_ROOM = 1
STETHOSCOPE_MID = "2"  # the publisher's third m-line (SENT_TRACKS: room, otoscope, stethoscope)


class SweepTrack(MediaStreamTrack):
    """Each band's tone for ``tone_seconds``, then a short silence; loops."""

    kind = "audio"

    def __init__(self, tone_seconds: float) -> None:
        super().__init__()
        self.tone = int(tone_seconds * RATE)
        self.gap = int(0.1 * RATE)
        self.pts = 0
        self.start = time.monotonic()

    async def recv(self) -> AudioFrame:
        await asyncio.sleep(max(0.0, self.start + self.pts / RATE - time.monotonic()))
        period = (self.tone + self.gap) * len(BANDS)
        t = (self.pts + np.arange(SAMPLES)) % period
        band, offset = np.divmod(t, self.tone + self.gap)
        freqs = np.array(BANDS, dtype=float)[band]
        wave = np.where(offset < self.tone, 0.3 * np.sin(2 * np.pi * freqs * offset / RATE), 0.0)
        frame = AudioFrame.from_ndarray(
            (wave * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate, frame.pts = RATE, self.pts
        frame.time_base = fractions.Fraction(1, RATE)
        self.pts += SAMPLES
        return frame

    @property
    def cycle_seconds(self) -> float:
        return (self.tone + self.gap) * len(BANDS) / RATE


BROWSER_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",  # Janus listens on loopback only
    "--autoplay-policy=no-user-gesture-required",
]

# The page measures the received track's strongest frequency and its level, every 50 ms.
# `connect(pc)` differs: offering to receive (the direct path, aiortc answers), or answering
# Janus's offer (the SFU path: the bench signals to Janus for the page).
PAGE = """<!doctype html><html><body><audio id="a" autoplay muted></audio><script>
window.peaks = [];
const gathered = (pc) => new Promise((r) => { if (pc.iceGatheringState === "complete") r();
  pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && r(); });
const post = async (path, sdp) => (await fetch(path, {method: "POST",
  body: JSON.stringify({sdp})})).json();
(async () => {
  const pc = new RTCPeerConnection();
  pc.ontrack = (e) => {
    const stream = new MediaStream([e.track]);
    document.getElementById("a").srcObject = stream;
    const ctx = new AudioContext({sampleRate: 48000});
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 16384;
    analyser.smoothingTimeConstant = 0;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    setInterval(() => {
      analyser.getFloatFrequencyData(bins);
      let best = 0;
      for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      window.peaks.push([best * 48000 / analyser.fftSize, bins[best]]);
    }, 50);
  };
  if (MODE === "direct") {
    pc.addTransceiver("audio", {direction: "recvonly"});
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const answer = await post("/offer", pc.localDescription.sdp);
    await pc.setRemoteDescription({type: "answer", sdp: answer.sdp});
  } else {
    const offer = await post("/subscribe", "");
    await pc.setRemoteDescription({type: "offer", sdp: offer.sdp});
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    await post("/start", pc.localDescription.sdp);
  }
})();
</script></body></html>"""

Routes = Callable[[FastAPI], None]


async def listen(mode: str, routes: Routes, seconds: float) -> list[list[float]]:
    """Serve the page (with `routes` for its signalling) to Chromium; return what it heard."""
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE.replace("MODE", json.dumps(mode))

    routes(app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.05)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=BROWSER_ARGS,
            )
            page_ = await browser.new_page()
            await page_.goto(f"http://127.0.0.1:{port}/")
            await asyncio.sleep(seconds)
            peaks: list[list[float]] = await page_.evaluate("window.peaks")
            await browser.close()
    finally:
        server.should_exit = True
        await serving
    return peaks


def band_levels(peaks: list[list[float]]) -> dict[int, float]:
    """The peak level (dBFS) of each band, from the browser's (frequency, level) readings."""
    levels: dict[int, float] = {}
    for frequency, level in peaks:
        if not math.isfinite(level):
            continue
        band = min(BANDS, key=lambda b: abs(math.log(max(frequency, 1.0) / b)))
        if abs(math.log(max(frequency, 1.0) / band)) < 0.12:  # within about a sixth of an octave
            levels[band] = max(levels.get(band, -200.0), level)
    return levels


async def measure(audio_mode: bool, tone_seconds: float) -> dict[int, float]:
    """The level of each band as the browser heard it, sent straight from aiortc."""
    sweep = SweepTrack(tone_seconds)
    track: MediaStreamTrack = OpusAudioModeTrack(sweep) if audio_mode else sweep
    peers: list[RTCPeerConnection] = []

    def routes(app: FastAPI) -> None:
        @app.post("/offer")
        async def offer(request: Request) -> JSONResponse:
            pc = RTCPeerConnection()
            peers.append(pc)
            await pc.setRemoteDescription(
                RTCSessionDescription(sdp=json.loads(await request.body())["sdp"], type="offer")
            )
            for transceiver in pc.getTransceivers():
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly"
                if audio_mode:  # the pre-encoded packets are Opus: negotiate nothing else
                    capabilities = transceiver.receiver.getCapabilities("audio")
                    if capabilities is not None:
                        transceiver.setCodecPreferences(
                            [c for c in capabilities.codecs if c.name == "opus"]
                        )
            await pc.setLocalDescription(await pc.createAnswer())
            return JSONResponse({"sdp": pc.localDescription.sdp})

    try:
        peaks = await listen("direct", routes, 1.0 + 2 * sweep.cycle_seconds)
    finally:
        for pc in peers:
            await pc.close()
        track.stop()
    return band_levels(peaks)


async def measure_through_janus(tone_seconds: float) -> dict[int, float]:
    """The level of each band as the browser heard it through Janus: the cabin agent's
    publisher sends the sweep as its stethoscope into a VideoRoom the hub opened, and the
    browser subscribes to that stream only (the bench relays the browser's signalling)."""
    janus = ThrowawayJanus()
    janus.start()
    settings = Settings(
        environment=Environment.TEST,
        secret_key="bench-secret-key-that-is-long-enough-0123456789",
        janus_url=janus.url,
        janus_admin_url=janus.admin_url,
        janus_admin_secret=janus.admin_secret,
    )
    rooms = SfuRooms(settings)
    sweep = SweepTrack(tone_seconds)
    small = VideoQuality.fixed(160, 120, 5.0)  # the cabin's videos, kept cheap
    http = httpx.AsyncClient(timeout=10)
    try:
        grants = await rooms.open_room(BENCH_ROOM)
        publisher = SfuPublisher(
            grants["cabin"],
            room=RoomCameraTrack(quality=small),
            otoscope=OtoscopeTrack(quality=small),
            stethoscope=sweep,
        )
        feed = await publisher.publish()
        doctor = JanusSession(grants["doctor"], http)

        def routes(app: FastAPI) -> None:
            @app.post("/subscribe")
            async def subscribe() -> JSONResponse:
                grant = doctor.grant
                await doctor.attach()
                _, offer = await doctor.send(
                    {
                        "request": "join",
                        "ptype": "subscriber",
                        "room": grant.room,
                        "pin": grant.pin,
                        "token": grant.token,
                        "streams": [{"feed": feed, "mid": STETHOSCOPE_MID}],
                    }
                )
                return JSONResponse({"sdp": (offer or {}).get("sdp", "")})

            @app.post("/start")
            async def start(request: Request) -> JSONResponse:
                sdp = json.loads(await request.body())["sdp"]
                started, _ = await doctor.send({"request": "start"}, jsep=jsep(sdp, "answer"))
                return JSONResponse(started)

        try:
            peaks = await listen("janus", routes, 1.0 + 2 * sweep.cycle_seconds)
        finally:
            await doctor.close()
            await publisher.close()
            await rooms.close_room(BENCH_ROOM, ["cabin", "doctor"])
    finally:
        await http.aclose()
        await rooms.aclose()
        janus.stop()
    return band_levels(peaks)


def print_janus(direct: dict[int, float], janus: dict[int, float]) -> int:
    """Print the response through Janus against the direct path; return the exit status."""
    if REFERENCE not in janus:
        print("the 1 kHz reference tone was not heard through Janus: no measurement")
        return 1
    print("stethoscope through Janus (agent -> VideoRoom -> browser), dB relative to 1 kHz")
    print(f"{'band (Hz)':>10} {'direct':>8} {'through Janus':>14} {'difference':>11}")
    worst = 0.0
    for band in BANDS:
        d = direct.get(band, float("nan")) - direct[REFERENCE]
        j = janus.get(band, float("nan")) - janus[REFERENCE]
        worst = max(worst, abs(j - d)) if math.isfinite(j - d) else float("inf")
        print(f"{band:>10} {d:>8.1f} {j:>14.1f} {j - d:>11.1f}")
    verdict = "within" if worst <= 1.0 else "OUTSIDE"
    print(
        f"20 Hz–2 kHz through Janus against the direct path (in-run baseline): largest "
        f"deviation {worst:.2f} dB, {verdict} ±1 dB"
    )
    return 0


async def main_async(args: argparse.Namespace) -> int:
    audio = await measure(True, args.tone_seconds)
    if args.through_janus:
        if REFERENCE not in audio:
            print("the 1 kHz reference tone was not heard: no measurement")
            return 1
        return print_janus(audio, await measure_through_janus(args.tone_seconds))
    voip = await measure(False, args.tone_seconds)
    if REFERENCE not in audio or REFERENCE not in voip:
        print("the 1 kHz reference tone was not heard: no measurement")
        return 1
    print("stethoscope path response in the browser, dB relative to 1 kHz")
    print(f"{'band (Hz)':>10} {'audio mode':>11} {'voip (aiortc default)':>22} {'difference':>11}")
    for band in BANDS:
        a = audio.get(band, float("nan")) - audio[REFERENCE]
        v = voip.get(band, float("nan")) - voip[REFERENCE]
        print(f"{band:>10} {a:>11.1f} {v:>22.1f} {a - v:>11.1f}")
    low = [b for b in BANDS if b <= 60 and b in audio and b in voip]
    if low:
        gain = sum((audio[b] - audio[REFERENCE]) - (voip[b] - voip[REFERENCE]) for b in low)
        print(
            f"20–60 Hz (heart sounds): audio mode keeps {gain / len(low):+.1f} dB more than "
            "the default voice encoding (ratio against the in-run baseline)"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tone-seconds", type=float, default=0.6)
    parser.add_argument(
        "--through-janus",
        action="store_true",
        help="compare the direct path with the path through a throw-away Janus VideoRoom",
    )
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
