"""The latency benchmarks' query set is fixed, realistic and valid in the API's grammar."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from bench.measure import interleaved
from bench.measure import percentile
from bench.measure import summary
from bench.platform_paths import to_http
from bench.queries import INSTITUTION_PLACEHOLDER
from bench.queries import MIX
from bench.queries import QUERY_COUNT
from bench.queries import build_queries
from bench.queries import list_params
from bench.queries import resolve
from services.gateway.search.analysis import get_analyzer
from services.gateway.search.libraries.outcomes import SCHEMA as OUTCOMES
from services.gateway.search.service import SearchService
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Role


def test_the_set_is_deterministic_and_has_the_documented_mix() -> None:
    queries = build_queries()
    assert len(queries) == QUERY_COUNT
    assert [(q.kind, q.params, q.institution) for q in queries] == [
        (q.kind, q.params, q.institution) for q in build_queries()
    ]
    assert Counter(q.kind for q in queries) == Counter(MIX)
    assert build_queries(seed=1) != queries


def test_every_query_parses_with_the_gateways_grammar() -> None:
    service = SearchService(backend=None, analyzer=get_analyzer())  # type: ignore[arg-type]
    reader = Actor(role=Role.READER, org="bench")
    for query in build_queries():
        params = {k: v.replace(INSTITUTION_PLACEHOLDER, "ins_x") for k, v in query.params.items()}
        plan = service.plan_list(OUTCOMES, list_params(params), reader)
        assert plan.request.libraries == ("outcomes",)
        if "q" in params:
            assert plan.request.text is not None, params


def test_resolve_fills_in_institutions_and_walks_cursors() -> None:
    queries = [q for q in build_queries() if q.institution or q.cursor_pages][:6]
    pages: list[dict[str, str]] = []

    async def fetch(params: dict[str, str]) -> dict[str, Any]:
        pages.append(dict(params))
        return {"meta": {"next_cursor": f"c{len(pages)}"}}

    async def find(name: str) -> str | None:
        return f"ins_{len(name)}"

    resolved = asyncio.run(resolve(queries, fetch, find))
    for before, after in zip(queries, resolved, strict=True):
        if before.institution:
            assert INSTITUTION_PLACEHOLDER not in after.params["filter"]
            assert f"institution:ins_{len(before.institution)}" in after.params["filter"]
        if before.cursor_pages:
            assert after.params["cursor"].startswith("c")
    assert len(pages) == sum(q.cursor_pages for q in queries)


def test_the_direct_request_is_the_clients_call_over_http() -> None:
    prepared = to_http(
        {
            "index": "p_outcomes",
            "query": {"match_all": {}},
            "from_": 40,
            "size": 20,
            "source_includes": ["library", "id"],
            "ignore_unavailable": True,
            "search_type": "dfs_query_then_fetch",
        }
    )
    assert prepared.path == "p_outcomes"
    assert prepared.params == {
        "_source_includes": "library,id",
        "ignore_unavailable": "true",
        "search_type": "dfs_query_then_fetch",
    }
    assert prepared.body == b'{"query":{"match_all":{}},"from":40,"size":20}'


def test_percentiles_and_interleaving() -> None:
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert summary([0.001, 0.002, 0.003])["median_ms"] == 2.0
    order: list[tuple[str, int]] = []

    def path(name: str) -> Any:
        async def call(i: int) -> None:
            order.append((name, i))

        return call

    timings = asyncio.run(interleaved(3, {"a": path("a"), "b": path("b")}, concurrency=1, rounds=2))
    assert [len(v) for v in timings.values()] == [6, 6]
    # The path that goes first alternates from one item to the next.
    assert order[:4] == [("a", 0), ("b", 0), ("b", 1), ("a", 1)]
