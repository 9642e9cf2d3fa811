"""The institutions service app (`uvicorn --factory services.institutions.main:create_app`)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from services.institutions.config import InstitutionsSettings
from services.institutions.endpoints import ROUTES, router
from services.institutions.library import LIBRARY
from services.institutions.models import Base, InstitutionChange, InstitutionIdempotency
from services.institutions.references import Referrers
from services.kernel.app import create_service_app
from services.kernel.component import ServiceSpec
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.library import referring_libraries
from services.kernel.peers import close_on_shutdown
from services.kernel.settings import PlatformSettings


def create_app(
    settings: InstitutionsSettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
    referrers: Mapping[str, ServiceClient] | None = None,
) -> FastAPI:
    """`referrers`: clients of the services whose records refer to institutions (every
    library declaring so: experts, outcomes, datasets); by default at their `peer_url`."""
    settings = settings or InstitutionsSettings()
    platform = platform or PlatformSettings()
    owns_clients = referrers is None
    token = platform.internal_token.get_secret_value()
    clients = (
        referrers
        if referrers is not None
        else {
            peer.name: ServiceClient(peer.name, settings.peer_url(peer.name), token)
            for peer in referring_libraries(LIBRARY.name)
        }
    )
    app = create_service_app(
        title="智汇中国 · institutions service (机构库)",
        description="Owns institution records; internal API behind the gateway.",
        settings=settings,
        platform=platform,
        routers=[router],
        change_model=InstitutionChange,
        idempotency_model=InstitutionIdempotency,
        database=database,
    )
    app.state.referrers = Referrers(clients)
    if owns_clients:
        # Clients passed in belong to the caller, who closes them.
        close_on_shutdown(app, list(clients.values()))
    return app


# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = ServiceSpec.of_library(
    LIBRARY,
    settings=InstitutionsSettings,
    metadata=Base.metadata,
    create_app=create_app,
    routes=ROUTES,
)
