"""The agent's media handler: one ``MediaSession`` per consultation, opened on the doctor's
offer (relayed by the hub), and one ``SfuPublisher`` per consultation's Janus room, all
reading the trolley's sources (`cabin_agent.media_sources`: each opened once and shared) — the
simulated ones with ``--simulate``, otherwise the configured camera, otoscope (V4L2) and
stethoscope (ALSA). Each sends at its own `VideoQuality`."""

from __future__ import annotations

import logging

from cabin_agent.config import AgentConfig
from cabin_agent.media import IceServerConfig, JsonValue, MediaNegotiationError, MediaSession
from cabin_agent.media_boundary import SESSION_CLOSED, Publication, SessionStatus
from cabin_agent.media_quality import quality_for
from cabin_agent.media_sfu import SfuError, SfuPublisher
from cabin_agent.media_sources import (
    MediaUnavailable,
    TrolleySources,
    capture_sources,
    synthetic_sources,
)
from cabin_agent.room_display import RoomDisplay, RoomDisplayError, RoomScreen
from devices.errors import DeviceError
from devices.media.adapt import AdaptedVideoTrack
from hub.wire import MediaAnswer, MediaOffer
from hub.wire.janus import SfuGrant

logger = logging.getLogger(__name__)


#: `SESSION_CLOSED` is said to the doctor's browser when its offer reaches a session the cabin
#: has already closed; the browser then opens a new peer connection (media.js) instead of
#: restarting ICE.
__all__ = ["SESSION_CLOSED", "AgentMedia", "MediaUnavailable"]


class AgentMedia:
    """Answers the hub's media offers and closes sessions when asked."""

    def __init__(
        self, config: AgentConfig, *, simulate: bool, sources: TrolleySources | None = None
    ) -> None:
        """`sources` opens the trolley's sources (by default the simulated ones with
        `simulate`, otherwise the configured devices)."""
        self._config = config
        #: Each source opened once, shared by the sessions and the SFU publications.
        self.sources = sources or TrolleySources(
            synthetic_sources(config.media) if simulate else capture_sources(config)
        )
        self.sessions: dict[str, MediaSession] = {}
        self.displays: dict[str, RoomDisplay] = {}
        #: The trolley published into consultations' Janus rooms, by consultation id.
        self.publishers: dict[int, SfuPublisher] = {}
        #: The doctor's camera and microphone, for every room display, from the latest session.
        self.screen = RoomScreen()

    def in_use(self) -> bool:
        """Whether anything is open (the media process exits once nothing is): count here
        whatever else keeps media running (a publication to the SFU, …)."""
        return bool(self.sessions or self.displays or self.publishers)

    def publications(self) -> dict[int, Publication]:
        """The Janus rooms the trolley is published into, for the agent's process."""
        return {
            consultation_id: Publication(
                connection_state=publisher.connection_state, feed=publisher.feed
            )
            for consultation_id, publisher in self.publishers.items()
        }

    def describe(self) -> dict[str, SessionStatus]:
        """Each open session's route, ICE restarts and codecs, for the agent's process."""
        return {
            session_id: SessionStatus(
                route=session.route,
                ice_restarts=session.ice_restarts,
                closed=session.closed,
                connection=id(session),
                codecs=session.negotiated_codecs(),
                labels=session.track_labels(),
            )
            for session_id, session in self.sessions.items()
        }

    def _new_session(
        self, session_id: str, servers: list[IceServerConfig], policy: str = "all"
    ) -> MediaSession:
        room, otoscope, stethoscope = self.sources.trolley()
        quality = quality_for(self._config.media)
        return MediaSession(
            room=AdaptedVideoTrack(room, quality),
            otoscope=AdaptedVideoTrack(otoscope, quality),
            stethoscope=stethoscope,
            ice_servers=servers,
            quality=quality,
            on_doctor_frame=self.screen.frame_callback(session_id),
            ice_transport_policy=policy,
        )

    async def publish_to_sfu(self, grant: SfuGrant) -> None:
        """Publish the trolley's tracks into the consultation's Janus room (`grant.room` is the
        consultation's id); once per open room. A refusal is logged: the one-to-one path goes
        on."""
        current = self.publishers.get(grant.room)
        if current is not None and not current.room_closed:
            return
        await self.stop_sfu(grant.room)
        quality = quality_for(self._config.media)
        try:
            room, otoscope, stethoscope = self.sources.trolley()
        except (DeviceError, MediaUnavailable) as exc:
            logger.warning("cannot publish into SFU room %s: %s", grant.room, exc)
            return
        publisher = SfuPublisher(
            grant,
            room=AdaptedVideoTrack(room, quality),
            otoscope=AdaptedVideoTrack(otoscope, quality),
            stethoscope=stethoscope,
            quality=quality,
        )
        self.publishers[grant.room] = publisher
        try:
            await publisher.publish()
        except (SfuError, TimeoutError) as exc:  # refused, or Janus never answered in time
            logger.warning("SFU room %s refused the cabin: %s", grant.room, exc)
            await self.stop_sfu(grant.room)

    async def stop_sfu(self, consultation_id: int) -> None:
        """Stop publishing into the consultation's Janus room (if the cabin does)."""
        publisher = self.publishers.get(consultation_id)
        if publisher is not None:
            await publisher.close()
            self.publishers.pop(consultation_id, None)

    async def offer(self, offer: MediaOffer) -> MediaAnswer:
        servers: list[IceServerConfig] = [
            {"urls": list(s.urls), "username": s.username, "credential": s.credential}
            for s in offer.ice_servers
        ]
        if offer.purpose == "room":
            return await self._room_offer(offer, servers)
        session = self.sessions.get(offer.session_id)
        if session is not None and session.closed:
            # The peer connection died under the browser (aiortc closes it once DTLS is gone):
            # an ICE restart cannot revive it. Forget it; the browser's next offer is a fresh one.
            logger.info(
                "media session %s was closed; asking for a new connection", offer.session_id
            )
            await self.close(offer.session_id)
            return MediaAnswer(session_id=offer.session_id, error=SESSION_CLOSED)
        try:
            if session is None:
                session = self._new_session(offer.session_id, servers, offer.ice_transport_policy)
                self.sessions[offer.session_id] = session
                self.screen.follow(offer.session_id)
            sdp = await session.answer(offer.sdp)
        except MediaUnavailable as exc:
            return MediaAnswer(session_id=offer.session_id, error=str(exc))
        except MediaNegotiationError as exc:
            logger.warning("media offer refused: %s", exc)
            return MediaAnswer(
                session_id=offer.session_id,
                error=(
                    "Le navigateur n'a pas demandé les flux de la cabine (caméra de la salle, "
                    "otoscope, stéthoscope) : rechargez la page."
                ),
            )
        except DeviceError as exc:
            logger.warning("media source unavailable: %s", exc)
            return MediaAnswer(
                session_id=offer.session_id,
                error="Une source audio ou vidéo de la cabine est indisponible.",
            )
        return MediaAnswer(session_id=offer.session_id, sdp=sdp)

    async def _room_offer(self, offer: MediaOffer, servers: list[IceServerConfig]) -> MediaAnswer:
        """The room's console asks for the doctor's camera and microphone: it is answered
        whether the doctor is connected or not, and shows the doctor whenever they are."""
        display = self.displays.get(offer.session_id)
        if display is None:
            display = RoomDisplay(self.screen, servers)
            self.displays[offer.session_id] = display
        try:
            sdp = await display.answer(offer.sdp)
        except RoomDisplayError as exc:
            await self.close(offer.session_id)
            return MediaAnswer(session_id=offer.session_id, error=str(exc))
        return MediaAnswer(session_id=offer.session_id, sdp=sdp)

    async def send_vitals(self, values: dict[str, JsonValue]) -> None:
        """Send live values on every open session's data channel."""
        for session in list(self.sessions.values()):
            await session.send_vitals(values)

    async def close(self, session_id: str) -> None:
        """Close a session (or room display), forgotten once closed: until then it counts as
        open, so the media process is not stopped under a peer connection still closing."""
        session = self.sessions.get(session_id)
        if session is not None:
            self.screen.forget(session_id)
            await session.close()
            self.sessions.pop(session_id, None)
        display = self.displays.get(session_id)
        if display is not None:
            await display.close()
            self.displays.pop(session_id, None)

    async def close_all(self) -> None:
        for session_id in [*self.sessions, *self.displays]:
            await self.close(session_id)
        for consultation_id in list(self.publishers):
            await self.stop_sfu(consultation_id)
