"""The SFU of consultations with more than two parties: a Janus VideoRoom per consultation,
which the hub creates, opens to named parties and destroys. Janus forwards the packets each
publisher sends (Opus, VP8) to every subscriber without decoding them; the hub never touches
the media, only Janus's HTTP API (client API for the room, admin API for tokens).

Everything that admits a party is derived from the hub's secret key and the consultation id,
so any worker can open, extend or close a room without storing anything:
- the room id is the consultation id;
- the room's `secret` (needed to edit or destroy it) and `pin` (needed to join it);
- one token per party (``cabin``, ``doctor``, a guest's name…): Janus's core refuses a
  request without a token the hub added (`token_auth`), and the room's `allowed` list refuses
  a join with a token the hub did not admit.

`open_room` is called when a consultation gains its first third party (the invitation,
`hub.consultation.guests`), `close_room` when the consultation leaves its live state (``end``,
``abort``, ``redirect`` in `hub.consultation.service`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from collections.abc import Iterable
from http import HTTPStatus

import httpx

from hub.config import Settings
from hub.errors import HubError
from hub.wire.janus import (
    CORE_UNAUTHORIZED,
    NO_SUCH_FEED,
    NO_SUCH_ROOM,
    ROOM_EXISTS,
    VIDEOROOM,
    JanusError,
    JanusJson,
    SfuGrant,
    admin_request,
    check,
    created_id,
    plugin_data,
    request,
)

logger = logging.getLogger(__name__)
_UNREACHABLE: set[str] = set()  # Janus URLs this process found out of reach (said once)

#: The room's party the hub itself acts as (creates, admits, destroys).
HUB_PARTY = "hub"
#: Publishers a consultation's room takes: the cabin, the doctor, and guests.
MAX_PUBLISHERS = 6
NOT_CONFIGURED = (
    "La consultation à plusieurs n'est pas disponible : aucun serveur de visioconférence "
    "(Janus) n'est configuré sur ce hub. Les consultations à deux fonctionnent normalement."
)
UNREACHABLE = (
    "Le serveur de visioconférence (Janus) ne répond pas : la consultation à plusieurs est "
    "momentanément indisponible. Les consultations à deux fonctionnent normalement."
)


class SfuUnavailable(HubError):
    """No SFU is configured, or it does not answer; the message says so to the user."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


def unavailable_reason(settings: Settings) -> str | None:
    """Return why a consultation cannot take more than two parties here, or None if it can."""
    return None if settings.janus_url else NOT_CONFIGURED


class SfuRooms:
    """Janus VideoRooms of consultations, driven over Janus's HTTP API."""

    def __init__(self, settings: Settings, *, http: httpx.AsyncClient | None = None) -> None:
        reason = unavailable_reason(settings)
        if reason is not None:
            raise SfuUnavailable(reason)
        self._url = settings.janus_url.rstrip("/")
        self._admin_url = settings.janus_admin_url.rstrip("/")
        self._admin_secret = settings.janus_admin_secret.get_secret_value()
        self._key = settings.secret_key.get_secret_value().encode()
        self._http = http or httpx.AsyncClient(timeout=10)
        self._own_http = http is None

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # -- derived credentials -----------------------------------------------------------------

    def _derive(self, *parts: object) -> str:
        message = ":".join(str(p) for p in ("janus", *parts)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def token(self, consultation_id: int, party: str) -> str:
        """Return `party`'s token for the room of `consultation_id`."""
        return self._derive("token", consultation_id, party)

    def grant(self, consultation_id: int, party: str) -> SfuGrant:
        """Return what `party` joins the room with (valid once admitted)."""
        return SfuGrant(
            url=self._url,
            room=consultation_id,
            pin=self._derive("pin", consultation_id),
            token=self.token(consultation_id, party),
        )

    # -- rooms -----------------------------------------------------------------------------

    async def open_room(
        self, consultation_id: int, parties: Iterable[str] = ("cabin", "doctor")
    ) -> dict[str, SfuGrant]:
        """Create the consultation's room (again if it exists: its parties are kept) and admit
        `parties`; return their grants. Raises SfuUnavailable when Janus does not answer."""
        parties = list(parties)
        for party in parties:
            await self._add_token(self.token(consultation_id, party))
        try:
            await self._videoroom(
                consultation_id,
                {
                    "request": "create",
                    "room": consultation_id,
                    "permanent": False,
                    "description": f"Consultation {consultation_id}",
                    "is_private": True,
                    "secret": self._derive("secret", consultation_id),
                    "pin": self._derive("pin", consultation_id),
                    "allowed": [self.token(consultation_id, p) for p in parties],
                    "publishers": MAX_PUBLISHERS,
                    "audiocodec": "opus",
                    "videocodec": "vp8",
                    "notify_joining": True,
                },
            )
        except JanusError as error:
            if error.code != ROOM_EXISTS:
                raise
            await self._allowed(consultation_id, "add", parties)
        logger.info("SFU room of consultation %s opened", consultation_id)
        return {p: self.grant(consultation_id, p) for p in parties}

    async def admit(self, consultation_id: int, party: str) -> SfuGrant:
        """Let `party` into the open room of `consultation_id`; return its grant."""
        await self._allowed(consultation_id, "add", [party])  # refused when there is no room
        await self._add_token(self.token(consultation_id, party))
        return self.grant(consultation_id, party)

    async def dismiss(self, consultation_id: int, party: str) -> None:
        """Refuse `party` any new request to Janus (its token is removed from Janus and from
        the room); a party already in the room is not kicked here."""
        await self._allowed(consultation_id, "remove", [party])
        await self._remove_token(self.token(consultation_id, party))

    async def kick(self, consultation_id: int, feed: int) -> None:
        """Put the publisher `feed` out of the room (Janus hangs its media up); a feed not in
        the room is not an error."""
        try:
            await self._videoroom(
                consultation_id,
                {
                    "request": "kick",
                    "room": consultation_id,
                    "secret": self._derive("secret", consultation_id),
                    "id": feed,
                },
            )
        except JanusError as error:
            if error.code != NO_SUCH_FEED:
                raise

    async def exists(self, consultation_id: int) -> bool:
        """Return whether the room of `consultation_id` is open on Janus."""
        data = await self._videoroom(
            consultation_id, {"request": "exists", "room": consultation_id}
        )
        return bool(data.get("exists"))

    async def close_room(self, consultation_id: int, parties: Iterable[str] = ()) -> None:
        """Destroy the room, hang every participant up (their Janus sessions are destroyed
        through the admin API: Janus itself only tells publishers) and remove the tokens of
        the hub and of `parties`. A room already gone is not an error."""
        sessions = await self._sessions_in(consultation_id)
        try:
            await self._videoroom(
                consultation_id,
                {
                    "request": "destroy",
                    "room": consultation_id,
                    "secret": self._derive("secret", consultation_id),
                    "permanent": False,
                },
            )
        except JanusError as error:
            if error.code != NO_SUCH_ROOM:
                raise
        for session in sessions:
            reply = await self._admin("destroy_session", session_id=session)
            with contextlib.suppress(JanusError):  # gone meanwhile
                check(reply)
        for party in [*parties, HUB_PARTY]:
            await self._remove_token(self.token(consultation_id, party))
        logger.info("SFU room of consultation %s closed", consultation_id)

    async def _allowed(self, consultation_id: int, action: str, parties: list[str]) -> None:
        await self._videoroom(
            consultation_id,
            {
                "request": "allowed",
                "room": consultation_id,
                "secret": self._derive("secret", consultation_id),
                "action": action,
                "allowed": [self.token(consultation_id, p) for p in parties],
            },
        )

    async def _sessions_in(self, consultation_id: int) -> list[int]:
        """Return the Janus sessions with a handle in the room of `consultation_id` (admin API:
        one request per session and handle on this Janus)."""
        found = []
        for session in check(await self._admin("list_sessions")).get("sessions", []):
            with contextlib.suppress(JanusError):  # a session may end while listed
                handles = check(await self._admin("list_handles", session_id=session))
                for handle in handles.get("handles", []):
                    info = check(
                        await self._admin("handle_info", session_id=session, handle_id=handle)
                    )["info"]
                    if (info.get("plugin_specific") or {}).get("room") == consultation_id:
                        found.append(int(session))
                        break
        return found

    # -- Janus's HTTP API --------------------------------------------------------------------

    async def _post(self, url: str, message: JanusJson) -> JanusJson:
        try:
            response = await self._http.post(url, json=message)
            response.raise_for_status()
            reply: JanusJson = response.json()
        except (httpx.HTTPError, ValueError) as error:
            # Said when Janus goes out of reach, not at every call while it stays so.
            log = logger.debug if url in _UNREACHABLE else logger.warning
            log("Janus at %s unreachable: %s", url, error)
            _UNREACHABLE.add(url)
            raise SfuUnavailable(UNREACHABLE) from error
        if url in _UNREACHABLE:
            _UNREACHABLE.discard(url)
            logger.info("Janus at %s answers again", url)
        return reply

    async def _admin(self, kind: str, **fields: object) -> JanusJson:
        """Post an admin API request; return Janus's reply (not checked)."""
        message = admin_request(kind, admin_secret=self._admin_secret, **fields)
        return await self._post(self._admin_url, message)

    async def _add_token(self, token: str) -> None:
        check(await self._admin("add_token", token=token, plugins=[VIDEOROOM]))

    async def _remove_token(self, token: str) -> None:
        reply = await self._admin("remove_token", token=token)
        try:
            check(reply)
        except JanusError as error:
            logger.info("Janus token already gone: %s", error.reason)

    async def _videoroom(self, consultation_id: int, body: JanusJson) -> JanusJson:
        """Send one synchronous VideoRoom request in a session of its own; return the plugin's
        answer. (The session is destroyed at once: rooms outlive the sessions that made them,
        so the hub holds no session and needs no keepalive.)"""
        token = self.token(consultation_id, HUB_PARTY)
        await self._add_token(token)  # again after close_room removed it: adding is idempotent
        session = created_id(await self._post(self._url, request("create", token=token)))
        session_url = f"{self._url}/{session}"
        try:
            handle = created_id(
                await self._post(session_url, request("attach", token=token, plugin=VIDEOROOM))
            )
            reply = await self._post(
                f"{session_url}/{handle}", request("message", token=token, body=body)
            )
            return plugin_data(reply)
        finally:
            try:
                check(await self._post(session_url, request("destroy", token=token)))
            except JanusError as error:
                if error.code != CORE_UNAUTHORIZED:
                    logger.info("Janus session not destroyed: %s", error.reason)
