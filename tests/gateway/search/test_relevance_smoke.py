"""The relevance bench on a slice of the CSL papers: engines and production backends.

500 papers, not 200: on 200 only 26 keywords are carried by two papers or more, and with every
keyword as a query recall@10 sits near 0.95 for any analyzer, so the comparison would say
little. bench/relevance.py runs the full evaluation.

Besides our tokens on raw Elasticsearch and FTS5, the two production backends are loaded the
way the indexer loads them (`outcome_document` → `upsert`) and asked the way the API asks
(`parse_q`, relevance sort, 10 hits): what users get must beat the plain baseline too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from bench import relevance
from services.gateway.search.analysis import Analyzer

pytestmark = pytest.mark.elasticsearch


@pytest.fixture
def es(elasticsearch_url: str) -> Iterator[Elasticsearch]:
    client = Elasticsearch(elasticsearch_url, request_timeout=60)
    try:
        yield client
    finally:
        client.close()


def _bench_indexes(es: Elasticsearch) -> set[str]:
    return set(es.indices.get(index=f"{relevance.INDEX_PREFIX}*", expand_wildcards="all"))


def test_our_pipeline_and_both_backends_beat_the_standard_baseline(
    es: Elasticsearch, elasticsearch_url: str
) -> None:
    papers = relevance.load_papers(limit=500)
    queries = relevance.keyword_queries(papers)
    assert len(queries) >= 100
    before = _bench_indexes(es)

    table = relevance.compare(es, papers, queries, Analyzer(), es_url=elasticsearch_url)

    for condition, systems in table.items():
        baseline = systems["es_standard_baseline"]
        for system in ("es_pipeline", "fts5_pipeline"):
            ours = systems[system]
            assert ours.queries == baseline.queries == len(queries)
            assert ours.recall >= baseline.recall, (condition, system, table)
            assert ours.ndcg >= baseline.ndcg, (condition, system, table)
        # What users get, through the backends the gateway runs.
        for system in ("backend_elasticsearch", "backend_embedded"):
            ours = systems[system]
            assert ours.queries == baseline.queries == len(queries)
            assert ours.recall > baseline.recall, (condition, system, table)
            assert ours.ndcg > baseline.ndcg, (condition, system, table)
    # The bench's temporary indexes (engines' and the backend's libraries) are gone.
    assert _bench_indexes(es) <= before
