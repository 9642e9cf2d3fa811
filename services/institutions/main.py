"""The institutions service app (`uvicorn --factory services.institutions.main:create_app`)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from services.institutions.config import InstitutionsSettings
from services.institutions.endpoints import ROUTES, router
from services.institutions.library import LIBRARY
from services.institutions.models import Base, InstitutionChange, InstitutionIdempotency
from services.institutions.references import Referrers
from services.kernel.component import ServiceSpec
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.library_app import create_library_app
from services.kernel.settings import PlatformSettings


def create_app(
    settings: InstitutionsSettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
    referrers: Mapping[str, ServiceClient] | None = None,
) -> FastAPI:
    """`referrers`: clients of the services whose records refer to institutions (every
    library declaring so: experts, outcomes, events, datasets); by default at their
    `peer_url`."""
    app, peers = create_library_app(
        LIBRARY,
        description="Owns institution records; internal API behind the gateway.",
        settings=settings or InstitutionsSettings(),
        platform=platform or PlatformSettings(),
        database=database,
        routers=[router],
        change_model=InstitutionChange,
        idempotency_model=InstitutionIdempotency,
        clients=referrers,
        make_missing=False,
    )
    app.state.referrers = Referrers(peers)
    return app


# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = ServiceSpec.of_library(
    LIBRARY,
    settings=InstitutionsSettings,
    metadata=Base.metadata,
    create_app=create_app,
    routes=ROUTES,
)
