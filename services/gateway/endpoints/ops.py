"""Operations routes of the gateway: liveness, readiness and Prometheus metrics.

Outside `/api/`, so they need no key; expose them only where operators can reach them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi import Request
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp
from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from services.gateway.config import GatewaySettings
from services.gateway.indexer.runner import Indexer
from services.gateway.indexer.runner import IndexerSettings
from services.gateway.indexer.runner import IndexSink
from services.gateway.indexer.runner import render_prometheus
from services.gateway.proxy import Proxy
from services.kernel.db import Database
from services.kernel.errors import ServiceUnavailable
from services.kernel.errors import problem_responses
from services.kernel.http import ServiceClient

logger = logging.getLogger("zhihui.gateway.ops")

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class ResponseCounter:
    """ASGI middleware counting HTTP responses by status class (an unhandled error is 5xx)."""

    def __init__(self, app: ASGIApp, *, counts: Counter[str]) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.counts[f"{status[0] // 100}xx" if status else "5xx"] += 1


def request_metrics(counts: Mapping[str, int]) -> list[str]:
    name = "zhihui_http_responses_total"
    lines = [
        f"# HELP {name} HTTP responses sent by this process, by status class.",
        f"# TYPE {name} counter",
    ]
    lines += [f'{name}{{class="{c}"}} {counts.get(c, 0)}' for c in STATUS_CLASSES]
    return lines


def metrics_text(indexer: Indexer | None, counts: Mapping[str, int] | None) -> str:
    lines = request_metrics(counts) if counts is not None else []
    if indexer is not None:
        lines += render_prometheus(indexer.statuses().values())
    return "\n".join(lines) + "\n"


def in_process_indexer(
    settings: GatewaySettings,
    database: Database,
    clients: Mapping[str, ServiceClient],
    sink: IndexSink,
) -> Indexer | None:
    """The indexer the gateway runs itself when `ZHIHUI_GATEWAY_RUN_INDEXER=true`."""
    if not settings.run_indexer:
        return None
    return Indexer(database, clients, sink, IndexerSettings())


def ops_router() -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: own database, and each service's readiness",
        responses=problem_responses(503),
    )
    async def readyz(request: Request) -> dict[str, Any]:
        database: Database = request.app.state.database
        proxy: Proxy = request.app.state.proxy
        try:
            await database.ping()
        except Exception as exc:
            raise ServiceUnavailable(
                "gateway database not reachable", headers={"Retry-After": "5"}
            ) from exc
        checks: dict[str, str] = {"database": "ok"}
        for name, client in proxy.clients.items():
            try:
                response = await client.request("GET", "/readyz")
                checks[name] = "ok" if response.status_code == 200 else "unavailable"
            except ServiceUnavailable:
                checks[name] = "unavailable"
        # Ready means this gateway can serve; a down service degrades only its library.
        body: dict[str, Any] = {"status": "ready", "checks": checks}
        indexer: Indexer | None = getattr(request.app.state, "indexer", None)
        if indexer is not None:
            # Reported, not required: index lag degrades freshness, not the gateway.
            body["indexer"] = indexer.snapshot()
        return body

    @router.get(
        "/metrics",
        summary="Prometheus metrics: responses by status class; indexer lag per feed",
        response_class=PlainTextResponse,
    )
    async def metrics(request: Request) -> PlainTextResponse:
        text = metrics_text(
            getattr(request.app.state, "indexer", None),
            getattr(request.app.state, "response_counts", None),
        )
        return PlainTextResponse(text, media_type=PROMETHEUS_CONTENT_TYPE)

    return router
