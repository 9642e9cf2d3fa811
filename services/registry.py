"""The components this platform runs: every declared library's service, then the gateway.

Derived from the declarations (kernel/library.py): each library's `main.py` names its
settings, tables and app factory in `SERVICE`; nothing here lists libraries by hand.
"""

from __future__ import annotations

import importlib

import httpx

from services.gateway.config import GatewaySettings
from services.gateway.models import Base as GatewayBase
from services.kernel.component import ServiceSpec
from services.kernel.http import ServiceClient
from services.kernel.library import LibraryDeclarationError
from services.kernel.library import LibraryFacts
from services.kernel.library import declared_libraries
from services.kernel.settings import PlatformSettings

__all__ = ["COMPONENTS", "GATEWAY", "SERVICES", "ServiceSpec", "service_clients", "service_named"]


def _library_service(library: LibraryFacts) -> ServiceSpec:
    module = importlib.import_module(f"services.{library.name}.main")
    spec = getattr(module, "SERVICE", None)
    if not isinstance(spec, ServiceSpec) or spec.name != library.name:
        raise LibraryDeclarationError(
            f"services/{library.name}/main.py must define "
            "SERVICE = LibraryService.of(LIBRARY, settings, TABLES, ROUTES): kernel/library_app.py"
        )
    return spec


SERVICES: tuple[ServiceSpec, ...] = tuple(_library_service(f) for f in declared_libraries())

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
