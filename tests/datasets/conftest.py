"""A datasets service app on a fresh database of the module's backend, with its references.

`ref:institutions` values are checked against the real institutions app (its own database);
experts and outcomes do not exist yet, so tiny stand-in apps answer their list-by-ids call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.datasets.config import DatasetsSettings
from services.datasets.main import create_app
from services.institutions.config import InstitutionsSettings
from services.institutions.main import create_app as create_institutions_app
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.record_ids import new_id
from services.registry import service_named
from tests.conftest import TEST_INTERNAL_TOKEN
from tests.conftest import asgi_client
from tests.helpers import list_by_ids_stand_in
from tests.helpers import stand_in_referrers


@pytest.fixture(scope="module")
async def datasets_db(database_factory) -> Database:  # type: ignore[no-untyped-def]
    return await database_factory(service_named("datasets"))


@pytest.fixture(scope="module")
async def institutions_db(database_factory) -> Database:  # type: ignore[no-untyped-def]
    return await database_factory(service_named("institutions"))


@pytest.fixture(scope="module")
def institutions_app(institutions_db: Database, platform_settings) -> FastAPI:  # type: ignore[no-untyped-def]
    """The real institutions app the datasets service checks references against."""
    return create_institutions_app(
        InstitutionsSettings(), platform_settings, institutions_db, stand_in_referrers()
    )


@pytest.fixture(scope="module")
async def institutions(institutions_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(institutions_app) as http:
        yield http


@pytest.fixture(scope="module")
def live_experts() -> set[str]:
    return {new_id("exp") for _ in range(3)}


@pytest.fixture(scope="module")
def live_outcomes() -> set[str]:
    return {new_id("out") for _ in range(2)}


@pytest.fixture(scope="module")
async def ref_clients(
    institutions_app: FastAPI, live_experts: set[str], live_outcomes: set[str]
) -> AsyncIterator[dict[str, ServiceClient]]:
    apps = {
        "institutions": institutions_app,
        "experts": list_by_ids_stand_in("experts", live_experts),
        "outcomes": list_by_ids_stand_in("outcomes", live_outcomes),
    }
    clients = {
        library: ServiceClient(
            library,
            f"http://{library}",
            TEST_INTERNAL_TOKEN,
            transport=httpx.ASGITransport(app=app),
        )
        for library, app in apps.items()
    }
    yield clients
    for client in clients.values():
        await client.aclose()


@pytest.fixture(scope="module")
async def client(  # type: ignore[no-untyped-def]
    datasets_db: Database, platform_settings, ref_clients: dict[str, ServiceClient]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(DatasetsSettings(), platform_settings, datasets_db, ref_clients)
    async with asgi_client(app) as http:
        yield http
