"""The doctor's browser's receiver reports (RTCP), read from aiortc's statistics and passed to
the consultation's `VideoQuality`, which steps the cabin's videos down when packets are lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from aiortc import RTCPeerConnection
from aiortc.stats import RTCRemoteInboundRtpStreamStats

from cabin_agent.config import MediaSection
from devices.media.quality import VideoQuality, video_ladder

logger = logging.getLogger(__name__)

REPORT_POLL_SECONDS = 2.0
#: RTCP carries the fraction lost as an 8-bit fixed-point number (n/256).
RTCP_FRACTION_SCALE = 256

Sleep = Callable[[float], Awaitable[None]]


def quality_for(media: MediaSection) -> VideoQuality:
    """Return the video quality a consultation starts at, with its ladder when it adapts."""
    if not media.adapt:
        return VideoQuality.fixed(media.video_width, media.video_height, media.video_fps)
    return VideoQuality(
        video_ladder(
            media.video_width,
            media.video_height,
            media.video_fps,
            min_width=media.min_video_width,
            min_fps=media.min_video_fps,
        ),
        on_change=lambda level: logger.info(
            "video sent at %sx%s, %g fps", level.width, level.height, level.fps
        ),
    )


class RemoteReports:
    """Feeds each new receiver report of the video senders of `pc` to `quality`, once."""

    def __init__(self, pc: RTCPeerConnection, quality: VideoQuality) -> None:
        self._pc = pc
        self._quality = quality
        self._seen: dict[str, dt.datetime] = {}

    async def poll(self) -> int:
        """Read the statistics once; return how many new reports were passed on."""
        passed = 0
        for sender in self._pc.getSenders():
            if sender.track is None or sender.track.kind != "video":
                continue
            for stats in (await sender.getStats()).values():
                if not isinstance(stats, RTCRemoteInboundRtpStreamStats):
                    continue
                if self._seen.get(stats.id) == stats.timestamp:
                    continue
                self._seen[stats.id] = stats.timestamp
                self._quality.remote_loss(stats.fractionLost / RTCP_FRACTION_SCALE)
                passed += 1
        return passed

    async def run(self, sleep: Sleep = asyncio.sleep) -> None:
        """Poll every REPORT_POLL_SECONDS until cancelled."""
        while True:
            await sleep(REPORT_POLL_SECONDS)
            await self.poll()
