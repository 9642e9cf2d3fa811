"""The datasets service app (`uvicorn --factory services.datasets.main:create_app`)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from services.datasets.config import DatasetsSettings
from services.datasets.endpoints import router
from services.datasets.library import LIBRARY
from services.datasets.models import Base, DatasetChange, DatasetIdempotency
from services.datasets.references import ReferenceChecker
from services.datasets.service import reference_counter
from services.kernel.app import create_service_app
from services.kernel.component import ServiceSpec
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.library import record_libraries
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
            library.name: ServiceClient(library.name, settings.peer_url(library.name), token)
            for library in record_libraries()
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


# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = ServiceSpec.of_library(
    LIBRARY, settings=DatasetsSettings, metadata=Base.metadata, create_app=create_app
)
