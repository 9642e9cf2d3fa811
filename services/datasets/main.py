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
from services.kernel.component import ServiceSpec
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.library_app import create_library_app
from services.kernel.settings import PlatformSettings


def create_app(
    settings: DatasetsSettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
    clients: Mapping[str, ServiceClient] | None = None,
) -> FastAPI:
    """`clients` maps a record library (institutions, experts, …) to its service's client;
    by default every record library at the URL the settings give."""
    app, peers = create_library_app(
        LIBRARY,
        description="Owns special-database definitions and their records; internal API "
        "behind the gateway.",
        settings=settings or DatasetsSettings(),
        platform=platform or PlatformSettings(),
        database=database,
        routers=[router],
        change_model=DatasetChange,
        idempotency_model=DatasetIdempotency,
        references={"institutions": reference_counter("institutions")},
        clients=clients,
        make_missing=False,
    )
    app.state.references = ReferenceChecker(peers)
    return app


# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = ServiceSpec.of_library(
    LIBRARY, settings=DatasetsSettings, metadata=Base.metadata, create_app=create_app
)
