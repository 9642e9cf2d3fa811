"""The gateway app (`uvicorn --factory services.gateway.main:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

from services.gateway.auth import CallerMiddleware
from services.gateway.config import GatewaySettings
from services.gateway.endpoints import admin, datasets
from services.gateway.endpoints.records import library_router
from services.gateway.libraries import LIBRARIES
from services.gateway.proxy import Proxy
from services.gateway.ratelimit import RateLimiter
from services.kernel.app import UnicodeJSONResponse
from services.kernel.db import Database
from services.kernel.errors import ServiceUnavailable, install_error_handlers, problem_responses
from services.kernel.http import ServiceClient
from services.kernel.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from services.kernel.settings import PlatformSettings
from services.registry import SERVICES

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


def default_clients(platform: PlatformSettings, timeout: float) -> dict[str, ServiceClient]:
    token = platform.internal_token.get_secret_value()
    return {
        spec.name: ServiceClient(
            spec.name, spec.settings().base_url, token, timeout=httpx.Timeout(timeout, connect=2.0)
        )
        for spec in SERVICES
    }


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
        return {"status": "ready", "checks": checks}

    return router


def create_app(
    settings: GatewaySettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
    clients: Mapping[str, ServiceClient] | None = None,
) -> FastAPI:
    settings = settings or GatewaySettings()
    platform = platform or PlatformSettings()
    owns_database = database is None
    db = database or Database(
        settings.resolved_database_url(platform),
        schema=settings.resolved_schema(),
        pool_size=settings.database_pool_size,
    )
    proxy = Proxy(clients or default_clients(platform, settings.service_timeout_seconds))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await proxy.aclose()
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
    install_error_handlers(app)
    # Added innermost first: request context wraps everything, CORS answers preflights
    # before auth, the body limit applies before any parsing.
    app.add_middleware(CallerMiddleware, database=db, settings=settings, limiter=RateLimiter())
    app.add_middleware(
        BodySizeLimitMiddleware,
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
        allow_headers=["Authorization", "Content-Type", "If-Match", "X-Request-ID"],
        expose_headers=[
            "ETag",
            "Location",
            "Retry-After",
            "X-Request-ID",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "Zhihui-Upsert",
        ],
        max_age=600,
    )
    app.add_middleware(RequestContextMiddleware)
    app.include_router(ops_router())
    app.include_router(admin.router)
    app.include_router(datasets.router)
    for library in LIBRARIES:
        app.include_router(library_router(library))
    return app
