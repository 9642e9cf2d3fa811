"""The Elasticsearch the suite runs against: reachable, version 9, and which analyzers exist.

DESIGN.md relies on this: the CI build has only core analyzers, so Chinese analysis happens
in Python and ES indexes pre-tokenised text with `whitespace`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from elasticsearch import AsyncElasticsearch
from elasticsearch import BadRequestError


@pytest.fixture
async def es(elasticsearch_url: str) -> AsyncIterator[AsyncElasticsearch]:
    # httpx transport: the client's default async transport needs aiohttp, which we don't ship.
    client = AsyncElasticsearch(elasticsearch_url, request_timeout=10, node_class="httpxasync")
    try:
        yield client
    finally:
        await client.close()


async def _tokens(es: AsyncElasticsearch, analyzer: str, text: str) -> list[str]:
    result = await es.indices.analyze(analyzer=analyzer, text=text)
    return [t["token"] for t in result["tokens"]]


async def test_cluster_is_healthy_and_major_version_matches_client(es: AsyncElasticsearch) -> None:
    # The integ-test build has no rest-root module, so `GET /` (es.info) is a 405: ask the node.
    nodes = await es.nodes.info(node_id="_local")
    versions = {node["version"] for node in nodes["nodes"].values()}
    assert {v.split(".")[0] for v in versions} == {"9"}
    health = await es.cluster.health(wait_for_status="yellow", timeout="10s")
    assert health["status"] in ("green", "yellow")


async def test_whitespace_analyzer_keeps_our_python_tokens_intact(es: AsyncElasticsearch) -> None:
    tokens = await _tokens(es, "whitespace", "清华大学 人工智能 qinghua qh AI")
    assert tokens == ["清华大学", "人工智能", "qinghua", "qh", "AI"]


async def test_standard_analyzer_splits_chinese_into_single_characters(
    es: AsyncElasticsearch,
) -> None:
    # Why a plain `standard` baseline ranks Chinese poorly: 人工智能 becomes 4 unrelated chars.
    assert await _tokens(es, "standard", "人工智能") == ["人", "工", "智", "能"]


@pytest.mark.parametrize("analyzer", ["smartcn", "ik_smart", "cjk"])
async def test_chinese_analyzers_are_absent_from_this_build(
    es: AsyncElasticsearch, analyzer: str
) -> None:
    with pytest.raises(BadRequestError):
        await es.indices.analyze(analyzer=analyzer, text="人工智能")
