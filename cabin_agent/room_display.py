"""The room's screen and speaker: the doctor's camera and microphone, as received by the
consultation's media session, sent on to the nurse's console in the room (a second peer
connection; aiortc re-encodes for this one viewer)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from cabin_agent.media import IceServerConfig, MediaSession, _ice_server

NO_DOCTOR = "Le médecin n'a pas encore rejoint la téléconsultation."


class RoomDisplayError(Exception):
    """The room's screen cannot show the doctor yet; the message says why (French)."""


class RoomDisplay:
    """One peer connection to the room's console, fed by the doctor's tracks."""

    def __init__(self, source: MediaSession, ice_servers: Sequence[IceServerConfig] = ()) -> None:
        self._source = source
        self._pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[_ice_server(s) for s in ice_servers])
        )

    async def answer(self, offer_sdp: str) -> str:
        """Answer the room console's offer (it receives a video and an audio)."""
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        attached = 0
        for transceiver in self._pc.getTransceivers():
            track = self._source.doctor_track(transceiver.kind)
            if track is not None and transceiver.sender.track is None:
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly"
                attached += 1
        if attached == 0:
            raise RoomDisplayError(NO_DOCTOR)
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        return str(self._pc.localDescription.sdp)

    async def close(self) -> None:
        for sender in self._pc.getSenders():
            if sender.track is not None:
                sender.track.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pc.close()
