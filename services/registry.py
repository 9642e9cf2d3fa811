"""The domain services this platform runs: their names, settings, tables and app factories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import MetaData

from services.institutions.config import InstitutionsSettings
from services.institutions.models import Base as InstitutionsBase
from services.kernel.settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    label: str
    settings: Callable[[], ServiceSettings]
    metadata: MetaData
    # For uvicorn's --factory: each service runs as its own process.
    app_factory: str


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="institutions",
        label="机构库",
        settings=InstitutionsSettings,
        metadata=InstitutionsBase.metadata,
        app_factory="services.institutions.main:create_app",
    ),
)


def service_named(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in SERVICES)
    raise KeyError(f"unknown service {name!r}; known services: {known}")
