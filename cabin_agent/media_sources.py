"""The trolley's sources in the media process — room camera, otoscope, stethoscope — each
opened once while anything sends it, and shared (`devices.media.fanout`) by every consumer: the
doctor's peer connection and the consultation's Janus room read the same capture, since a
V4L2 device opened a second time fails or competes with the first. A source is closed when its
last consumer stops, and opened again by the next one.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

from aiortc import MediaStreamTrack

from cabin_agent.config import AgentConfig, MediaSection
from devices.errors import DeviceError
from devices.media.capture import AlsaStethoscopeTrack, V4l2OtoscopeTrack
from devices.media.fanout import FanOut, SharedTrack
from devices.media.quality import VideoQuality
from devices.media.tracks import OtoscopeTrack, RoomCameraTrack, StethoscopeTrack

logger = logging.getLogger(__name__)


class SourceKind(enum.StrEnum):
    """A physical source of the trolley (the device kinds of the configuration)."""

    CAMERA = "camera"
    OTOSCOPE = "otoscope"
    STETHOSCOPE = "stethoscope"


_LABELS = {
    SourceKind.CAMERA: "caméra de la salle",
    SourceKind.OTOSCOPE: "otoscope",
    SourceKind.STETHOSCOPE: "stéthoscope",
}

#: Opens one source (raises DeviceError or MediaUnavailable when it cannot).
SourceFactory = Callable[[SourceKind], MediaStreamTrack]


class MediaUnavailable(Exception):
    """The trolley lacks a source the consultation needs; the message says which, in French."""


def capture_sources(config: AgentConfig) -> SourceFactory:
    """Return the factory of the configured camera, otoscope (V4L2) and stethoscope (ALSA)."""
    media = config.media

    def address(kind: SourceKind) -> str:
        for device in config.devices:
            if device.kind == kind and device.address:
                return device.address
        raise MediaUnavailable(f"Aucun {_LABELS[kind]} n'est configuré sur cette cabine.")

    def open_source(kind: SourceKind) -> MediaStreamTrack:
        if kind == SourceKind.STETHOSCOPE:
            return AlsaStethoscopeTrack(address(kind))
        return V4l2OtoscopeTrack(
            address(kind),
            width=media.video_width,
            height=media.video_height,
            fps=round(media.video_fps),
        )

    return open_source


def synthetic_sources(media: MediaSection) -> SourceFactory:
    """Return the factory of the simulated trolley, its videos at the configured size and rate."""

    def open_source(kind: SourceKind) -> MediaStreamTrack:
        full = VideoQuality.fixed(media.video_width, media.video_height, media.video_fps)
        if kind == SourceKind.CAMERA:
            return RoomCameraTrack(quality=full)
        if kind == SourceKind.OTOSCOPE:
            return OtoscopeTrack(quality=full)
        return StethoscopeTrack()

    return open_source


class TrolleySources:
    """The trolley's sources, each opened once while it has a consumer."""

    def __init__(self, open_source: SourceFactory) -> None:
        self._open_source = open_source
        self._fanouts: dict[SourceKind, FanOut] = {}

    @property
    def open(self) -> frozenset[SourceKind]:
        """The sources open now."""
        return frozenset(kind for kind, fanout in self._fanouts.items() if not fanout.ended)

    def subscribe(self, kind: SourceKind) -> SharedTrack:
        """Return a new consumer of `kind`, opening the source if nothing reads it yet."""
        fanout = self._fanouts.get(kind)
        if fanout is None or fanout.ended:
            fanout = FanOut(self._open_source(kind), on_ended=self._ended)
            self._fanouts[kind] = fanout
            logger.info("%s opened", kind)
        return fanout.subscribe()

    def trolley(self) -> tuple[SharedTrack, SharedTrack, SharedTrack]:
        """Return a consumer of the room camera, the otoscope and the stethoscope; on failure
        none is kept (a source opened for it alone is closed again)."""
        tracks: list[SharedTrack] = []
        try:
            for kind in (SourceKind.CAMERA, SourceKind.OTOSCOPE, SourceKind.STETHOSCOPE):
                tracks.append(self.subscribe(kind))
        except (DeviceError, MediaUnavailable):
            for track in tracks:
                track.stop()
            raise
        room, otoscope, stethoscope = tracks
        return room, otoscope, stethoscope

    def _ended(self, fanout: FanOut) -> None:
        for kind, current in list(self._fanouts.items()):
            if current is fanout:
                del self._fanouts[kind]
                logger.info("%s closed", kind)
