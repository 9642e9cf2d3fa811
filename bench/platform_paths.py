"""The paths a benchmark request can take through a running platform (bench/stack.py).

`GatewaySearch` asks the public API; `DirectSearch` sends Elasticsearch the very `_search` the
gateway would send for the same request (built by the gateway's own parser and ES backend in
this process), so the difference between the two is the gateway's own cost.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.loading import load_generated
from bench.queries import BenchQuery
from bench.queries import list_params
from bench.stack import PlatformStack
from bench.stack import platform_stack
from services.gateway.search.analysis import get_analyzer
from services.gateway.search.backends.elasticsearch import ElasticsearchBackend
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.gateway.search.service import SearchService
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Role

TIMEOUT = 10.0  # the gateway's Elasticsearch request timeout (ElasticsearchBackend)
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
BENCH_ORG = "bench"  # the reader key's organisation (bench/stack.py)
# `search` keyword arguments the Elasticsearch client sends in the URL, not the body.
_URL_PARAMS = {
    "source_includes": "_source_includes",
    "ignore_unavailable": "ignore_unavailable",
    "allow_no_indices": "allow_no_indices",
    "search_type": "search_type",
}


def http_client() -> httpx.AsyncClient:
    """The client settings every path uses, so the paths differ only in where they go."""
    return httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS)


class GatewaySearch:
    """`GET /api/v1/outcomes` with the reader key."""

    def __init__(self, stack: PlatformStack, client: httpx.AsyncClient) -> None:
        self.url = f"{stack.gateway_url}/api/v1/outcomes"
        self.headers = stack.bearer(stack.reader_key)
        self.client = client

    async def fetch(self, params: dict[str, str]) -> dict[str, Any]:
        response = await self.client.get(self.url, params=params, headers=self.headers)
        response.raise_for_status()
        return orjson.loads(response.content)  # type: ignore[no-any-return]

    async def find_institution(self, name: str) -> str | None:
        """The ID of the institution with exactly this name (names are unique in the data)."""
        response = await self.client.get(
            self.url.replace("/outcomes", "/institutions"),
            params={"filter": f"name:{name}", "select": "id,name", "page_size": "5"},
            headers=self.headers,
        )
        response.raise_for_status()
        for record in response.json()["results"]:
            if record.get("name") == name:
                return str(record["id"])
        return None


@dataclass(frozen=True)
class PreparedSearch:
    """One `_search` call, ready to send: path, URL parameters and the serialised body."""

    path: str
    params: dict[str, str]
    body: bytes


class DirectSearch:
    """The gateway's own Elasticsearch query for a request, sent straight to Elasticsearch."""

    def __init__(self, stack: PlatformStack, client: httpx.AsyncClient) -> None:
        assert stack.elasticsearch_url and stack.index_prefix, "needs an Elasticsearch platform"
        self.base_url = stack.elasticsearch_url.rstrip("/")
        self.backend = ElasticsearchBackend(
            stack.elasticsearch_url, index_prefix=stack.index_prefix
        )
        self.service = SearchService(self.backend, get_analyzer())
        self.actor = Actor(role=Role.READER, org=BENCH_ORG)
        self.client = client

    async def prepare(self, query: BenchQuery) -> PreparedSearch:
        """Parse the request as the gateway does and build its `_search` (not timed)."""
        plan = self.service.plan_list(
            LIBRARY_SCHEMAS["outcomes"], list_params(query.url_params()), self.actor
        )
        search = await self.backend.search_params(plan.request)
        assert search is not None, "the outcomes index does not exist"
        return to_http(search)

    async def send(self, prepared: PreparedSearch) -> dict[str, Any]:
        response = await self.client.post(
            f"{self.base_url}/{prepared.path}/_search",
            params=prepared.params,
            content=prepared.body,
            headers={"Content-Type": "application/json"},
        )
        response.raise_for_status()
        return orjson.loads(response.content)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.backend.close()


def to_http(search: dict[str, Any]) -> PreparedSearch:
    """The Elasticsearch client's `search(**kwargs)` as the HTTP request it sends."""
    body: dict[str, Any] = {}
    url: dict[str, str] = {}
    for key, value in search.items():
        if key == "index":
            continue
        if key in _URL_PARAMS:
            url[_URL_PARAMS[key]] = (
                ",".join(value)
                if isinstance(value, list)
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
        else:
            body["from" if key == "from_" else key] = value
    return PreparedSearch(str(search["index"]), url, orjson.dumps(body))


def platform_arguments(parser: argparse.ArgumentParser) -> None:
    """`--run` (a kept, loaded platform) or `--data` (load one now and drop it afterwards)."""
    parser.add_argument("--run", help="a kept platform from `./dev bench loading` (fastest)")
    parser.add_argument("--data", help="no --run: load this generated data set first")
    parser.add_argument("--out", help="where to write the JSON (default bench/results/)")


@contextmanager
def running_platform(
    run: str | None, data: str | None = None, *, embedded: bool = False
) -> Iterator[PlatformStack]:
    """The platform to measure: a kept run restarted, or a fresh one loaded from `data`."""
    database_url = None if embedded else os.environ["ZHIHUI_TEST_POSTGRES_URL"]
    elasticsearch_url = None if embedded else os.environ["ZHIHUI_TEST_ELASTICSEARCH_URL"]
    if not run and not data:
        raise SystemExit("give --run RUN (see `./dev bench loading`) or --data DIR")
    with platform_stack(
        database_url=database_url, elasticsearch_url=elasticsearch_url, run=run, keep=bool(run)
    ) as stack:
        if not run:
            load_generated(stack, Path(str(data)))
        yield stack
