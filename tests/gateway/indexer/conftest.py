"""Real service apps and a fresh gateway database per test; a recording sink stands in for
the search index (what is tested here is the indexer's logic, not a backend)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.datasets.config import DatasetsSettings
from services.datasets.main import create_app as create_datasets
from services.events.config import EventsSettings
from services.events.main import create_app as create_events
from services.experts.config import ExpertsSettings
from services.experts.main import create_app as create_experts
from services.gateway.indexer.feeds import read_feed
from services.gateway.indexer.runner import Indexer
from services.gateway.indexer.runner import IndexerSettings
from services.institutions.config import InstitutionsSettings
from services.institutions.main import create_app as create_institutions
from services.kernel.changefeed import MAX_FEED_PAGE
from services.kernel.changefeed import ChangeOut
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.outcomes.config import OutcomesSettings
from services.outcomes.main import create_app as create_outcomes
from services.registry import service_named
from tests.conftest import TEST_INTERNAL_TOKEN
from tests.conftest import drop_database
from tests.conftest import make_database
from tests.conftest import required_env
from tests.gateway.conftest import Platform
from tests.helpers import stand_in_referrers

FEEDS = ("institutions", "experts", "outcomes", "events", "datasets")
WAIT_SECONDS = 30.0


def fast_settings(**overrides: Any) -> IndexerSettings:
    """Short intervals so that the tests run in seconds."""
    values: dict[str, Any] = {
        "poll_interval": 0.02,
        "batch_size": 40,
        "lease_ttl": 3.0,
        "backoff_initial": 0.02,
        "backoff_max": 0.2,
        "apply_timeout": 10.0,
    }
    return IndexerSettings(**{**values, **overrides})


class IndexDown(Exception):
    """What the recording sink raises while it plays an unavailable index."""


@dataclass
class RecordingSink:
    """Remembers every batch it accepted; can fail on demand like an index that is down."""

    failing: bool = False
    # Apply the batch, then raise anyway (the index applied it; the acknowledgement is lost).
    lose_acks: int = 0
    # Block (as a hung index would) on this call number, once.
    hang_on_call: int | None = None
    calls: int = 0
    batches: list[tuple[str, list[ChangeOut]]] = field(default_factory=list)

    async def apply(self, feed: str, changes: Sequence[ChangeOut]) -> None:
        self.calls += 1
        if self.failing:
            raise IndexDown("search index unavailable (test)")
        self.batches.append((feed, list(changes)))
        if self.hang_on_call == self.calls:
            self.hang_on_call = None
            await asyncio.Event().wait()
        if self.lose_acks:
            self.lose_acks -= 1
            raise IndexDown("acknowledgement lost (test)")

    def changes(self, feed: str) -> list[ChangeOut]:
        return [c for f, batch in self.batches if f == feed for c in batch]

    def seqs(self, feed: str) -> list[int]:
        return [c.seq for c in self.changes(feed)]


class SwitchableTransport(httpx.AsyncBaseTransport):
    """An ASGI transport that can play a service that is down (connection refused)."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused (test)", request=request)
        return await self.inner.handle_async_request(request)


@dataclass
class Feeds:
    clients: dict[str, ServiceClient]
    transports: dict[str, SwitchableTransport]


@pytest.fixture(scope="module")
def service_apps(platform: Platform, platform_settings) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The five service apps on the module's databases (their feeds are all the indexer reads)."""
    dbs = platform.services
    return {
        "institutions": create_institutions(
            InstitutionsSettings(), platform_settings, dbs["institutions"], stand_in_referrers()
        ),
        "experts": create_experts(ExpertsSettings(), platform_settings, dbs["experts"]),
        "outcomes": create_outcomes(OutcomesSettings(), platform_settings, dbs["outcomes"]),
        "events": create_events(EventsSettings(), platform_settings, dbs["events"]),
        "datasets": create_datasets(DatasetsSettings(), platform_settings, dbs["datasets"]),
    }


@pytest.fixture
async def make_feeds(service_apps: dict[str, Any]) -> AsyncIterator[Callable[[], Feeds]]:
    """New feed clients per indexer (as separate processes would have), each switchable."""
    made: list[Feeds] = []

    def make() -> Feeds:
        transports = {name: SwitchableTransport(app) for name, app in service_apps.items()}
        clients = {
            name: ServiceClient(
                name, f"http://{name}", TEST_INTERNAL_TOKEN, transport=t, read_retries=0
            )
            for name, t in transports.items()
        }
        made.append(Feeds(clients, transports))
        return made[-1]

    yield make
    for feeds in made:
        for client in feeds.clients.values():
            await client.aclose()


@pytest.fixture
async def gateway_db(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh gateway database of the module's backend: no cursors, no leases."""
    pg_url = required_env("ZHIHUI_TEST_POSTGRES_URL") if backend == "postgresql" else None
    database = await make_database(backend, service_named("gateway"), tmp_path, pg_url)
    yield database
    await drop_database(database)


async def feed_changes(client: ServiceClient) -> list[ChangeOut]:
    """The whole feed, straight from the service."""
    changes: list[ChangeOut] = []
    after = 0
    while True:
        page = await read_feed(client, after=after, limit=MAX_FEED_PAGE)
        changes += page.changes
        if not page.changes:
            return changes
        after = page.next_after


async def heads(clients: dict[str, ServiceClient]) -> dict[str, int]:
    return {name: (await read_feed(c, after=0, limit=1)).head for name, c in clients.items()}


async def wait_until(
    predicate: Callable[[], Awaitable[bool] | bool], what: str, within: float = WAIT_SECONDS
) -> None:
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f} s waiting for {what}", pytrace=False)
        await asyncio.sleep(0.02)


async def wait_caught_up(
    indexer: Indexer, clients: dict[str, ServiceClient], feeds: Sequence[str] = FEEDS
) -> dict[str, int]:
    """Wait until the indexer's cursor is at the head of each feed, and it has polled since:
    the heads."""
    target = await heads(clients)
    since = time.time()

    def done() -> bool:
        statuses = indexer.statuses()
        return all(
            statuses[f].leased
            and statuses[f].cursor == target[f]
            and (statuses[f].last_success_at or 0) >= since
            for f in feeds
        )

    await wait_until(done, f"{indexer.holder} to catch up with {target} (now {indexer.snapshot()})")
    return target
