"""The app of a library's service: `create_service_app` with its declared peers wired in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, FastAPI

from services.kernel.app import create_service_app
from services.kernel.changefeed import ChangeMixin
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.idempotency import IdempotencyMixin
from services.kernel.library import LibraryFacts, peers_of
from services.kernel.peers import close_on_shutdown
from services.kernel.references import ReferenceCounter
from services.kernel.settings import PlatformSettings, ServiceSettings


def create_library_app(
    library: LibraryFacts,
    *,
    description: str,
    settings: ServiceSettings,
    platform: PlatformSettings,
    database: Database | None,
    routers: Sequence[APIRouter],
    change_model: type[ChangeMixin],
    idempotency_model: type[IdempotencyMixin],
    references: Mapping[str, ReferenceCounter] | None = None,
    clients: Mapping[str, ServiceClient] | None = None,
    make_missing: bool = True,
) -> tuple[FastAPI, dict[str, ServiceClient]]:
    """The app, and a client per peer (`peers_of(library)`): those in `clients`, the others
    made at the URLs the settings give (unless `make_missing` is off). Clients passed in
    belong to the caller; only the ones made here are closed with the app."""
    peers = dict(clients or {})
    made: list[ServiceClient] = []
    if clients is None or make_missing:
        token = platform.internal_token.get_secret_value()
        for name in peers_of(library):
            if name not in peers:
                peers[name] = ServiceClient(name, settings.peer_url(name), token)
                made.append(peers[name])
    app = create_service_app(
        title=f"智汇中国 · {library.name} service ({library.label})",
        description=description,
        settings=settings,
        platform=platform,
        routers=routers,
        change_model=change_model,
        idempotency_model=idempotency_model,
        references=references,
        database=database,
    )
    close_on_shutdown(app, made)
    return app, peers
