"""The datasets service app (`uvicorn --factory services.datasets.main:create_app`)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from services.datasets.config import DatasetsSettings
from services.datasets.endpoints import router
from services.datasets.models import DatasetChange, DatasetIdempotency
from services.datasets.references import ReferenceChecker
from services.datasets.service import reference_counter
from services.kernel.app import create_service_app
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.peers import close_on_shutdown
from services.kernel.settings import PlatformSettings


def create_app(
    settings: DatasetsSettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
    clients: Mapping[str, ServiceClient] | None = None,
) -> FastAPI:
    """`clients` maps a library (institutions, experts, outcomes) to its service's client."""
    settings = settings or DatasetsSettings()
    platform = platform or PlatformSettings()
    owns_clients = clients is None
    if clients is None:
        token = platform.internal_token.get_secret_value()
        clients = {
            library: ServiceClient(library, url, token)
            for library, url in settings.library_urls().items()
        }
    references = ReferenceChecker(clients)
    app = create_service_app(
        title="智汇中国 · datasets service (特色数据库)",
        description="Owns special-database definitions and their records; internal API "
        "behind the gateway.",
        settings=settings,
        platform=platform,
        routers=[router],
        change_model=DatasetChange,
        idempotency_model=DatasetIdempotency,
        references={"institutions": reference_counter("institutions")},
        database=database,
    )
    app.state.references = references
    if owns_clients:
        # Clients passed in belong to the caller, who closes them.
        close_on_shutdown(app, list(clients.values()))
    return app
