"""A component `zhihui` runs: a service's settings, tables and app factory."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import MetaData

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
