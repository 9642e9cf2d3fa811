"""A component `zhihui` runs: a service's settings, tables and app factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData

from services.kernel.library import LibraryFacts
from services.kernel.record_routes import RecordRoutes
from services.kernel.settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    label: str
    settings: type[ServiceSettings]
    metadata: MetaData
    # For uvicorn's --factory: each service runs as its own process.
    app_factory: str
    # A record library's routes (the gateway serves the same at /api/v1/{name}).
    routes: RecordRoutes | None = None

    @classmethod
    def of_library(
        cls,
        library: LibraryFacts,
        *,
        settings: type[ServiceSettings],
        metadata: MetaData,
        create_app: Callable[..., Any],
        routes: RecordRoutes | None = None,
    ) -> ServiceSpec:
        """A library's service: named as declared, started by its `create_app`."""
        return cls(
            name=library.name,
            label=library.label,
            settings=settings,
            metadata=metadata,
            app_factory=f"{create_app.__module__}:{create_app.__qualname__}",
            routes=routes,
        )
