"""The app factory every service uses: errors, middleware, sessions, health and change feed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Annotated
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi import FastAPI
from fastapi import Query
from fastapi import Request
from fastapi.responses import JSONResponse

from services.kernel.changefeed import MAX_FEED_PAGE
from services.kernel.changefeed import ChangeMixin
from services.kernel.changefeed import ChangePage
from services.kernel.changefeed import read_changes
from services.kernel.db import Database
from services.kernel.deadline import DeadlineMiddleware
from services.kernel.errors import ServiceUnavailable
from services.kernel.errors import install_error_handlers
from services.kernel.errors import problem_responses
from services.kernel.idempotency import IdempotencyMixin
from services.kernel.idempotency import IdempotentReplay
from services.kernel.idempotency import send_replay
from services.kernel.internal_auth import InternalCaller
from services.kernel.middleware import RequestContextMiddleware
from services.kernel.middleware import RequestSizeLimitMiddleware
from services.kernel.references import ReferenceCounter
from services.kernel.references import references_router
from services.kernel.session import Session
from services.kernel.settings import PlatformSettings
from services.kernel.settings import ServiceSettings

logger = logging.getLogger("zhihui.app")


class UnicodeJSONResponse(JSONResponse):
    """JSON with Chinese text as is (no \\u escapes)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def health_router() -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz", summary="Readiness: the database answers", responses=problem_responses(503)
    )
    async def readyz(request: Request) -> dict[str, Any]:
        database: Database = request.app.state.database
        try:
            await database.ping()
        except Exception as exc:
            logger.warning("readiness check failed: %s", type(exc).__name__)
            raise ServiceUnavailable(
                "database not reachable", headers={"Retry-After": "5"}
            ) from exc
        return {"status": "ready", "checks": {"database": "ok"}}

    return router


def changes_router(change_model: type[ChangeMixin]) -> APIRouter:
    """`GET /internal/changes?after=SEQ&limit=N`: the service's change feed, for the indexer."""
    router = APIRouter(prefix="/internal", tags=["internal"])

    @router.get(
        "/changes",
        response_model=ChangePage,
        summary="Change feed (committed changes after a sequence number, in order)",
        responses=problem_responses(401, 422),
    )
    async def list_changes(
        session: Session,
        _caller: InternalCaller,
        after: Annotated[int, Query(ge=0, description="Last seq already processed.")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_FEED_PAGE)] = 500,
    ) -> ChangePage:
        return await read_changes(session, change_model, after=after, limit=limit)

    return router


def create_service_app(
    *,
    title: str,
    description: str,
    settings: ServiceSettings,
    platform: PlatformSettings,
    routers: Sequence[APIRouter],
    change_model: type[ChangeMixin],
    idempotency_model: type[IdempotencyMixin],
    references: Mapping[str, ReferenceCounter] | None = None,
    database: Database | None = None,
    on_startup: Callable[[FastAPI], Any] | None = None,
) -> FastAPI:
    """A domain service: internal-token API, problem+json errors, health and change feed,
    deadlines from the caller and `Idempotency-Key` on its POST routes."""
    owns_database = database is None
    db = database or Database(
        settings.resolved_database_url(platform),
        schema=settings.resolved_schema(),
        pool_size=settings.database_pool_size,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup(app)
        yield
        if owns_database:
            await db.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        default_response_class=UnicodeJSONResponse,
        lifespan=lifespan,
    )
    app.state.database = db
    app.state.settings = settings
    app.state.internal_token = platform.internal_token.get_secret_value()
    app.state.idempotency_model = idempotency_model
    install_error_handlers(app)
    app.add_exception_handler(IdempotentReplay, send_replay)
    app.add_middleware(DeadlineMiddleware)
    app.add_middleware(
        RequestSizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        path_limits={"/bulk": 16 * settings.max_body_bytes},
    )
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health_router())
    app.include_router(changes_router(change_model))
    if references:
        app.include_router(references_router(settings.service_name, references))
    for router in routers:
        app.include_router(router)
    return app
