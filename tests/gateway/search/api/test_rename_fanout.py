"""Renames reach the documents that show the name: an institution renamed through the gateway
(PATCH with If-Match) shows its new name in the expert and outcome hits that reference it, which
are then found by that name; an expert's new name reaches the outcomes it wrote.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.gateway.search.api.corpus import Corpus
from tests.gateway.search.api.corpus import ids_of
from tests.gateway.search.api.corpus import load
from tests.gateway.search.api.corpus import walk
from tests.helpers import assert_problem

# 中国科学院大学 was called 中国科学院研究生院 until 2012: renamed back, as an editor might.
OLD, NEW = "中国科学院大学", "中国科学院研究生院"
EXPERT_OLD, EXPERT_NEW = "张明远", "张明轩"
IndexNow = Callable[[], Awaitable[int]]


@pytest.fixture(scope="module")
async def corpus(
    gateway: httpx.AsyncClient, callers: dict[str, dict[str, str]], index_now: IndexNow
) -> Corpus:
    loaded = await load(gateway, callers["admin"], n_institutions=30, datasets=False)
    loaded.headers = callers
    await index_now()
    return loaded


async def all_hits(
    gateway: httpx.AsyncClient, corpus: Corpus, library: str, **params: Any
) -> dict[str, dict[str, Any]]:
    results, _ = await walk(gateway, f"/api/v1/{library}", params, corpus.headers["admin"])
    return {r["id"]: r for r in results}


async def rename(
    gateway: httpx.AsyncClient, corpus: Corpus, path: str, name: str, index_now: IndexNow
) -> None:
    admin = corpus.headers["admin"]
    read = await gateway.get(path, headers=admin)
    etag = read.headers["etag"]
    stale = await gateway.patch(
        path, json={"name": f"{name}（旧版本）"}, headers={**admin, "If-Match": '"v0"'}
    )
    assert_problem(stale, 412)
    response = await gateway.patch(path, json={"name": name}, headers={**admin, "If-Match": etag})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == name and response.headers["etag"] != etag
    await index_now()


def own_text(record: dict[str, Any]) -> str:
    return " ".join(
        str(record.get(k) or "") for k in ("title", "abstract", "bio", "name", "keywords")
    )


async def test_renamed_institution_reaches_experts_and_outcomes(
    gateway: httpx.AsyncClient, corpus: Corpus, index_now: IndexNow
) -> None:
    target = corpus.institutions[OLD]["id"]
    experts_before = await all_hits(gateway, corpus, "experts", filter=f"institution:{target}")
    outcomes_before = await all_hits(gateway, corpus, "outcomes", filter=f"institution:{target}")
    assert len(experts_before) >= 2 and len(outcomes_before) >= 10, "a real fan-out"
    assert all(OLD in e["institution_names"] for e in experts_before.values())
    assert all(OLD in o["institution_names"] for o in outcomes_before.values())

    await rename(gateway, corpus, f"/api/v1/institutions/{target}", NEW, index_now)

    experts = await all_hits(gateway, corpus, "experts", filter=f"institution:{target}")
    outcomes = await all_hits(gateway, corpus, "outcomes", filter=f"institution:{target}")
    assert experts.keys() == experts_before.keys() and outcomes.keys() == outcomes_before.keys()
    for expert in experts.values():
        assert NEW in expert["institution_names"] and OLD not in expert["institution_names"]
        names = {a["institution_id"]: a["institution_name"] for a in expert["affiliations"]}
        assert names[target] == NEW
        assert expert["version"] == experts_before[expert["id"]]["version"], "no write needed"
    for outcome in outcomes.values():
        assert NEW in outcome["institution_names"] and OLD not in outcome["institution_names"]
    # Untouched: records that do not reference it keep their names.
    others = await all_hits(gateway, corpus, "outcomes", filter=f"!institution:{target}")
    assert all(NEW not in o["institution_names"] for o in others.values())

    # Found by the new name (phrase, words, across libraries), no longer by the old one.
    admin = corpus.headers["admin"]
    for library, referencing in (("experts", experts), ("outcomes", outcomes)):
        by_phrase = await ids_of(gateway, f"/api/v1/{library}", {"q": f'"{NEW}"'}, admin)
        assert by_phrase == set(referencing), library
        assert set(referencing) <= await ids_of(gateway, f"/api/v1/{library}", {"q": NEW}, admin)
        old = await ids_of(gateway, f"/api/v1/{library}", {"q": f'"{OLD}"'}, admin)
        assert not {i for i in old & set(referencing) if OLD not in own_text(referencing[i])}
    across = await gateway.get("/api/v1/search", params={"q": f'"{NEW}"'}, headers=admin)
    buckets = across.json()["facets"]["library"]
    counts = {b["value"]: b["count"] for b in buckets if b["count"]}  # 活动库: none here
    assert counts == {"institutions": 1, "experts": len(experts), "outcomes": len(outcomes)}

    # Facet labels, suggestions and matching use the new name.
    faceted = await gateway.get(
        "/api/v1/outcomes", params={"facets": "institution", "page_size": 1}, headers=admin
    )
    labels = {b["value"]: b["label"] for b in faceted.json()["facets"]["institution"]}
    assert labels[target] == NEW
    suggested = await gateway.get("/api/v1/autocomplete", params={"q": "中国科学院研"})
    assert [s["id"] for s in suggested.json()["results"]][:1] == [target]
    stale = await gateway.get("/api/v1/autocomplete", params={"q": OLD})
    assert target not in [s["id"] for s in stale.json()["results"]]
    liu = await gateway.get("/api/v1/autocomplete", params={"q": "liuyang"})
    assert [s["hint"] for s in liu.json()["results"] if s["label"] == "刘洋"] == [NEW]
    matched = await gateway.get(
        "/api/v1/institutions/match", params={"affiliation": f"{NEW}计算机与控制学院，北京"}
    )
    chosen = [r for r in matched.json()["results"] if r["chosen"]]
    assert [(r["id"], r["name"]) for r in chosen] == [(target, NEW)]


async def test_renamed_expert_reaches_the_outcomes_they_wrote(
    gateway: httpx.AsyncClient, corpus: Corpus, index_now: IndexNow
) -> None:
    expert = next(e for e in corpus.experts if e["name"] == EXPERT_OLD)
    written = await all_hits(gateway, corpus, "outcomes", filter=f"author:{expert['id']}")
    assert len(written) >= 5
    assert all(EXPERT_OLD in o["author_names"] for o in written.values())

    await rename(gateway, corpus, f"/api/v1/experts/{expert['id']}", EXPERT_NEW, index_now)

    after = await all_hits(gateway, corpus, "outcomes", filter=f"author:{expert['id']}")
    assert after.keys() == written.keys()
    for outcome in after.values():
        assert EXPERT_NEW in outcome["author_names"] and EXPERT_OLD not in outcome["author_names"]
        byline = {a.get("expert_id"): a["name"] for a in outcome["authors"]}
        assert byline[expert["id"]] == EXPERT_NEW
        assert [a["order"] for a in outcome["authors"]] == sorted(
            a["order"] for a in outcome["authors"]
        )
        if "课题组" in written[outcome["id"]]["author_names"]:
            assert "课题组" in outcome["author_names"]  # printed names are kept
    admin = corpus.headers["admin"]
    found = await ids_of(gateway, "/api/v1/outcomes", {"q": EXPERT_NEW}, admin)
    assert set(written) <= found
    assert not await ids_of(gateway, "/api/v1/outcomes", {"q": EXPERT_OLD}, admin) & set(written)
    experts = await ids_of(gateway, "/api/v1/experts", {"q": EXPERT_NEW}, admin)
    assert expert["id"] in experts
    faceted = await gateway.get(
        "/api/v1/outcomes",
        params={"facets": "author", "filter": f"author:{expert['id']}"},
        headers=admin,
    )
    labels = {b["value"]: b["label"] for b in faceted.json()["facets"]["author"]}
    assert labels[expert["id"]] == EXPERT_NEW
    suggested = await gateway.get("/api/v1/autocomplete", params={"q": "zhangmingxuan"})
    assert [s["label"] for s in suggested.json()["results"]] == [EXPERT_NEW]
    gone = await gateway.get("/api/v1/autocomplete", params={"q": "zhangmingyuan"})
    assert expert["id"] not in [s["id"] for s in gone.json()["results"]]


async def test_a_refused_rename_changes_nothing_in_the_index(
    gateway: httpx.AsyncClient, corpus: Corpus, index_now: IndexNow
) -> None:
    target = corpus.institutions["清华大学"]["id"]
    admin = corpus.headers["admin"]
    refused = await gateway.patch(
        f"/api/v1/institutions/{target}",
        json={"name": "清华学校"},
        headers={**admin, "If-Match": '"v99"'},
    )
    assert_problem(refused, 412)
    await index_now()
    experts = await all_hits(gateway, corpus, "experts", filter=f"institution:{target}")
    assert experts and all("清华大学" in e["institution_names"] for e in experts.values())
    assert not await ids_of(gateway, "/api/v1/experts", {"q": '"清华学校"'}, admin)


async def test_a_moved_institution_moves_its_experts_province(
    gateway: httpx.AsyncClient, corpus: Corpus, index_now: IndexNow
) -> None:
    """An expert's `province` filter is its primary institution's: it follows a change."""
    record = corpus.institutions["北京大学医学部"]
    path = f"/api/v1/institutions/{record['id']}"
    admin = corpus.headers["admin"]
    primary = {
        e["id"]
        for e in corpus.experts
        if e["affiliations"] and e["affiliations"][0]["institution_id"] == record["id"]
    }
    assert primary and record["province"] == "北京"
    before = await ids_of(gateway, "/api/v1/experts", {"filter": "province:北京"}, admin)
    assert primary <= before
    etag = (await gateway.get(path, headers=admin)).headers["etag"]
    moved = await gateway.patch(
        path, json={"region_code": "110102", "province": None}, headers={**admin, "If-Match": etag}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["province"] == "北京市"
    await index_now()
    after = await ids_of(gateway, "/api/v1/experts", {"filter": "province:北京市"}, admin)
    assert after == primary
    assert not primary & await ids_of(
        gateway, "/api/v1/experts", {"filter": "province:北京"}, admin
    )
