"""`zhihui indexer`: the change-feed indexer as its own process, with /healthz, /readyz, /metrics.

It writes into the configured search index (Elasticsearch when ZHIHUI_ELASTICSEARCH_URL is
set, else the embedded index under ZHIHUI_DATA_DIR), exactly as the gateway's in-process
indexer does; leases keep one active indexer per feed whichever process runs it.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi import Response
from fastapi.responses import PlainTextResponse

from services.cli.serving import SERVER_OPTIONS
from services.gateway.endpoints.ops import PROMETHEUS_CONTENT_TYPE
from services.gateway.endpoints.ops import metrics_text
from services.gateway.indexer.runner import Indexer
from services.gateway.indexer.runner import IndexerSettings
from services.gateway.search.components import create_backend
from services.gateway.search.components import create_search
from services.kernel.app import UnicodeJSONResponse
from services.kernel.db import Database
from services.kernel.errors import PROBLEM_MEDIA_TYPE
from services.kernel.errors import problem_body
from services.kernel.settings import PlatformSettings
from services.registry import GATEWAY
from services.registry import SERVICES
from services.registry import service_clients

HELP = "run the change-feed indexer as its own process (into the configured search index)"
DESCRIPTION = """\
Pull every service's change feed into the search index, with durable cursors and leases in
the gateway database (only one indexer per feed is active, however many run), and serve
/healthz, /readyz and /metrics on ZHIHUI_INDEXER_HOST:ZHIHUI_INDEXER_PORT (default
127.0.0.1:8010). Tune with ZHIHUI_INDEXER_POLL_INTERVAL, _BATCH_SIZE, _LEASE_TTL, _FEEDS.
"""


def create_indexer_app(
    indexer: Indexer, *, on_shutdown: Callable[[], Awaitable[None]] | None = None
) -> FastAPI:
    """A tiny ASGI app that runs `indexer` for its lifetime and reports on it.

    `on_shutdown` closes what the caller opened for it (clients, database), after the stop.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await indexer.start()
        try:
            yield
        finally:
            await indexer.stop()
            if on_shutdown is not None:
                await on_shutdown()

    app = FastAPI(
        title="智汇中国 indexer",
        default_response_class=UnicodeJSONResponse,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.indexer = indexer

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        """Ready when the database answers and every feed was polled (or is pulled elsewhere)."""
        checks: dict[str, str] = {}
        try:
            await indexer.database.ping()
            checks["database"] = "ok"
        except Exception:
            checks["database"] = "unavailable"
        feeds = indexer.snapshot()
        waiting = indexer.waiting_feeds()
        checks["feeds"] = "ok" if not waiting else "waiting for " + ", ".join(waiting)
        if checks["database"] == "ok" and not waiting:
            return UnicodeJSONResponse({"status": "ready", "checks": checks, "feeds": feeds})
        body: dict[str, Any] = problem_body(
            status=503,
            slug="service-unavailable",
            title="Service unavailable",
            detail="indexer not ready: " + "; ".join(f"{k}: {v}" for k, v in checks.items()),
            instance="/readyz",
        )
        body.update(checks=checks, feeds=feeds)
        return Response(
            orjson.dumps(body),
            status_code=503,
            media_type=PROBLEM_MEDIA_TYPE,
            headers={"Retry-After": "5"},
        )

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics_text(indexer, None), media_type=PROMETHEUS_CONTENT_TYPE)

    return app


def cmd_indexer(args: argparse.Namespace) -> int:
    """Run the indexer into the configured search index until Ctrl-C."""
    import uvicorn

    from services.kernel.logging import configure_logging

    platform = PlatformSettings()
    settings = IndexerSettings()
    if args.feed:
        settings.feeds = list(args.feed)
    configure_logging("indexer", level=platform.log_level, json_lines=platform.log_json)
    gateway = GATEWAY.settings()
    database = Database(
        gateway.resolved_database_url(platform), schema=gateway.resolved_schema(), pool_size=4
    )
    # The indexer's backoff is the only retry of a feed read.
    clients = service_clients(platform, settings.service_timeout_seconds, read_retries=0)
    search = create_search(create_backend(platform))
    indexer = Indexer(database, clients, search.sink, settings)

    async def close() -> None:
        for client in clients.values():
            await client.aclose()
        await database.dispose()
        await search.close()

    uvicorn.run(
        create_indexer_app(indexer, on_shutdown=close),
        host=args.host or settings.host,
        port=args.port or settings.port,
        **SERVER_OPTIONS,
    )
    return 0


def add_indexer_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "indexer",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="address for /healthz, /readyz, /metrics")
    parser.add_argument("--port", type=int, help="port for /healthz, /readyz, /metrics")
    parser.add_argument(
        "--feed",
        action="append",
        choices=[s.name for s in SERVICES],
        help="pull only this feed (repeatable; default: all)",
    )
    parser.set_defaults(func=cmd_indexer)
