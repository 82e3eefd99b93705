"""The notify package's own error."""

from __future__ import annotations


class DeliveryError(Exception):
    """A transport (SMTP server, SMS gateway) did not take a message.

    The message is technical (host, status code, server answer) and is kept in the outbox as
    ``last_error``; it is not shown as is to patients.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
