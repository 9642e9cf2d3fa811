"""Visibility on every search route, for every kind of caller, on real data.

Outcomes are public, partner or internal and owned by "cast" or "csae"; callers are
anonymous, a reader of cast, a reader of csae, and an admin. For each route the hits, counts,
facet counts, suggestions, statistics, candidates and highlights must be exactly what the
caller may see (the rule is written out in corpus.sees), and nothing invisible may appear
anywhere in a response body.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from tests.gateway.search.api.corpus import CALLERS
from tests.gateway.search.api.corpus import Corpus
from tests.gateway.search.api.corpus import ids_of
from tests.gateway.search.api.corpus import sees
from tests.gateway.search.api.corpus import walk
from tests.helpers import assert_problem

OUTCOMES = "/api/v1/outcomes"
QUERIES = ("算法", "图像 OR 遥感", "优化 -算法", '"遗传算法"')
pytestmark = pytest.mark.parametrize("caller", CALLERS)


def _facet_values(o: dict[str, Any], field: str) -> list[Any]:
    return {
        "type": [o["type"]],
        "year": [int(o["published_on"][:4])],
        "visibility": [o["visibility"]],
        "owner_org": [o["owner_org"]],
        "institution": o["institution_ids"],
        "author": [a["expert_id"] for a in o["authors"] if a.get("expert_id")],
        "keyword": o["keywords"],
    }[field]


FACETS = "type,year,visibility,owner_org,institution,author,keyword"


def assert_facets(body: dict[str, Any], outcomes: list[dict[str, Any]]) -> None:
    for field in FACETS.split(","):
        expected: Counter[Any] = Counter()
        for o in outcomes:
            expected.update(set(_facet_values(o, field)))
        got = {b["value"]: b["count"] for b in body["facets"][field]}
        assert len(got) == min(len(expected), 50), field
        for value, count in got.items():
            assert count == expected[value], (field, value, count, expected[value])


def invisible(corpus: Corpus, caller: str) -> list[dict[str, Any]]:
    return [o for o in corpus.outcomes if not sees(caller, o["visibility"], o["owner_org"])]


def assert_nothing_invisible(text: str, corpus: Corpus, caller: str) -> None:
    for o in invisible(corpus, caller):
        assert o["id"] not in text and o["title"] not in text, (caller, o["visibility"])


async def admin_ids(
    gateway: httpx.AsyncClient, corpus: Corpus, path: str, **params: Any
) -> set[str]:
    return await ids_of(gateway, path, params, corpus.headers["admin"])


async def test_lists_show_exactly_the_visible_outcomes_with_their_facets(
    gateway: httpx.AsyncClient, corpus: Corpus, caller: str
) -> None:
    h = corpus.headers[caller]
    visible = corpus.visible_outcomes(caller)
    if caller != "admin":
        assert 0 < len(visible) < len(corpus.outcomes)
    results, count = await walk(gateway, OUTCOMES, {}, h)
    assert {r["id"] for r in results} == {o["id"] for o in visible}
    assert count == len(visible)
    response = await gateway.get(OUTCOMES, params={"facets": FACETS, "page_size": 100}, headers=h)
    assert response.status_code == 200
    body = response.json()
    assert body["meta"]["count"] == len(visible)
    assert_facets(body, visible)
    assert_nothing_invisible(response.text, corpus, caller)
    levels = {b["value"] for b in body["facets"]["visibility"]}
    assert levels == {o["visibility"] for o in visible}


async def test_text_search_hits_counts_facets_and_highlights(
    gateway: httpx.AsyncClient, corpus: Corpus, caller: str
) -> None:
    h = corpus.headers[caller]
    visible = {o["id"]: o for o in corpus.visible_outcomes(caller)}
    for q in QUERIES:
        everything = await admin_ids(gateway, corpus, OUTCOMES, q=q)
        mine = await ids_of(gateway, OUTCOMES, {"q": q}, h)
        assert mine == everything & visible.keys(), q
        response = await gateway.get(
            OUTCOMES, params={"q": q, "facets": FACETS, "page_size": 100}, headers=h
        )
        body = response.json()
        assert body["meta"]["count"] == len(mine)
        assert_facets(body, [visible[i] for i in mine])
        assert_nothing_invisible(response.text, corpus, caller)
        for hit in body["results"]:
            for fragments in hit.get("highlight", {}).values():
                assert all("<em>" in f for f in fragments)


async def test_filters_cannot_widen_what_a_caller_sees(
    gateway: httpx.AsyncClient, corpus: Corpus, caller: str
) -> None:
    h = corpus.headers[caller]
    visible = corpus.visible_outcomes(caller)

    def restricted(o: dict[str, Any]) -> bool:
        return o["visibility"] != "public"

    def csae(o: dict[str, Any]) -> bool:
        return o["owner_org"] == "csae"

    for raw, test in (
        ("visibility:internal", lambda o: o["visibility"] == "internal"),
        ("visibility:internal|partner,owner_org:csae", lambda o: restricted(o) and csae(o)),
        ("!visibility:public", restricted),
        ("owner_org:cast", lambda o: not csae(o)),
    ):
        expected = {o["id"] for o in visible if test(o)}
        assert await ids_of(gateway, OUTCOMES, {"filter": raw}, h) == expected, raw


async def test_cross_library_search_counts_only_visible_outcomes(
    gateway: httpx.AsyncClient, corpus: Corpus, caller: str
) -> None:
    h = corpus.headers[caller]
    visible = {o["id"] for o in corpus.visible_outcomes(caller)}
    for q in ("算法", "清华", "电力 OR 电网"):
        everything = await admin_ids(gateway, corpus, OUTCOMES, q=q)
        response = await gateway.get("/api/v1/search", params={"q": q, "page_size": 100}, headers=h)
        body = response.json()
        facet = {b["value"]: b["count"] for b in body["facets"]["library"]}
        assert facet["outcomes"] == len(everything & visible), q
        assert_nothing_invisible(response.text, corpus, caller)
        walked, count = await walk(gateway, "/api/v1/search", {"q": q}, h)
        assert count == sum(facet.values())
        assert {r["id"] for r in walked if r["library"] == "outcomes"} == everything & visible


def _unique_prefix(title: str, titles: list[str]) -> str:
    for n in range(4, len(title) + 1):
        if sum(t.startswith(title[:n]) for t in titles) == 1:
            return title[:n]
    raise AssertionError(f"no unique prefix for {title}")


async def test_autocomplete_suggests_only_visible_outcomes(
    gateway: httpx.AsyncClient, corpus: Corpus, caller: str
) -> None:
    h = corpus.headers[caller]
    titles = [o["title"] for o in corpus.outcomes]
    checked: set[tuple[str, str]] = set()
    for o in corpus.outcomes:
        kind = (o["visibility"], o["owner_org"])
        if kind in checked:
            continue
        checked.add(kind)
        prefix = _unique_prefix(o["title"], titles)
        response = await gateway.get(
            "/api/v1/autocomplete", params={"q": prefix, "libraries": "outcomes"}, headers=h
        )
        assert response.status_code == 200
        ids = [s["id"] for s in response.json()["results"]]
        assert (o["id"] in ids) == sees(caller, *kind), (caller, kind)
        assert_nothing_invisible(response.text, corpus, caller)
    assert len(checked) == 6
    # A broad prefix: whatever is suggested is visible.
    response = await gateway.get("/api/v1/autocomplete", params={"q": "基于"}, headers=h)
    assert response.json()["results"] and len(response.json()["results"]) <= 10
    assert_nothing_invisible(response.text, corpus, caller)


async def test_statistics_count_only_visible_outcomes(
    gateway: httpx.AsyncClient, corpus: Corpus, caller: str
) -> None:
    h = corpus.headers[caller]
    visible = corpus.visible_outcomes(caller)
    for group_by in ("type,year", "visibility", "owner_org,visibility", "institution"):
        response = await gateway.get(
            "/api/v1/stats/outcomes", params={"group_by": group_by}, headers=h
        )
        body = response.json()
        fields = group_by.split(",")
        expected: Counter[tuple[Any, ...]] = Counter()
        for o in visible:
            values = [_facet_values(o, f) for f in fields]
            if len(values) == 1:
                expected.update((v,) for v in set(values[0]))
            else:
                expected.update((a, b) for a in set(values[0]) for b in set(values[1]))
        got = {tuple(r["key"][f] for f in fields): r["count"] for r in body["results"]}
        assert got == dict(expected), group_by
        assert body["total"] == len(visible)
        assert_nothing_invisible(response.text, corpus, caller)
    everything = await admin_ids(gateway, corpus, OUTCOMES, q="算法")
    response = await gateway.get(
        "/api/v1/stats/outcomes", params={"group_by": "type", "q": "算法"}, headers=h
    )
    assert response.json()["total"] == len(everything & {o["id"] for o in visible})


async def test_affiliation_candidates_are_the_same_for_everyone(
    gateway: httpx.AsyncClient, corpus: Corpus, caller: str
) -> None:
    for affiliation in ("清华大学计算机科学与技术系，北京 100084", "北京", "华北电力大学（北京）"):
        mine = await gateway.get(
            "/api/v1/institutions/match",
            params={"affiliation": affiliation},
            headers=corpus.headers[caller],
        )
        admin = await gateway.get(
            "/api/v1/institutions/match",
            params={"affiliation": affiliation},
            headers=corpus.headers["admin"],
        )
        assert mine.json() == admin.json()
        assert all(r["id"].startswith("ins_") for r in mine.json()["results"])


async def test_related_routes_show_only_visible_outcomes(
    gateway: httpx.AsyncClient, corpus: Corpus, caller: str
) -> None:
    h = corpus.headers[caller]
    visible = {o["id"] for o in corpus.visible_outcomes(caller)}
    for name in ("清华大学", "中国科学院大学", "华北电力大学(北京)"):
        path = f"/api/v1/institutions/{corpus.institutions[name]['id']}/outcomes"
        everything = await admin_ids(gateway, corpus, path)
        assert everything, name
        assert await ids_of(gateway, path, {}, h) == everything & visible
        response = await gateway.get(path, params={"facets": "visibility"}, headers=h)
        counts = {b["value"]: b["count"] for b in response.json()["facets"]["visibility"]}
        assert sum(counts.values()) == len(everything & visible)
        assert_nothing_invisible(response.text, corpus, caller)
    for expert in corpus.experts[:4]:
        path = f"/api/v1/experts/{expert['id']}/outcomes"
        everything = await admin_ids(gateway, corpus, path)
        assert await ids_of(gateway, path, {"q": "研究 OR 算法 OR 分析"}, h) == (
            everything
            & visible
            & await admin_ids(gateway, corpus, OUTCOMES, q="研究 OR 算法 OR 分析")
        )
        experts = await ids_of(
            gateway,
            f"/api/v1/institutions/{expert['affiliations'][0]['institution_id']}/experts",
            {},
            h,
        )
        assert expert["id"] in experts  # experts are public


async def test_a_cursor_from_a_wider_caller_reveals_nothing(
    gateway: httpx.AsyncClient, corpus: Corpus, caller: str
) -> None:
    admin = await gateway.get(
        OUTCOMES,
        params={"q": "算法", "cursor": "*", "page_size": 5},
        headers=corpus.headers["admin"],
    )
    cursor = admin.json()["meta"]["next_cursor"]
    visible = {o["id"] for o in corpus.visible_outcomes(caller)}
    seen: set[str] = set()
    while cursor:
        response = await gateway.get(
            OUTCOMES,
            params={"q": "算法", "cursor": cursor, "page_size": 5},
            headers=corpus.headers[caller],
        )
        assert response.status_code == 200
        seen |= {r["id"] for r in response.json()["results"]}
        cursor = response.json()["meta"]["next_cursor"]
    assert seen <= visible


async def test_special_database_records_follow_the_database_visibility(
    gateway: httpx.AsyncClient, corpus: Corpus, caller: str
) -> None:
    h = corpus.headers[caller]
    public = corpus.records["csl-papers"]
    found, count = await walk(gateway, "/api/v1/datasets/csl-papers/records", {}, h)
    assert count == len(public) and {r["id"] for r in found} == {r["id"] for r in public}
    internal = corpus.records["csl-internal"]
    may = sees(caller, "internal", "cast")
    for params in ({}, {"q": internal[0]["values"]["title"][:4]}, {"facets": "category"}):
        response = await gateway.get(
            "/api/v1/datasets/csl-internal/records", params=params, headers=h
        )
        if may:
            assert response.status_code == 200, response.text
            if not params:
                assert response.json()["meta"]["count"] == len(internal)
        else:
            assert_problem(response, 404)
            assert all(r["values"]["title"] not in response.text for r in internal)
            assert all(r["id"] not in response.text for r in internal)
    # Records of an invisible database never surface in a visible database's search either.
    response = await gateway.get(
        "/api/v1/datasets/csl-papers/records",
        params={"q": internal[0]["values"]["title"][:4]},
        headers=h,
    )
    assert all(r["id"] not in response.text for r in internal)
