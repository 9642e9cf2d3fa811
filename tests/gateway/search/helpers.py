"""Search components for tests: embedded or Elasticsearch, and indexing on demand."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from services.gateway.indexer.sink import DATASETS
from services.gateway.search.backends.elasticsearch import ElasticsearchBackend
from services.gateway.search.backends.embedded import EmbeddedBackend
from services.gateway.search.components import SearchComponents
from services.gateway.search.components import create_search
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.kernel.changefeed import ChangeOut
from services.kernel.http import ServiceClient
from tests.conftest import required_env


def make_search(kind: str, tmp: Path) -> SearchComponents:
    """`embedded` in a temporary file, or `elasticsearch` under a unique index prefix."""
    if kind == "elasticsearch":
        backend = ElasticsearchBackend(
            required_env("ZHIHUI_TEST_ELASTICSEARCH_URL"),
            index_prefix=f"zhihui_test_{secrets.token_hex(4)}",
            refresh_on_write=True,
        )
        return create_search(backend)
    return create_search(EmbeddedBackend(tmp / "search.sqlite"))


async def drop_search(components: SearchComponents) -> None:
    for name in [*LIBRARY_SCHEMAS, DATASETS, *components.catalogue.dataset_libraries()]:
        await components.backend.drop_library(name)
    await components.close()


class FeedPump:
    """Applies every service's change feed to the search sink, up to now (deterministic)."""

    def __init__(self, components: SearchComponents, clients: Mapping[str, ServiceClient]):
        self.components = components
        self.clients = clients
        self.positions = dict.fromkeys(clients, 0)

    async def __call__(self) -> int:
        applied = 0
        for feed, client in self.clients.items():
            while True:
                response = await client.request(
                    "GET", "/internal/changes", params={"after": self.positions[feed], "limit": 500}
                )
                assert response.status_code == 200, response.text
                page = response.json()
                changes = [ChangeOut.model_validate(c) for c in page["changes"]]
                if not changes:
                    break
                await self.components.sink.apply(feed, changes)
                self.positions[feed] = page["next_after"]
                applied += len(changes)
        return applied
