"""The outcomes service app (`uvicorn --factory services.outcomes.main:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI

from services.kernel.app import create_service_app
from services.kernel.component import ServiceSpec
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.peers import close_on_shutdown
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
    settings = settings or OutcomesSettings()
    platform = platform or PlatformSettings()
    token = platform.internal_token.get_secret_value()
    owned: list[ServiceClient] = []
    if experts is None:
        experts = ServiceClient("experts", settings.peer_url("experts"), token)
        owned.append(experts)
    if institutions is None:
        institutions = ServiceClient("institutions", settings.peer_url("institutions"), token)
        owned.append(institutions)
    app = create_service_app(
        title="智汇中国 · outcomes service (成果库)",
        description="Owns outcome records (reports, policy briefs, 内参, papers, books); "
        "internal API behind the gateway.",
        settings=settings,
        platform=platform,
        routers=[router],
        change_model=OutcomeChange,
        idempotency_model=OutcomeIdempotency,
        references={"institutions": count_institution_references},
        database=database,
    )
    app.state.peers = Peers(experts=experts, institutions=institutions)
    # Clients passed in belong to the caller; only the ones made here are closed here.
    close_on_shutdown(app, owned)
    return app


# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = ServiceSpec.of_library(
    LIBRARY, settings=OutcomesSettings, metadata=Base.metadata, create_app=create_app, routes=ROUTES
)
