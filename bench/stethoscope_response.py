"""Stethoscope path frequency response, measured in the browser.

A stepped sine sweep from 20 Hz to 2 kHz (one tone per band, equal amplitude) is sent over a
real WebRTC connection to Debian's Chromium, which measures each tone's level with WebAudio
(an AnalyserNode on the received track). Two paths in one run: the project's stethoscope path
(``OpusAudioModeTrack``: Opus in "audio" application mode, packets passed through aiortc
unchanged) and aiortc's default encoding of a raw track (Opus in "voip" mode, which high-pass
filters the low band where heart sounds live). Prints the level of each band in dB relative
to 1 kHz for both, and their difference.

    .venv/bin/python bench/stethoscope_response.py [--tone-seconds 0.6]
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
from pathlib import Path

import numpy as np
import uvicorn
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices.media.tracks import OpusAudioModeTrack  # noqa: E402
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


PAGE = """<!doctype html><html><body><audio id="a" autoplay muted></audio><script>
window.peaks = [];
(async () => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("audio", {direction: "recvonly"});
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
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => { if (pc.iceGatheringState === "complete") r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && r(); });
  const answer = await (await fetch("/offer", {method: "POST",
    body: JSON.stringify({sdp: pc.localDescription.sdp})})).json();
  await pc.setRemoteDescription({type: "answer", sdp: answer.sdp});
})();
</script></body></html>"""


async def measure(audio_mode: bool, tone_seconds: float) -> dict[int, float]:
    """The peak level (dBFS) of each band as the browser heard it."""
    sweep = SweepTrack(tone_seconds)
    track: MediaStreamTrack = OpusAudioModeTrack(sweep) if audio_mode else sweep
    peers: list[RTCPeerConnection] = []
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

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

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.05)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
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
            await page_.goto(f"http://127.0.0.1:{port}/")
            await asyncio.sleep(1.0 + 2 * sweep.cycle_seconds)
            peaks: list[list[float]] = await page_.evaluate("window.peaks")
            await browser.close()
    finally:
        for pc in peers:
            await pc.close()
        track.stop()
        server.should_exit = True
        await serving
    levels: dict[int, float] = {}
    for frequency, level in peaks:
        if not math.isfinite(level):
            continue
        band = min(BANDS, key=lambda b: abs(math.log(max(frequency, 1.0) / b)))
        if abs(math.log(max(frequency, 1.0) / band)) < 0.12:  # within about a sixth of an octave
            levels[band] = max(levels.get(band, -200.0), level)
    return levels


async def main_async(args: argparse.Namespace) -> int:
    audio = await measure(True, args.tone_seconds)
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
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
