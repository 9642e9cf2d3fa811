"""The outcomes service app (`uvicorn --factory services.outcomes.main:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI

from services.kernel.component import ServiceSpec
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.library_app import create_library_app
from services.kernel.settings import PlatformSettings
from services.outcomes.config import OutcomesSettings
from services.outcomes.endpoints import ROUTES, router
from services.outcomes.library import LIBRARY
from services.outcomes.models import Base, OutcomeChange, OutcomeIdempotency
from services.outcomes.service import Peers, count_institution_references


def create_app(
    settings: OutcomesSettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
    *,
    experts: ServiceClient | None = None,
    institutions: ServiceClient | None = None,
) -> FastAPI:
    """The app; `experts` and `institutions` default to clients built from the settings."""
    given = {"experts": experts, "institutions": institutions}
    app, peers = create_library_app(
        LIBRARY,
        description="Owns outcome records (reports, policy briefs, 内参, papers, books); "
        "internal API behind the gateway.",
        settings=settings or OutcomesSettings(),
        platform=platform or PlatformSettings(),
        database=database,
        routers=[router],
        change_model=OutcomeChange,
        idempotency_model=OutcomeIdempotency,
        references={"institutions": count_institution_references},
        clients={name: client for name, client in given.items() if client is not None},
    )
    app.state.peers = Peers(experts=peers["experts"], institutions=peers["institutions"])
    return app


# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = ServiceSpec.of_library(
    LIBRARY, settings=OutcomesSettings, metadata=Base.metadata, create_app=create_app, routes=ROUTES
)
