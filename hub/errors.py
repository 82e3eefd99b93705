"""The hub's error hierarchy, mapped to HTTP in one place (``install_handlers``).

Messages are meant for the person in front of the screen: French, and saying what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, *, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Every problem of a form at once, by the name of the field it is about (a form
        # shows each next to its field; anything else shows the message).
        self.fields: dict[str, str] = dict(fields or {})


class Invalid(HubError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class NotFound(HubError):
    status = HTTPStatus.NOT_FOUND


class Conflict(HubError):
    status = HTTPStatus.CONFLICT


class Unauthenticated(HubError):
    status = HTTPStatus.UNAUTHORIZED


class Forbidden(HubError):
    status = HTTPStatus.FORBIDDEN


class TooManyAttempts(HubError):
    status = HTTPStatus.TOO_MANY_REQUESTS
