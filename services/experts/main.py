"""The experts service app (`uvicorn --factory services.experts.main:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI

from services.experts.config import ExpertsSettings
from services.experts.endpoints import ROUTES, router
from services.experts.library import LIBRARY
from services.experts.models import Base, ExpertChange, ExpertIdempotency
from services.experts.service import count_institution_references
from services.kernel.component import ServiceSpec
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.library_app import create_library_app
from services.kernel.settings import PlatformSettings


def create_app(
    settings: ExpertsSettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
    institutions: ServiceClient | None = None,
) -> FastAPI:
    app, peers = create_library_app(
        LIBRARY,
        description="Owns expert records; internal API behind the gateway. Contact details "
        "(email, phone) are returned to signed-in callers only and never published.",
        settings=settings or ExpertsSettings(),
        platform=platform or PlatformSettings(),
        database=database,
        routers=[router],
        change_model=ExpertChange,
        idempotency_model=ExpertIdempotency,
        references={"institutions": count_institution_references},
        clients={"institutions": institutions} if institutions else None,
    )
    app.state.institutions = peers["institutions"]
    return app


# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = ServiceSpec.of_library(
    LIBRARY, settings=ExpertsSettings, metadata=Base.metadata, create_app=create_app, routes=ROUTES
)
