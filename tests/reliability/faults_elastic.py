"""Looking inside a private Elasticsearch node: aliases, concrete indices, live documents."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx


async def alias_for(es: httpx.AsyncClient, library: str) -> str:
    """The alias the gateway reads `library` through (`<prefix>_<library>`)."""
    response = await es.get("/_alias")
    assert response.status_code == 200, response.text
    aliases = {name for body in response.json().values() for name in body["aliases"]}
    matching = [name for name in aliases if name.endswith(f"_{library}")]
    assert len(matching) == 1, f"aliases for {library}: {sorted(aliases)}"
    return matching[0]


async def concrete_indices(es: httpx.AsyncClient, alias: str) -> list[str]:
    """Every concrete index of an alias that exists, behind it or orphaned."""
    response = await es.get(f"/_cat/indices/{alias}_v*", params={"format": "json", "h": "index"})
    assert response.status_code == 200, response.text
    return sorted(row["index"] for row in response.json())


async def alias_targets(es: httpx.AsyncClient, alias: str) -> list[str]:
    response = await es.get(f"/_alias/{alias}")
    assert response.status_code == 200, response.text
    return sorted(response.json())


async def live_documents(es: httpx.AsyncClient, alias: str) -> Counter[tuple[str, int]]:
    """(record id, version) of every non-deleted document behind the alias, with counts."""
    assert (await es.post(f"/{alias}/_refresh")).status_code == 200
    found: Counter[tuple[str, int]] = Counter()
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {
            "size": 1000,
            "query": {"bool": {"must_not": [{"term": {"deleted": True}}]}},
            "sort": [{"_doc": "asc"}],
            "_source": ["id", "source.version"],
        }
        if after is not None:
            body["search_after"] = after
        response = await es.post(f"/{alias}/_search", json=body)
        assert response.status_code == 200, response.text
        hits = response.json()["hits"]["hits"]
        for hit in hits:
            source = hit["_source"]
            found[(source["id"], (source.get("source") or {}).get("version"))] += 1
        if len(hits) < 1000:
            return found
        after = hits[-1]["sort"]


def index_problems(documents: Counter[tuple[str, int]], expected: dict[str, int]) -> list[str]:
    """Duplicates, stale versions, missing and unexpected documents against id → version."""
    per_id = Counter(record_id for record_id, _ in documents.elements())
    problems = [f"{i} indexed {n} times" for i, n in per_id.items() if n > 1]
    versions = {record_id: version for record_id, version in documents}
    problems += [f"{i} not indexed" for i in sorted(set(expected) - set(versions))]
    problems += [f"{i} indexed, not stored" for i in sorted(set(versions) - set(expected))]
    problems += [
        f"{i} indexed v{versions[i]}, stored v{v}"
        for i, v in expected.items()
        if i in versions and versions[i] != v
    ]
    return problems
