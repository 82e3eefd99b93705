"""SMS: the gateway protocol, a generic HTTP/JSON gateway, and French mobile numbers."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Protocol

import httpx

from hub.notify.errors import DeliveryError

logger = logging.getLogger(__name__)

MAX_BODY_IN_ERROR = 200
_SEPARATORS = re.compile(r"[\s.\-/()]")
_MOBILE_NATIONAL = re.compile(r"0[67][0-9]{8}")


class SmsGateway(Protocol):
    """Anything that can send one SMS and return the provider's message id."""

    async def send(self, *, to: str, text: str) -> str: ...


class HttpSmsGateway:
    """An SMS provider behind a JSON webhook.

    ``POST url`` with ``Authorization: Bearer <token>`` and ``{"to", "text", "sender"}``;
    a 2xx answer with ``{"id": ...}`` means the provider took the message. Most French SMS
    providers can be fronted with this shape by a few lines of glue.
    """

    def __init__(
        self,
        url: str,
        token: str,
        sender: str,
        client_factory: Callable[[], httpx.AsyncClient] = httpx.AsyncClient,
        timeout: float = 15.0,
    ) -> None:
        self.url = url
        self._token = token
        self.sender = sender
        self._client_factory = client_factory
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HttpSmsGateway(url={self.url!r}, sender={self.sender!r})"

    async def send(self, *, to: str, text: str) -> str:
        """Post one SMS; return the provider's id or raise ``DeliveryError``."""
        payload = {"to": to, "text": text, "sender": self.sender}
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with self._client_factory() as client:
                response = await client.post(
                    self.url, json=payload, headers=headers, timeout=self.timeout
                )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"SMS gateway {self.url} unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        if not response.is_success:
            raise DeliveryError(
                f"SMS gateway answered {response.status_code}: {_summary(response.text)}"
            )
        try:
            answer = response.json()
        except ValueError as exc:
            raise DeliveryError(
                f"SMS gateway answered {response.status_code} without JSON: "
                f"{_summary(response.text)}"
            ) from exc
        provider_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(provider_id, str | int) or isinstance(provider_id, bool):
            raise DeliveryError(
                f"SMS gateway answered {response.status_code} without an id: "
                f"{_summary(response.text)}"
            )
        return str(provider_id)


def _summary(body: str) -> str:
    body = " ".join(body.split())
    if len(body) > MAX_BODY_IN_ERROR:
        return body[:MAX_BODY_IN_ERROR] + "…"
    return body or "(empty body)"


def normalise_french_mobile(phone: str) -> str:
    """A French mobile number (06/07) in E.164 form, ``+33612345678``.

    Accepts ``06 12 34 56 78``, ``06.12.34.56.78``, ``+33 6 12 34 56 78``,
    ``+33 (0)6 12 34 56 78`` and ``0033 6 12 34 56 78``. Overseas mobiles (+262, +590…)
    are not handled. Raises ``ValueError`` with a French message otherwise.
    """
    digits = _SEPARATORS.sub("", phone.replace("(0)", ""))
    if digits.startswith("+33"):
        national = "0" + digits[3:]
    elif digits.startswith("0033"):
        national = "0" + digits[4:]
    else:
        national = digits
    if not _MOBILE_NATIONAL.fullmatch(national):
        raise ValueError(f"Numéro de portable invalide : {phone.strip()}")
    return "+33" + national[1:]
