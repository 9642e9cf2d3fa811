"""A gateway in front of real service apps, each on its own database of the module's backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from services.datasets.config import DatasetsSettings
from services.datasets.main import create_app as create_datasets
from services.events.config import EventsSettings
from services.events.main import create_app as create_events
from services.experts.config import ExpertsSettings
from services.experts.main import create_app as create_experts
from services.gateway.config import GatewaySettings
from services.gateway.keys.schemas import KeyCreate
from services.gateway.keys.schemas import KeyRole
from services.gateway.keys.service import ApiKeyService
from services.gateway.main import create_app as create_gateway
from services.gateway.search.components import SearchComponents
from services.institutions.config import InstitutionsSettings
from services.institutions.main import create_app as create_institutions
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.outcomes.config import OutcomesSettings
from services.outcomes.main import create_app as create_outcomes
from services.registry import service_named
from tests.conftest import TEST_INTERNAL_TOKEN
from tests.conftest import asgi_client
from tests.gateway.search.helpers import FeedPump
from tests.gateway.search.helpers import drop_search
from tests.gateway.search.helpers import make_search

MakeKey = Callable[..., Awaitable[str]]


@dataclass
class Platform:
    gateway_db: Database
    services: dict[str, Database]


@pytest.fixture(scope="module")
async def platform(database_factory) -> Platform:  # type: ignore[no-untyped-def]
    return Platform(
        gateway_db=await database_factory(service_named("gateway")),
        services={
            name: await database_factory(service_named(name))
            for name in ("institutions", "experts", "outcomes", "events", "datasets")
        },
    )


def _client(name: str, app: object) -> ServiceClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return ServiceClient(name, f"http://{name}", TEST_INTERNAL_TOKEN, transport=transport)


def service_clients(platform: Platform, platform_settings) -> dict[str, ServiceClient]:  # type: ignore[no-untyped-def]
    """Each service app on its own database, wired to its peers as in production."""
    databases = platform.services
    institutions_app = create_institutions(
        InstitutionsSettings(), platform_settings, databases["institutions"], {}
    )
    institutions = _client("institutions", institutions_app)
    experts = _client(
        "experts",
        create_experts(
            ExpertsSettings(),
            platform_settings,
            databases["experts"],
            {"institutions": institutions},
        ),
    )
    outcomes = _client(
        "outcomes",
        create_outcomes(
            OutcomesSettings(),
            platform_settings,
            databases["outcomes"],
            {"experts": experts, "institutions": institutions},
        ),
    )
    peers = {"institutions": institutions, "experts": experts, "outcomes": outcomes}
    events = _client(
        "events",
        create_events(EventsSettings(), platform_settings, databases["events"], peers),
    )
    peers["events"] = events
    datasets = _client(
        "datasets",
        create_datasets(DatasetsSettings(), platform_settings, databases["datasets"], peers),
    )
    # Institutions ask the others before a delete: wired once they exist, as in production.
    institutions_app.state.peers.update(
        {"experts": experts, "outcomes": outcomes, "events": events, "datasets": datasets}
    )
    return {**peers, "datasets": datasets}


@pytest.fixture(scope="module")
async def search(backend: str, module_tmp) -> AsyncIterator[SearchComponents]:  # type: ignore[no-untyped-def]
    """The embedded index beside SQLite databases, Elasticsearch beside PostgreSQL."""
    components = make_search("embedded" if backend == "sqlite" else "elasticsearch", module_tmp)
    yield components
    await drop_search(components)


@pytest.fixture(scope="module")
def platform_clients(platform: Platform, platform_settings) -> dict[str, ServiceClient]:  # type: ignore[no-untyped-def]
    return service_clients(platform, platform_settings)


@pytest.fixture(scope="module")
def index_now(search: SearchComponents, platform_clients: dict[str, ServiceClient]) -> FeedPump:
    """Call to bring the search index up to date with every service's feed."""
    return FeedPump(search, platform_clients)


@pytest.fixture(scope="module")
async def gateway(
    platform: Platform,
    platform_settings,  # type: ignore[no-untyped-def]
    platform_clients: dict[str, ServiceClient],
    search: SearchComponents,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_gateway(
        GatewaySettings(
            anonymous_rate_limit=10_000, failed_auth_rate_limit=10_000, run_indexer=False
        ),
        platform_settings,
        platform.gateway_db,
        platform_clients,
        search=search,
    )
    async with asgi_client(app, "http://gateway") as http:
        yield http


@pytest.fixture(scope="module")
def make_key(platform: Platform) -> MakeKey:
    """Create a key straight in the gateway database and return its secret."""

    async def make(role: str, org: str | None = None, **fields: object) -> str:
        async with platform.gateway_db.sessionmaker() as session:
            _key, secret = await ApiKeyService(session).create(
                KeyCreate(name=f"{role} {org}", role=KeyRole(role), org=org, **fields),  # type: ignore[arg-type]
                default_rate_limit=10_000,
                created_by="tests",
            )
            await session.commit()
        return secret

    return make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
async def keys(make_key: MakeKey) -> dict[str, dict[str, str]]:
    """Headers for each kind of caller."""
    return {
        "anonymous": {},
        "reader": bearer(await make_key("reader", "cast")),
        "editor": bearer(await make_key("editor", "cast")),
        "editor_other": bearer(await make_key("editor", "csae")),
        "admin": bearer(await make_key("admin")),
    }
