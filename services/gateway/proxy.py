"""Forwarding record reads and writes to the owning service, and shaping what comes back.

The gateway passes the caller's identity in internal headers; services apply their own rules
too, but the gateway re-checks visibility and restricted fields on every record it returns,
so a service bug cannot leak a record to a lower role.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from fastapi import Request
from fastapi import Response

from services.kernel.errors import PROBLEM_MEDIA_TYPE
from services.kernel.errors import NotFound
from services.kernel.history import HistoryQuery
from services.kernel.http import ServiceClient
from services.kernel.idempotency import IDEMPOTENCY_HEADER
from services.kernel.internal_auth import Actor

PUBLIC_PREFIX = "/api/v1"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Upstream headers a caller may see; everything else (server, internal hints) stays inside.
_PASSED_HEADERS = (
    "etag",
    "location",
    "zhihui-upsert",
    "zhihui-migrated",
    "retry-after",
    "content-location",
    "idempotent-replayed",
)

RecordShaper = Callable[[Actor, dict[str, Any]], dict[str, Any] | None]


class Proxy:
    """One pooled client per service; the gateway's way to reach the domain services."""

    def __init__(self, clients: Mapping[str, ServiceClient]) -> None:
        self.clients = dict(clients)

    def client(self, service: str) -> ServiceClient:
        return self.clients[service]

    async def send(
        self,
        service: str,
        method: str,
        path: str,
        actor: Actor,
        *,
        body: bytes | None = None,
        if_match: str | None = None,
        idempotency_key: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if if_match is not None:
            headers["If-Match"] = if_match
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        return await self.client(service).request(
            method, path, actor=actor, content=body, headers=headers, params=params
        )

    async def forward(
        self,
        service: str,
        request: Request,
        actor: Actor,
        *,
        if_match: str | None = None,
        idempotency_key: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """The caller's request, as is, to the owning service at its `service_path`."""
        body = await request.body() if request.method in _BODY_METHODS else None
        return await self.send(
            service,
            request.method,
            service_path(request),
            actor,
            body=body,
            if_match=if_match,
            idempotency_key=idempotency_key,
            params=params,
        )

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


def service_path(request: Request) -> str:
    """Public `/api/v1/X` is the owning service's `/X`: one mapping for every library.

    Segments are forwarded percent-encoded: an ID holding `?`, `#`, control characters or
    only dots stays one segment on the service, never a query string or a `..` step.
    """
    # The decoded path as the server read it: `request.url` re-parses it, and URL parsing
    # drops tabs and newlines, so `x%09y` would reach the service as `xy`.
    path: str = request.scope["path"]
    segments = path.removeprefix(PUBLIC_PREFIX).split("/")
    return "/".join(encoded_segment(segment) for segment in segments)


async def forward_history(
    proxy: Proxy,
    service: str,
    request: Request,
    actor: Actor,
    query: HistoryQuery,
) -> Response:
    """A history page from the owning service, as it answers (no record to shape)."""
    upstream = await proxy.forward(service, request, actor, params=query.params)
    return relay(upstream, request.url.path)


def encoded_segment(segment: str) -> str:
    """One path segment for a service URL: percent-encoded, so an ID holding `/`, `?`, `#`
    or only dots stays one segment (never a query string or a `..` step)."""
    if segment in (".", ".."):
        return segment.replace(".", "%2E")  # httpx would resolve a literal dot segment
    return quote(segment, safe="")


def public_path(service_path: str) -> str:
    return f"{PUBLIC_PREFIX}{service_path}"


def _passed_headers(upstream: httpx.Response) -> dict[str, str]:
    headers = {}
    for name in _PASSED_HEADERS:
        value = upstream.headers.get(name)
        if value is not None:
            headers[name] = (
                public_path(value) if name in ("location", "content-location") else value
            )
    return headers


def relay(upstream: httpx.Response, public_request_path: str) -> Response:
    """The service's answer as the public answer: errors keep their problem+json shape."""
    headers = _passed_headers(upstream)
    content_type = upstream.headers.get("content-type", "")
    if content_type.startswith(PROBLEM_MEDIA_TYPE):
        problem = orjson.loads(upstream.content)
        problem["instance"] = public_request_path
        return Response(
            orjson.dumps(problem), upstream.status_code, headers, media_type=PROBLEM_MEDIA_TYPE
        )
    if upstream.status_code == 204 or not upstream.content:
        return Response(status_code=upstream.status_code, headers=headers)
    return Response(upstream.content, upstream.status_code, headers, media_type="application/json")


def relay_record(
    upstream: httpx.Response, public_request_path: str, actor: Actor, shape: RecordShaper
) -> Response:
    """Like `relay`, but a record in the body is re-checked for the caller (404 if invisible)."""
    if upstream.status_code >= 300 or not upstream.content:
        return relay(upstream, public_request_path)
    record = shape(actor, orjson.loads(upstream.content))
    if record is None:
        raise NotFound(f"No record at {public_request_path[:160]}.")
    return Response(
        orjson.dumps(record),
        upstream.status_code,
        _passed_headers(upstream),
        media_type="application/json",
    )
