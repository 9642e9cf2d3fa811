"""The components this platform runs: their names, settings, tables and app factories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import MetaData

from services.datasets.config import DatasetsSettings
from services.datasets.models import Base as DatasetsBase
from services.experts.config import ExpertsSettings
from services.experts.models import Base as ExpertsBase
from services.gateway.config import GatewaySettings
from services.gateway.models import Base as GatewayBase
from services.institutions.config import InstitutionsSettings
from services.institutions.models import Base as InstitutionsBase
from services.kernel.http import ServiceClient
from services.kernel.settings import PlatformSettings, ServiceSettings
from services.outcomes.config import OutcomesSettings
from services.outcomes.models import Base as OutcomesBase


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
    ServiceSpec(
        name="experts",
        label="专家库",
        settings=ExpertsSettings,
        metadata=ExpertsBase.metadata,
        app_factory="services.experts.main:create_app",
    ),
    ServiceSpec(
        name="outcomes",
        label="成果库",
        settings=OutcomesSettings,
        metadata=OutcomesBase.metadata,
        app_factory="services.outcomes.main:create_app",
    ),
    ServiceSpec(
        name="datasets",
        label="特色数据库",
        settings=DatasetsSettings,
        metadata=DatasetsBase.metadata,
        app_factory="services.datasets.main:create_app",
    ),
)


# The gateway has a database of its own (API keys, indexer cursors) and starts last.
GATEWAY = ServiceSpec(
    name="gateway",
    label="网关",
    settings=GatewaySettings,
    metadata=GatewayBase.metadata,
    app_factory="services.gateway.main:create_app",
)

COMPONENTS: tuple[ServiceSpec, ...] = (*SERVICES, GATEWAY)


def service_clients(
    platform: PlatformSettings, timeout: float, *, read_retries: int = 2
) -> dict[str, ServiceClient]:
    """A pooled client per domain service, at the URL its settings give."""
    token = platform.internal_token.get_secret_value()
    return {
        spec.name: ServiceClient(
            spec.name,
            spec.settings().base_url,
            token,
            timeout=httpx.Timeout(timeout, connect=2.0),
            read_retries=read_retries,
        )
        for spec in SERVICES
    }


def service_named(name: str) -> ServiceSpec:
    for spec in COMPONENTS:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in COMPONENTS)
    raise KeyError(f"unknown service {name!r}; known services: {known}")
