"""The gateway app (`uvicorn --factory services.gateway.main:create_app`)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from collections.abc import Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi import Request
from fastapi import Response
from fastapi.middleware.cors import CORSMiddleware

from services.gateway.auth import CallerMiddleware
from services.gateway.config import GatewaySettings
from services.gateway.coverage import check_libraries
from services.gateway.endpoints import admin
from services.gateway.endpoints import datasets
from services.gateway.endpoints import search as search_endpoints
from services.gateway.endpoints.ops import ResponseCounter
from services.gateway.endpoints.ops import in_process_indexer
from services.gateway.endpoints.ops import ops_router
from services.gateway.endpoints.records import library_router
from services.gateway.indexer.runner import IndexSink
from services.gateway.libraries import LIBRARIES
from services.gateway.proxy import Proxy
from services.gateway.ratelimit import RateLimiter
from services.gateway.search.backends.base import IndexUnavailable
from services.gateway.search.components import SearchComponents
from services.gateway.search.components import create_backend
from services.gateway.search.components import create_search
from services.kernel.app import UnicodeJSONResponse
from services.kernel.db import Database
from services.kernel.errors import ServiceUnavailable
from services.kernel.errors import install_error_handlers
from services.kernel.errors import problem_response
from services.kernel.http import ServiceClient
from services.kernel.idempotency import IDEMPOTENCY_HEADER
from services.kernel.idempotency import REPLAYED_HEADER
from services.kernel.middleware import RequestContextMiddleware
from services.kernel.middleware import RequestSizeLimitMiddleware
from services.kernel.settings import PlatformSettings
from services.registry import service_clients

logger = logging.getLogger("zhihui.gateway")

DESCRIPTION = """
The public API of the 智汇中国 think-tank knowledge platform: institutions (机构库), experts
(专家库), outcomes (成果库) and special databases (特色数据库).

* **Auth**: `Authorization: Bearer <api key>`; no header means anonymous (public records
  only). A bad, expired or revoked key is a 401, never a silent downgrade.
* **Errors**: `application/problem+json` with `detail` saying how to fix the request and
  `errors[].loc` naming the field.
* **Writes**: `PATCH`/`DELETE` need `If-Match` with the ETag of your last read (stale → 412).
* **Limits**: `X-RateLimit-Limit` / `-Remaining` on every response; 429 with `Retry-After`.
* Every response carries `X-Request-ID`; quote it when asking for help.
"""


async def _index_unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("search index unavailable: %s", type(exc).__name__)
    return problem_response(
        status=503,
        slug=ServiceUnavailable.slug,
        title=ServiceUnavailable.title,
        detail="The search index is not answering; retry in a few seconds.",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


def create_app(
    settings: GatewaySettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
    clients: Mapping[str, ServiceClient] | None = None,
    indexer_sink: IndexSink | None = None,
    search: SearchComponents | None = None,
) -> FastAPI:
    """The app; with `run_indexer` it also pulls the change feeds into the search index."""
    check_libraries()
    settings = settings or GatewaySettings()
    platform = platform or PlatformSettings()
    owns_database = database is None
    db = database or Database(
        settings.resolved_database_url(platform),
        schema=settings.resolved_schema(),
        pool_size=settings.database_pool_size,
    )
    proxy = Proxy(clients or service_clients(platform, settings.service_timeout_seconds))
    owns_search = search is None
    components = search or create_search(create_backend(platform))
    indexer = in_process_indexer(settings, db, proxy.clients, indexer_sink or components.sink)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Before the gateway reports ready, so no partner's first search waits for jieba.
        await asyncio.to_thread(components.analyzer.warm_up)
        try:
            await components.ensure_ready()
        except IndexUnavailable:
            logger.warning("search index not reachable at start; searches answer 503 until it is")
        if indexer is not None:
            await indexer.start()
        yield
        if indexer is not None:
            await indexer.stop()
        await proxy.aclose()
        if owns_search:
            await components.close()
        if owns_database:
            await db.dispose()

    app = FastAPI(
        title="智汇中国 API",
        description=DESCRIPTION,
        version="1.0.0",
        default_response_class=UnicodeJSONResponse,
        lifespan=lifespan,
    )
    app.state.database = db
    app.state.settings = settings
    app.state.proxy = proxy
    app.state.indexer = indexer
    app.state.search_components = components
    app.state.search = components.service
    app.state.catalogue = components.catalogue
    app.state.response_counts = Counter()
    install_error_handlers(app)
    app.add_exception_handler(IndexUnavailable, _index_unavailable)
    # Added innermost first: request context wraps everything, CORS answers preflights
    # before auth, the body limit applies before any parsing.
    app.add_middleware(CallerMiddleware, database=db, settings=settings, limiter=RateLimiter())
    app.add_middleware(
        RequestSizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        path_limits={"/bulk": 16 * settings.max_body_bytes},
        prefix_limits={
            f"/api/v1/{lib.path}": lib.max_body_bytes for lib in LIBRARIES if "{" not in lib.path
        },
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "X-Request-ID",
            IDEMPOTENCY_HEADER,
        ],
        expose_headers=[
            "ETag",
            "Location",
            "Retry-After",
            "X-Request-ID",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "Zhihui-Upsert",
            REPLAYED_HEADER,
        ],
        max_age=600,
    )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(ResponseCounter, counts=app.state.response_counts)
    app.include_router(ops_router())
    app.include_router(admin.router)
    app.include_router(datasets.router)
    app.include_router(search_endpoints.router)  # before records: /institutions/match
    for library in LIBRARIES:
        app.include_router(library_router(library))
    return app
