"""A component `zhihui` runs: a service's settings, tables and app factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData

from services.kernel.library import LibraryFacts
from services.kernel.settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    label: str
    settings: Callable[[], ServiceSettings]
    metadata: MetaData
    # For uvicorn's --factory: each service runs as its own process.
    app_factory: str

    @classmethod
    def of_library(
        cls,
        library: LibraryFacts,
        *,
        settings: Callable[[], ServiceSettings],
        metadata: MetaData,
        create_app: Callable[..., Any],
    ) -> ServiceSpec:
        """A library's service: named as declared, started by its `create_app`."""
        return cls(
            name=library.name,
            label=library.label,
            settings=settings,
            metadata=metadata,
            app_factory=f"{create_app.__module__}:{create_app.__qualname__}",
        )
