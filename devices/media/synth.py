"""Synthetic stethoscope sounds and otoscope images (numpy only, no I/O).

Heart sounds: S1 (mitral/tricuspid closure, ~30–80 Hz, ~100 ms) and S2 (aortic/pulmonary
closure, ~50–120 Hz, ~80 ms), as damped low-frequency oscillations at a chosen heart rate,
with an optional holosystolic murmur (band-limited noise, 120–300 Hz). Lung sounds: vesicular
breath noise whose spectrum falls off above ~200 Hz, louder on inspiration. Images: a
tympanic-membrane-like disc with the cone of light, drifting slightly, and a consultation room
with a seated patient breathing, each with a frame counter (also drawn on YUV 4:2:0 frames).
"""

from __future__ import annotations

import enum
import math

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FloatArray = npt.NDArray[np.float64]
ImageArray = npt.NDArray[np.uint8]


class AuscultationSite(enum.StrEnum):
    """What the synthetic stethoscope listens to."""

    HEART = "heart"
    LUNG = "lung"


def _shaped_noise(
    rng: np.random.Generator, n: int, sample_rate: int, low: float, high: float, rolloff: float
) -> FloatArray:
    """Return n samples of noise band-passed to [low, high] Hz, falling as f^-rolloff above."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    gain = np.where((freqs >= low) & (freqs <= high), 1.0, 0.0)
    above = freqs > low
    gain[above] *= (freqs[above] / low) ** -rolloff
    noise = np.fft.irfft(spectrum * gain, n)
    peak = float(np.max(np.abs(noise))) or 1.0
    return np.asarray(noise / peak, dtype=np.float64)


def _thump(sample_rate: int, duration: float, frequency: float, decay: float) -> FloatArray:
    """Return a damped oscillation with a smooth attack: one heart-sound component."""
    t = np.arange(int(duration * sample_rate)) / sample_rate
    attack = 1.0 - np.exp(-t / 0.008)
    return np.asarray(attack * np.exp(-t / decay) * np.sin(2 * math.pi * frequency * t))


def heart_beat(
    heart_rate: float,
    *,
    murmur: bool = False,
    sample_rate: int = SAMPLE_RATE,
    rng: np.random.Generator | None = None,
) -> FloatArray:
    """Return one cardiac cycle (S1, systole, S2, diastole) in [-1, 1]."""
    rng = rng or np.random.default_rng(0)
    period = 60.0 / heart_rate
    n = int(period * sample_rate)
    beat = np.zeros(n)
    systole = min(0.34, 0.42 * period)
    s1 = 0.9 * _thump(sample_rate, 0.11, 45.0, 0.03) + 0.3 * _thump(sample_rate, 0.11, 70.0, 0.02)
    s2 = 0.7 * _thump(sample_rate, 0.08, 60.0, 0.02) + 0.25 * _thump(sample_rate, 0.08, 95.0, 0.015)
    beat[: len(s1)] += s1[:n]
    start = int(systole * sample_rate)
    end = min(n, start + len(s2))
    beat[start:end] += s2[: end - start]
    if murmur:
        m_start, m_end = int(0.1 * sample_rate), start
        if m_end > m_start:
            length = m_end - m_start
            envelope = np.sin(np.linspace(0.0, math.pi, length)) ** 2
            hiss = _shaped_noise(rng, length, sample_rate, 120.0, 300.0, 0.5)
            beat[m_start:m_end] += 0.18 * envelope * hiss
    beat += 0.004 * rng.standard_normal(n)
    return np.asarray(np.clip(beat, -1.0, 1.0), dtype=np.float64)


def breath_cycle(
    respiratory_rate: float = 15.0,
    *,
    sample_rate: int = SAMPLE_RATE,
    rng: np.random.Generator | None = None,
) -> FloatArray:
    """Return one vesicular breath (inspiration then quieter expiration) in [-1, 1]."""
    rng = rng or np.random.default_rng(1)
    period = 60.0 / respiratory_rate
    n = int(period * sample_rate)
    noise = _shaped_noise(rng, n, sample_rate, 80.0, 1000.0, 2.0)
    t = np.arange(n) / n
    inspiration = 0.4
    envelope = np.where(
        t < inspiration,
        np.sin(math.pi * t / inspiration) ** 2,
        0.35 * np.sin(math.pi * (t - inspiration) / (1.0 - inspiration)) ** 2,
    )
    return np.asarray(0.5 * envelope * noise, dtype=np.float64)


class SoundStream:
    """An endless stream of synthetic auscultation sound, read in chunks of any size."""

    def __init__(
        self,
        site: AuscultationSite = AuscultationSite.HEART,
        *,
        heart_rate: float = 72.0,
        murmur: bool = False,
        respiratory_rate: float = 15.0,
        sample_rate: int = SAMPLE_RATE,
        seed: int = 0,
    ) -> None:
        self.site = site
        self.heart_rate = heart_rate
        self.murmur = murmur
        self.respiratory_rate = respiratory_rate
        self.sample_rate = sample_rate
        self._rng = np.random.default_rng(seed)
        self._buffer = np.zeros(0)

    def _next_block(self) -> FloatArray:
        if self.site is AuscultationSite.HEART:
            return heart_beat(
                self.heart_rate, murmur=self.murmur, sample_rate=self.sample_rate, rng=self._rng
            )
        return breath_cycle(self.respiratory_rate, sample_rate=self.sample_rate, rng=self._rng)

    def read(self, samples: int) -> FloatArray:
        """Return the next `samples` samples as floats in [-1, 1]."""
        while len(self._buffer) < samples:
            self._buffer = np.concatenate([self._buffer, self._next_block()])
        chunk, self._buffer = self._buffer[:samples], self._buffer[samples:]
        return chunk


# Seven-segment glyphs for the frame counter: segments a b c d e f g.
_SEGMENTS = {
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
}


def _draw_digit(
    image: ImageArray,
    digit: str,
    x: int,
    y: int,
    size: int,
    value: int | tuple[int, int, int] = (255, 255, 255),
) -> None:
    w, h, t = size, 2 * size, max(1, size // 5)
    boxes = {
        "a": (x, y, x + w, y + t),
        "b": (x + w - t, y, x + w, y + h // 2),
        "c": (x + w - t, y + h // 2, x + w, y + h),
        "d": (x, y + h - t, x + w, y + h),
        "e": (x, y + h // 2, x + t, y + h),
        "f": (x, y, x + t, y + h // 2),
        "g": (x, y + h // 2 - t // 2, x + w, y + h // 2 + t // 2),
    }
    for segment in _SEGMENTS[digit]:
        x0, y0, x1, y1 = boxes[segment]
        image[y0:y1, x0:x1] = value


def draw_counter(image: ImageArray, frame_index: int) -> None:
    """Draw the frame number, white, in the top-left corner of an RGB image."""
    size = max(8, image.shape[0] // 24)
    for i, digit in enumerate(f"{frame_index % 1_000_000:06d}"):
        _draw_digit(image, digit, 10 + i * (size + size // 2), 10, size)


def draw_counter_yuv420(frame: ImageArray, width: int, height: int, frame_index: int) -> None:
    """Draw the frame number, white, on a YUV 4:2:0 frame laid out as PyAV's ndarray
    (``height * 3 // 2`` rows of ``width``: the Y plane, then U and V)."""
    luma = frame[:height]
    quarter = height // 4
    chroma = [
        frame[height + i * quarter : height + (i + 1) * quarter].reshape(height // 2, width // 2)
        for i in (0, 1)
    ]
    size = max(8, height // 24)
    for i, digit in enumerate(f"{frame_index % 1_000_000:06d}"):
        x = 10 + i * (size + size // 2)
        _draw_digit(luma, digit, x, 10, size, 235)
        for plane in chroma:
            _draw_digit(plane, digit, x // 2, 5, size // 2, 128)


def otoscope_image(
    frame_index: int,
    *,
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    counter: bool = True,
) -> ImageArray:
    """Return an RGB image of an eardrum-like disc with its light reflex and a frame counter."""
    t = frame_index / fps
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx = width / 2 + 12 * math.sin(2 * math.pi * 0.2 * t)
    cy = height / 2 + 8 * math.sin(2 * math.pi * 0.13 * t + 1.0)
    radius = 0.36 * min(width, height)
    r = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / radius
    image = np.zeros((height, width, 3), dtype=np.float32)
    # Ear canal: dark reddish-brown vignette.
    canal = np.clip(1.2 - 0.5 * r, 0.0, 1.0)[..., None]
    image += canal * np.array([90, 40, 30], dtype=np.float32)
    # Pearly grey-pink membrane, brighter at its centre (the umbo).
    membrane = (r < 1.0)[..., None]
    shade = (0.75 + 0.25 * np.clip(1.0 - r, 0.0, 1.0))[..., None]
    image = np.where(membrane, shade * np.array([200, 170, 165], dtype=np.float32), image)
    # Cone of light: a bright wedge from the umbo towards the anteroinferior rim.
    angle = np.arctan2(yy - cy, xx - cx)
    cone = (r < 0.95) & (r > 0.08) & (np.abs(angle - 0.9) < 0.18 * (1.1 - r))
    image[cone] = (250, 245, 235)
    # Handle of the malleus: a pale line from the umbo upwards.
    handle = (np.abs(xx - cx + 0.25 * (yy - cy)) < 3) & (yy < cy) & (r < 0.6)
    image[handle] = (235, 220, 200)
    out = np.clip(image, 0, 255).astype(np.uint8)
    if counter:
        draw_counter(out, frame_index)
    return out


def room_image(
    frame_index: int,
    *,
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    counter: bool = True,
) -> ImageArray:
    """Return an RGB image of the consultation room: a patient seated before a wall with a
    window, the examination couch beside, breathing (about 15 breaths a minute)."""
    t = frame_index / fps
    breath = math.sin(2 * math.pi * t / 4.0)
    sway = 3.0 * math.sin(2 * math.pi * t / 6.0) * width / 640
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xx / width, yy / height
    image = np.empty((height, width, 3), dtype=np.float32)
    # Wall, lit from the window (brighter on the left), and the floor.
    image[:] = np.array([226, 216, 196], dtype=np.float32)
    image *= (1.0 - 0.12 * u)[..., None]
    floor = v > 0.74
    image[floor] = (150, 140, 128)
    # Window with its frame.
    window = (u > 0.06) & (u < 0.30) & (v > 0.10) & (v < 0.46)
    image[window] = (188, 214, 236)
    bars = window & ((np.abs(u - 0.18) < 0.006) | (np.abs(v - 0.28) < 0.008))
    image[bars] = (240, 240, 236)
    # Examination couch, pale green, on dark legs.
    image[(u > 0.60) & (u < 0.96) & (v > 0.56) & (v < 0.64)] = (132, 178, 166)
    image[((np.abs(u - 0.64) < 0.008) | (np.abs(u - 0.92) < 0.008)) & (v >= 0.64) & (v < 0.80)] = (
        60,
        60,
        64,
    )
    # The patient: shirt (rising with each breath), neck, face, hair; a chair under them.
    cx = 0.40 * width + sway
    image[(np.abs(xx - cx) < 0.12 * width) & (v > 0.70) & (v < 0.74)] = (95, 70, 50)
    chest_h = 0.20 * height * (1.0 + 0.02 * breath)
    chest_top = 0.72 * height - 2 * chest_h
    torso = ((xx - cx) / (0.11 * width)) ** 2 + ((yy - 0.72 * height + chest_h) / chest_h) ** 2
    image[(torso < 1.0) & (yy < 0.72 * height)] = (70, 102, 152)
    head_cy = chest_top - 0.07 * height
    image[(np.abs(xx - cx) < 0.022 * width) & (yy > head_cy) & (yy < chest_top + 8)] = (
        214,
        170,
        140,
    )
    face = ((xx - cx) / (0.055 * width)) ** 2 + ((yy - head_cy) / (0.085 * height)) ** 2
    image[face < 1.0] = (226, 182, 152)
    image[(face < 1.0) & (yy < head_cy - 0.035 * height)] = (70, 50, 40)
    out = np.clip(image, 0, 255).astype(np.uint8)
    if counter:
        draw_counter(out, frame_index)
    return out
