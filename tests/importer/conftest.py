"""`zhihui import` against the real gateway and services (tests/gateway/conftest.py), in process.

The import client talks to the ASGI gateway app through an httpx transport; records are
read back from each service's own database, keyed by `(source, external_id)`.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.cli.importer.runner import ImportOptions
from services.cli.importer.runner import ImportReport
from services.cli.importer.runner import run_import
from services.datasets.models import DatasetRecord
from services.events.models import Event
from services.experts.models import Expert
from services.gateway.config import GatewaySettings
from services.gateway.main import create_app as create_gateway
from services.institutions.models import Institution
from services.outcomes.models import Outcome
from tests.conftest import asgi_client
from tests.gateway.conftest import Platform
from tests.gateway.conftest import index_now  # noqa: F401  (fixtures)
from tests.gateway.conftest import keys  # noqa: F401  (fixtures)
from tests.gateway.conftest import make_key  # noqa: F401  (fixtures)
from tests.gateway.conftest import platform  # noqa: F401  (fixtures)
from tests.gateway.conftest import platform_clients  # noqa: F401  (fixtures)
from tests.gateway.conftest import search  # noqa: F401  (fixtures)

MODELS: dict[str, Any] = {
    "institutions": Institution,
    "experts": Expert,
    "outcomes": Outcome,
    "events": Event,
    "datasets": DatasetRecord,
}


@pytest.fixture(scope="module")
def gateway_app(platform, platform_settings, platform_clients, search) -> FastAPI:  # type: ignore[no-untyped-def]  # noqa: F811
    return create_gateway(
        GatewaySettings(
            anonymous_rate_limit=10_000, failed_auth_rate_limit=10_000, run_indexer=False
        ),
        platform_settings,
        platform.gateway_db,
        platform_clients,
        search=search,
    )


@pytest.fixture(scope="module")
async def gateway(gateway_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(gateway_app, "http://gateway") as http:
        yield http


@pytest.fixture(scope="module")
async def admin_key(make_key) -> str:  # type: ignore[no-untyped-def]  # noqa: F811
    return str(await make_key("admin"))


async def no_wait(_seconds: float) -> None:
    return None


@dataclass
class Importer:
    """Runs `zhihui import` in process against the module's gateway."""

    app: FastAPI
    key: str
    progress: io.StringIO = field(default_factory=io.StringIO)

    async def __call__(
        self,
        target: str,
        *files: Path,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Any,
    ) -> ImportReport:
        self.progress = io.StringIO()
        opts = ImportOptions(
            target=target,
            files=list(files),
            gateway="http://gateway",
            key=options.pop("key", self.key),
            progress=self.progress,
            backoff=0.0,
            **options,
        )
        return await run_import(
            opts, transport=transport or httpx.ASGITransport(app=self.app), sleep=no_wait
        )


@pytest.fixture(scope="module")
def run(gateway_app: FastAPI, admin_key: str) -> Importer:
    return Importer(gateway_app, admin_key)


StoredRecords = Callable[[str, str], Awaitable[dict[str, Any]]]


@pytest.fixture(scope="module")
def stored(platform: Platform) -> StoredRecords:  # noqa: F811
    """The live records of a library with one source, by external_id, as stored."""

    async def read(library: str, source: str) -> dict[str, Any]:
        model = MODELS[library]
        async with platform.services[library].sessionmaker() as session:
            rows = (
                await session.execute(
                    select(model).where(model.source == source, model.deleted_at.is_(None))
                )
            ).scalars()
            return {row.external_id: row for row in rows}

    return read
