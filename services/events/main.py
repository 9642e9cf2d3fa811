"""The events service app (`uvicorn --factory services.events.main:create_app`)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from services.events.config import EventsSettings
from services.events.endpoints import ROUTES, router
from services.events.library import LIBRARY
from services.events.models import Base, EventChange, EventIdempotency
from services.events.service import Peers, count_institution_references
from services.kernel.component import ServiceSpec
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.library_app import create_library_app
from services.kernel.settings import PlatformSettings


def create_app(
    settings: EventsSettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
    clients: Mapping[str, ServiceClient] | None = None,
) -> FastAPI:
    """`clients` maps each peer (institutions, experts, outcomes) to its service's client; by
    default at the URLs the settings give."""
    app, peers = create_library_app(
        LIBRARY,
        description="Owns event records (论坛, 座谈会, 研讨会, 调研, 培训); internal API behind "
        "the gateway.",
        settings=settings or EventsSettings(),
        platform=platform or PlatformSettings(),
        database=database,
        routers=[router],
        change_model=EventChange,
        idempotency_model=EventIdempotency,
        references={"institutions": count_institution_references},
        clients=clients,
    )
    app.state.peers = Peers(
        institutions=peers["institutions"], experts=peers["experts"], outcomes=peers["outcomes"]
    )
    return app


# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = ServiceSpec.of_library(
    LIBRARY, settings=EventsSettings, metadata=Base.metadata, create_app=create_app, routes=ROUTES
)
