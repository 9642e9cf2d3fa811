"""An experts app on a fresh database, checking affiliations with a real institutions app.

Both services get their own database on the module's backend, as in production; the experts
app reaches the institutions app through the same ServiceClient it uses over the network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.experts.config import ExpertsSettings
from services.experts.main import create_app
from services.institutions.config import InstitutionsSettings
from services.institutions.main import create_app as create_institutions_app
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.registry import service_named
from tests.conftest import TEST_INTERNAL_TOKEN
from tests.conftest import asgi_client
from tests.helpers import stand_in_referrers

# Nothing listens on the discard port: the institutions service is "down".
UNREACHABLE_URL = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
async def experts_db(database_factory) -> Database:  # type: ignore[no-untyped-def]
    return await database_factory(service_named("experts"))


@pytest.fixture(scope="module")
async def institutions_app(database_factory, platform_settings) -> FastAPI:  # type: ignore[no-untyped-def]
    database = await database_factory(service_named("institutions"))
    return create_institutions_app(
        InstitutionsSettings(), platform_settings, database, stand_in_referrers()
    )


@pytest.fixture(scope="module")
async def institutions(institutions_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the institutions app, to create the institutions experts work at."""
    async with asgi_client(institutions_app, "http://institutions") as http:
        yield http


@pytest.fixture(scope="module")
async def client(  # type: ignore[no-untyped-def]
    experts_db: Database, institutions_app: FastAPI, platform_settings
) -> AsyncIterator[httpx.AsyncClient]:
    peer = ServiceClient(
        "institutions",
        "http://institutions",
        TEST_INTERNAL_TOKEN,
        transport=httpx.ASGITransport(app=institutions_app),
    )
    app = create_app(ExpertsSettings(), platform_settings, experts_db, {"institutions": peer})
    async with asgi_client(app) as http:
        yield http
    await peer.aclose()


@pytest.fixture(scope="module")
async def down_client(  # type: ignore[no-untyped-def]
    experts_db: Database, platform_settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The same experts database, with the institutions service unreachable."""
    peer = ServiceClient("institutions", UNREACHABLE_URL, TEST_INTERNAL_TOKEN)
    app = create_app(ExpertsSettings(), platform_settings, experts_db, {"institutions": peer})
    async with asgi_client(app) as http:
        yield http
    await peer.aclose()
