"""The importer's calls to the gateway, with retries that make a flaky network harmless.

Bulk upserts are idempotent (keyed by `(source, external_id)`), so a batch whose answer was
lost is simply sent again: connection errors, timeouts and 502/503/504/429 answers are
retried with exponential backoff (honouring Retry-After). Anything else is final.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from services.kernel.bulk import NDJSON_MEDIA_TYPE
from services.kernel.idempotency import IDEMPOTENCY_HEADER

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 60.0


class GatewayError(Exception):
    """The gateway refused the request; `status` and the problem's detail say why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GatewayUnavailable(GatewayError):
    """The gateway did not answer after every retry; the import can be resumed later."""


class BodyTooLarge(GatewayError):
    """413: the batch is too large for the gateway; send it in smaller pieces."""


class GatewayClient:
    def __init__(
        self,
        base_url: str,
        key: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 300.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        headers = {"User-Agent": "zhihui-import"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=10.0),
        )
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.retried = 0

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def bulk(
        self, path: str, body: bytes, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """`POST /api/v1/{path}/bulk` with NDJSON lines: the per-line results and summary.

        Retries carry the same `idempotency_key`: a batch written before its answer was lost
        answers as it did then, instead of as a re-run (`unchanged`)."""
        headers = {"Content-Type": NDJSON_MEDIA_TYPE}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        response = await self._send("POST", f"/api/v1/{path}/bulk", content=body, headers=headers)
        return dict(orjson.loads(response.content))

    async def match(self, affiliation: str) -> list[dict[str, Any]]:
        response = await self._send(
            "GET", "/api/v1/institutions/match", params={"affiliation": affiliation}
        )
        return list(orjson.loads(response.content).get("results", []))

    async def dataset(self, slug: str) -> dict[str, Any]:
        response = await self._send("GET", f"/api/v1/datasets/{slug}")
        return dict(orjson.loads(response.content))

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            wait: float | None = None
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code < 300:
                    return response
                if response.status_code not in RETRIED_STATUSES:
                    raise _refusal(response)
                reason = f"HTTP {response.status_code}"
                wait = _retry_after(response)
            if attempt == self.retries:
                raise GatewayUnavailable(
                    f"the gateway did not answer {method} {url} after {self.retries + 1} "
                    f"attempts (last: {reason})"
                )
            self.retried += 1
            delay = min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.8, 1.2)
            await self.sleep(max(delay, wait or 0.0))
        raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(float(value), MAX_RETRY_AFTER)
    except ValueError:
        return None


def _refusal(response: httpx.Response) -> GatewayError:
    detail = response.text[:500]
    try:
        problem = orjson.loads(response.content)
        detail = str(problem.get("detail") or problem.get("title") or detail)
    except (orjson.JSONDecodeError, AttributeError):
        pass
    status = response.status_code
    if status == 413:
        return BodyTooLarge(detail, status)
    if status in (401, 403):
        return GatewayError(f"the gateway refused the key ({status}): {detail}", status)
    return GatewayError(
        f"{response.request.method} {response.request.url.path}: {status} {detail}", status
    )
