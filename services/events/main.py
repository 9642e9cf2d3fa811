"""The events service app (`uvicorn --factory services.events.main:create_app`)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from services.events.config import EventsSettings
from services.events.endpoints import ROUTES, router
from services.events.library import LIBRARY
from services.events.models import Base, EventChange, EventIdempotency
from services.events.service import Peers, count_institution_references
from services.kernel.app import create_service_app
from services.kernel.component import ServiceSpec
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.library import peers_of
from services.kernel.peers import close_on_shutdown
from services.kernel.settings import PlatformSettings


def create_app(
    settings: EventsSettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
    clients: Mapping[str, ServiceClient] | None = None,
) -> FastAPI:
    """`clients` maps each peer (institutions, experts, outcomes) to its service's client; by
    default at the URLs the settings give."""
    settings = settings or EventsSettings()
    platform = platform or PlatformSettings()
    owns_clients = clients is None
    if clients is None:
        token = platform.internal_token.get_secret_value()
        clients = {
            peer: ServiceClient(peer, settings.peer_url(peer), token) for peer in peers_of(LIBRARY)
        }
    app = create_service_app(
        title="智汇中国 · events service (活动库)",
        description="Owns event records (论坛, 座谈会, 研讨会, 调研, 培训); internal API behind "
        "the gateway.",
        settings=settings,
        platform=platform,
        routers=[router],
        change_model=EventChange,
        idempotency_model=EventIdempotency,
        references={"institutions": count_institution_references},
        database=database,
    )
    app.state.peers = Peers(
        institutions=clients["institutions"],
        experts=clients["experts"],
        outcomes=clients["outcomes"],
    )
    if owns_clients:
        # Clients passed in belong to the caller, who closes them.
        close_on_shutdown(app, list(clients.values()))
    return app


# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = ServiceSpec.of_library(
    LIBRARY, settings=EventsSettings, metadata=Base.metadata, create_app=create_app, routes=ROUTES
)
