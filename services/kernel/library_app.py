"""A library's service: its declaration, settings, tables and routes, and the app made of them."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

from fastapi import APIRouter
from fastapi import FastAPI

from services.kernel.app import create_service_app
from services.kernel.component import ServiceSpec
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.library import LibraryFacts
from services.kernel.library import peers_of
from services.kernel.peers import close_on_shutdown
from services.kernel.record_routes import RecordRoutes
from services.kernel.record_routes import record_router
from services.kernel.references import ReferenceCounter
from services.kernel.settings import PlatformSettings
from services.kernel.settings import ServiceSettings
from services.kernel.tables import LibraryTables


@dataclass(frozen=True, slots=True, kw_only=True)
class LibraryService(ServiceSpec):
    """What `zhihui` runs for a library, and its app factory (`create_app`).

    Each library's `main.py` holds one, as `SERVICE = LibraryService.of(…)` beside
    `create_app = SERVICE.create_app` (uvicorn's `--factory services.<name>.main:create_app`).
    """

    library: LibraryFacts
    tables: LibraryTables
    router: APIRouter
    # How many live records name a record of another library (`/internal/references/…`).
    references: Mapping[str, ReferenceCounter] = field(default_factory=dict)
    # Whether peers not passed to `create_app` are made from the settings. Off where a peer
    # may be absent on purpose (a test's institutions service without referrers).
    make_missing_peers: bool = True

    @classmethod
    def of(
        cls,
        library: LibraryFacts,
        settings: type[ServiceSettings],
        tables: LibraryTables,
        routes: RecordRoutes | APIRouter,
        *,
        references: Mapping[str, ReferenceCounter] | None = None,
        make_missing_peers: bool = True,
    ) -> LibraryService:
        """A record library's service from its `RecordRoutes`, or another's from its router."""
        record_routes = routes if isinstance(routes, RecordRoutes) else None
        router = routes if isinstance(routes, APIRouter) else record_router(routes)
        return cls(
            name=library.name,
            label=library.label,
            settings=settings,
            metadata=tables.metadata,
            app_factory=f"services.{library.name}.main:create_app",
            routes=record_routes,
            library=library,
            tables=tables,
            router=router,
            references=dict(references or {}),
            make_missing_peers=make_missing_peers,
        )

    def create_app(
        self,
        settings: ServiceSettings | None = None,
        platform: PlatformSettings | None = None,
        database: Database | None = None,
        clients: Mapping[str, ServiceClient] | None = None,
    ) -> FastAPI:
        """The app, with a client per declared peer in `app.state.peers`: those in `clients`
        (the caller's, used as given), the others made at the URLs the settings give and
        closed with the app (unless `make_missing_peers` is off and `clients` are given)."""
        settings = settings or self.settings()
        platform = platform or PlatformSettings()
        peers = dict(clients or {})
        made: list[ServiceClient] = []
        if clients is None or self.make_missing_peers:
            token = platform.internal_token.get_secret_value()
            for name in peers_of(self.library):
                if name not in peers:
                    peers[name] = ServiceClient(name, settings.peer_url(name), token)
                    made.append(peers[name])
        app = create_service_app(
            title=f"智汇中国 · {self.name} service ({self.label})",
            description=self.description,
            settings=settings,
            platform=platform,
            routers=[self.router],
            change_model=self.tables.change,
            idempotency_model=self.tables.idempotency,
            references=self.references,
            database=database,
        )
        app.state.peers = peers
        close_on_shutdown(app, made)
        return app

    @property
    def description(self) -> str:
        """The library package's docstring: what the service owns, as its OpenAPI says."""
        package = importlib.import_module(f"services.{self.name}")
        return f"{(package.__doc__ or self.label).strip()} Internal API behind the gateway."
