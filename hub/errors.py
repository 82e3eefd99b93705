"""The hub's error hierarchy, mapped to HTTP in one place (``install_handlers``).

Messages are meant for the person in front of the screen: French, and saying what to do.
"""

from __future__ import annotations

from http import HTTPStatus


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
