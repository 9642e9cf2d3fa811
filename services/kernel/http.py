"""Calls between components (gateway → service, service → service) over httpx.

Pooled connections, explicit timeouts, retries only for idempotent reads, the internal token
and the caller's identity and request ID on every call. A peer that is down or slow becomes
a 503 problem with Retry-After, never a hang or a 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from services.kernel.context import current_request_id
from services.kernel.deadline import BUDGET_HEADER
from services.kernel.deadline import budget_ms
from services.kernel.errors import ServiceUnavailable
from services.kernel.internal_auth import ACTOR_KEY_HEADER
from services.kernel.internal_auth import ACTOR_ORG_HEADER
from services.kernel.internal_auth import ACTOR_ROLE_HEADER
from services.kernel.internal_auth import INTERNAL_TOKEN_HEADER
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Role

logger = logging.getLogger("zhihui.http")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
RETRY_AFTER_SECONDS = "5"


class ServiceClient:
    """A pooled client for one internal service."""

    def __init__(
        self,
        name: str,
        base_url: str,
        internal_token: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        read_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.internal_token = internal_token
        self.read_retries = read_retries
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    def headers_for(self, actor: Actor | None) -> dict[str, str]:
        actor = actor or Actor(role=Role.SERVICE)
        headers = {INTERNAL_TOKEN_HEADER: self.internal_token, ACTOR_ROLE_HEADER: actor.role.value}
        if actor.org:
            headers[ACTOR_ORG_HEADER] = actor.org
        if actor.key_id:
            headers[ACTOR_KEY_HEADER] = actor.key_id
        request_id = current_request_id()
        if request_id:
            headers["X-Request-ID"] = request_id
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        actor: Actor | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float | None = None,
    ) -> httpx.Response:
        """Send one request; transport failures and 5xx answers become a 503 problem.

        `timeout_seconds` overrides the client's for a call known to take long (a bulk write).
        """
        idempotent = method.upper() in IDEMPOTENT
        attempts = 1 + (self.read_retries if idempotent else 0)
        merged = {**self.headers_for(actor), **(headers or {})}
        wait: Any = (
            httpx.USE_CLIENT_DEFAULT if timeout_seconds is None else httpx.Timeout(timeout_seconds)
        )
        if not idempotent:
            # The service must commit or give up before this client stops waiting.
            waits = timeout_seconds if timeout_seconds is not None else self._client.timeout.read
            if waits is not None:
                merged[BUDGET_HEADER] = str(budget_ms(waits))
        for attempt in range(1, attempts + 1):
            try:
                response = await self._client.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    content=content,
                    headers=merged,
                    timeout=wait,
                )
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                logger.warning(
                    "%s %s %s failed (attempt %d/%d): %s",
                    self.name,
                    method,
                    path,
                    attempt,
                    attempts,
                    type(exc).__name__,
                )
                if attempt < attempts:
                    await asyncio.sleep(0.05 * attempt)
                    continue
                raise self.unavailable(method) from exc
            if response.status_code >= 500 and response.status_code != 503:
                if attempt < attempts:
                    continue
                logger.error(
                    "%s answered %s for %s %s", self.name, response.status_code, method, path
                )
                raise self.unavailable(method)
            return response
        raise self.unavailable()  # pragma: no cover - loop always returns or raises

    def unavailable(self, method: str = "GET") -> ServiceUnavailable:
        advice = (
            " (send a POST again with the same Idempotency-Key: it is written at most once)"
            if method.upper() == "POST"
            else ""
        )
        return ServiceUnavailable(
            f"The {self.name} service is not answering; retry in a few seconds{advice}.",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    async def aclose(self) -> None:
        await self._client.aclose()
