"""`POST /api/v1/admin/reindex`: a library rebuilt from the index (alias swap on Elasticsearch)
answers the same searches afterwards; only admins may ask for it."""

from __future__ import annotations

import httpx

from tests.gateway.search.api.corpus import Corpus


async def _snapshot(gateway: httpx.AsyncClient, admin: dict[str, str]) -> tuple[int, list[str]]:
    listed = await gateway.get(
        "/api/v1/outcomes",
        params={"q": "研究", "page_size": 50, "sort": "relevance,title:asc"},
        headers=admin,
    )
    assert listed.status_code == 200, listed.text
    body = listed.json()
    return body["meta"]["count"], [r["id"] for r in body["results"]]


async def test_reindex_rebuilds_a_library_and_searches_answer_the_same(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    admin = corpus.headers["admin"]
    before = await _snapshot(gateway, admin)
    response = await gateway.post(
        "/api/v1/admin/reindex", params={"library": "outcomes"}, headers=admin
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["library"] == "outcomes"
    assert report["documents"] == len(corpus.outcomes)
    assert await _snapshot(gateway, admin) == before
    everything = await gateway.get("/api/v1/outcomes", params={"page_size": 1}, headers=admin)
    assert everything.json()["meta"]["count"] == len(corpus.outcomes)


async def test_reindex_is_for_admins_and_names_unknown_libraries(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    assert (
        await gateway.post("/api/v1/admin/reindex", params={"library": "outcomes"})
    ).status_code == 401
    reader = await gateway.post(
        "/api/v1/admin/reindex", params={"library": "outcomes"}, headers=corpus.headers["reader"]
    )
    assert reader.status_code == 403
    unknown = await gateway.post(
        "/api/v1/admin/reindex", params={"library": "outcome"}, headers=corpus.headers["admin"]
    )
    assert unknown.status_code == 400 and "library" in unknown.json()["detail"]
