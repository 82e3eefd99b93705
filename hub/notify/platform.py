"""Reports to an outside FHIR platform (the SAS's): one HTTP request per outbox message.

``HttpFhirPlatform`` sends ``METHOD [base]/<path>`` with the stored JSON resource and a bearer
token; a 2xx answer means the platform took it. Anything else raises ``DeliveryError`` and the
outbox retries with its backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import httpx

from hub.notify.errors import DeliveryError

FHIR_JSON = "application/fhir+json"
MAX_BODY_IN_ERROR = 200
METHODS = frozenset({"POST", "PUT"})


class FhirPlatform(Protocol):
    """Anything that can send one FHIR request and return what the platform called it."""

    async def send(self, *, method: str, path: str, body: str) -> str: ...


class HttpFhirPlatform:
    """A FHIR server reached over HTTPS with a bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        client_factory: Callable[[], httpx.AsyncClient] = httpx.AsyncClient,
        timeout: float = 15.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._client_factory = client_factory
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HttpFhirPlatform(base_url={self.base_url!r})"

    async def send(self, *, method: str, path: str, body: str) -> str:
        """Send the resource; return the answer's Location (or its status) or raise
        ``DeliveryError``."""
        if method not in METHODS:
            raise DeliveryError(f"unsupported method for a platform report: {method}")
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            async with self._client_factory() as client:
                response = await client.request(
                    method, url, content=body.encode("utf-8"), headers=headers, timeout=self.timeout
                )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"platform {self.base_url} unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        if not response.is_success:
            text = " ".join(response.text.split())
            if len(text) > MAX_BODY_IN_ERROR:
                text = text[:MAX_BODY_IN_ERROR] + "…"
            raise DeliveryError(f"platform answered {response.status_code}: {text or '(empty)'}")
        return response.headers.get("Location", "") or str(response.status_code)
