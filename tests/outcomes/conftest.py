"""An outcomes app on a fresh database, with its peers: the real institutions service and a
stand-in for the experts service (being written elsewhere; only its list-by-ids contract).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.institutions.config import InstitutionsSettings
from services.institutions.main import create_app as create_institutions_app
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.record_ids import new_id
from services.outcomes.config import OutcomesSettings
from services.outcomes.main import create_app
from services.registry import service_named
from tests.conftest import TEST_INTERNAL_TOKEN
from tests.conftest import asgi_client
from tests.helpers import list_by_ids_stand_in
from tests.helpers import stand_in_referrers

# The experts the stand-in knows; any other exp_… ID is unknown to it.
KNOWN_EXPERTS = tuple(new_id("exp") for _ in range(6))


def closed_port_url() -> str:
    """A local URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
async def outcomes_db(database_factory) -> Database:  # type: ignore[no-untyped-def]
    return await database_factory(service_named("outcomes"))


@pytest.fixture(scope="module")
async def institutions_db(database_factory) -> Database:  # type: ignore[no-untyped-def]
    return await database_factory(service_named("institutions"))


@pytest.fixture(scope="module")
def experts_app() -> FastAPI:
    return list_by_ids_stand_in("experts", KNOWN_EXPERTS)


@pytest.fixture(scope="module")
def institutions_app(institutions_db: Database, platform_settings: Any) -> FastAPI:
    return create_institutions_app(
        InstitutionsSettings(), platform_settings, institutions_db, stand_in_referrers()
    )


@pytest.fixture(scope="module")
async def institutions(institutions_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real institutions service (to create the institutions outcomes cite)."""
    async with asgi_client(institutions_app, "http://institutions") as http:
        yield http


@pytest.fixture(scope="module")
async def client(
    outcomes_db: Database,
    institutions_app: FastAPI,
    experts_app: FastAPI,
    platform_settings: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    experts = ServiceClient(
        "experts",
        "http://experts",
        TEST_INTERNAL_TOKEN,
        transport=httpx.ASGITransport(app=experts_app),
    )
    peer_institutions = ServiceClient(
        "institutions",
        "http://institutions",
        TEST_INTERNAL_TOKEN,
        transport=httpx.ASGITransport(app=institutions_app),
    )
    app = create_app(
        OutcomesSettings(),
        platform_settings,
        outcomes_db,
        {"experts": experts, "institutions": peer_institutions},
    )
    async with asgi_client(app) as http:
        yield http
    await experts.aclose()
    await peer_institutions.aclose()


@pytest.fixture(scope="module")
async def client_peers_down(
    outcomes_db: Database, platform_settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The same service and database, with both peers unreachable (nothing listens there)."""
    settings = OutcomesSettings(
        peer_urls={"experts": closed_port_url(), "institutions": closed_port_url()}
    )
    app = create_app(settings, platform_settings, outcomes_db)
    async with asgi_client(app) as http:
        yield http
