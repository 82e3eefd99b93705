"""Bench only: stamp the simulated room camera's frames with their capture time.

``bench/three_party.py`` puts this folder first on the cabin agent's ``PYTHONPATH``, so the
agent's media process (a subprocess the product starts itself) imports it at start-up: every
frame of ``RoomCameraTrack`` then carries the wall-clock time (ms, low 32 bits) it left the
track, drawn as 32 black or white blocks across the top row, which the browsers read back
(the same code as ``bench/media_latency.py``'s stamped track). Nothing of the product is
changed; both paths (peer to peer to the doctor, through Janus to the guest) send these frames.
"""

from __future__ import annotations

import time

import numpy as np
from av import VideoFrame

from devices.media import tracks

BITS = 32
_recv = tracks.RoomCameraTrack.recv


async def _stamped_recv(self: tracks.SyntheticVideoTrack) -> VideoFrame:
    frame = await _recv(self)
    image = frame.to_ndarray(format="rgb24")
    block = image.shape[1] // BITS
    stamp = int(time.time() * 1000) & 0xFFFFFFFF
    for bit in range(BITS):
        value = 255 if stamp >> (BITS - 1 - bit) & 1 else 0
        image[:block, bit * block : (bit + 1) * block] = value
    stamped = VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint8), format="rgb24")
    stamped.pts, stamped.time_base = frame.pts, frame.time_base
    return stamped


tracks.RoomCameraTrack.recv = _stamped_recv  # type: ignore[method-assign]
