"""The search API end to end: gateway (ASGI) → real services → change feeds → the real index.

Real data (universities, CSL papers, experts, a special database) is loaded through the API
as admin; every expectation is derived from what was loaded, on both backends (SQLite +
embedded index, PostgreSQL + Elasticsearch). Visibility per caller is in
test_search_visibility.py, renames in test_rename_fanout.py.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections import Counter
from datetime import date
from typing import Any

import httpx
import pytest

from services.gateway.search.analysis import normalize
from services.gateway.search.query import query_fingerprint
from services.kernel.library import record_libraries
from services.vocabularies.disciplines import disciplines
from tests.gateway.search.api.corpus import Corpus
from tests.gateway.search.api.corpus import ids_of
from tests.gateway.search.api.corpus import walk
from tests.helpers import assert_problem

OUTCOMES = "/api/v1/outcomes"
TYPE_LABELS = {"paper": "论文", "research_report": "研究报告", "policy_brief": "政策建议"}
VISIBILITY_LABELS = {"public": "公开", "partner": "合作单位", "internal": "内部"}


async def get(
    gateway: httpx.AsyncClient, path: str, corpus: Corpus, caller: str = "admin", **params: Any
) -> dict[str, Any]:
    response = await gateway.get(path, params=params, headers=corpus.headers[caller])
    assert response.status_code == 200, (path, params, response.text)
    return response.json()


async def outcome_ids(gateway: httpx.AsyncClient, corpus: Corpus, **params: Any) -> set[str]:
    return await ids_of(gateway, OUTCOMES, params, corpus.headers["admin"])


def texts(outcome: dict[str, Any]) -> list[str]:
    return [outcome["title"], outcome.get("abstract") or "", *outcome["keywords"]]


def first_day(published_on: str) -> date:
    parts = [int(p) for p in published_on.split("-")]
    return date(parts[0], *[*parts[1:], 1, 1][:2])


def where(corpus: Corpus, test: Any) -> set[str]:
    return {o["id"] for o in corpus.outcomes if test(o)}


# --- q -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [("算法", "优化"), ("图像", "检测"), ("神经网络", "预测")])
async def test_words_and_or_and_exclusion_compose_as_sets(
    gateway: httpx.AsyncClient, corpus: Corpus, a: str, b: str
) -> None:
    only_a = await outcome_ids(gateway, corpus, q=a)
    only_b = await outcome_ids(gateway, corpus, q=b)
    assert only_a and only_b and only_a != only_b, "the words must both occur in the slice"
    assert await outcome_ids(gateway, corpus, q=f"{a} {b}") == only_a & only_b
    assert await outcome_ids(gateway, corpus, q=f"{b}  {a}") == only_a & only_b
    assert await outcome_ids(gateway, corpus, q=f"{a} OR {b}") == only_a | only_b
    assert await outcome_ids(gateway, corpus, q=f"{a} -{b}") == only_a - only_b
    everything = {o["id"] for o in corpus.outcomes}
    assert await outcome_ids(gateway, corpus, q=f"-{b}") == everything - only_b


@pytest.mark.parametrize("word", ["遗传算法", "神经网络", "图像分割", "粒子滤波"])
async def test_chinese_word_finds_every_paper_with_it_and_only_matching_ones(
    gateway: httpx.AsyncClient, corpus: Corpus, word: str
) -> None:
    found = await outcome_ids(gateway, corpus, q=word)
    literal = where(corpus, lambda o: any(word in t for t in texts(o)))
    assert literal, f"{word} must occur in the slice"
    assert literal <= found, "a paper containing the word was not found"
    by_id = {o["id"]: o for o in corpus.outcomes}
    for hit in found:
        # Segmented (into its two words, or bigrams): both halves occur in the text.
        text = " ".join(texts(by_id[hit]))
        assert word[:2] in text and word[2:] in text, (word, hit)


async def test_a_long_word_matches_by_most_of_its_parts_and_says_so(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    """`遗传算法优化` is three parts: papers holding two of them match too, complete ones first,
    and `meta.matching` says `most`; a word of two parts needs both (`all`)."""
    admin = corpus.headers["admin"]
    long_word = await gateway.get(OUTCOMES, params={"q": "遗传算法优化"}, headers=admin)
    body = long_word.json()
    assert body["meta"]["matching"] == "most"
    found = {r["id"] for r in body["results"]}
    complete = where(
        corpus, lambda o: all(any(w in t for t in texts(o)) for w in ("遗传", "算法", "优化"))
    )
    partial = where(
        corpus, lambda o: sum(any(w in t for t in texts(o)) for w in ("遗传", "算法", "优化")) == 2
    )
    assert complete and partial - complete, "the slice must hold both kinds (a real test)"
    assert body["meta"]["count"] == len(complete | partial)
    ranked = [r["id"] for r in body["results"]]
    first_partial = next(i for i, rid in enumerate(ranked) if rid not in complete)
    assert set(ranked[:first_partial]) <= complete and found <= complete | partial
    short = await gateway.get(OUTCOMES, params={"q": "图像分割"}, headers=admin)
    assert short.json()["meta"]["matching"] == "all"
    listed = await gateway.get(OUTCOMES, headers=admin)
    assert listed.json()["meta"]["matching"] is None


async def test_a_paper_whose_keyword_is_the_query_ranks_first(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    tried = 0
    for keyword in sorted({k for o in corpus.outcomes for k in o["keywords"]})[:40]:
        # As the platform compares them: `Chirp-Z变换` and `chirp-z变换` are one keyword.
        carriers = {
            o["id"]
            for o in corpus.outcomes
            if normalize(keyword) in {normalize(k) for k in o["keywords"]}
        }
        response = await gateway.get(
            OUTCOMES,
            params={"q": keyword, "page_size": len(carriers)},
            headers=corpus.headers["admin"],
        )
        assert response.status_code == 200, response.text
        assert {r["id"] for r in response.json()["results"]} == carriers, keyword
        tried += 1
    assert tried == 40


@pytest.mark.parametrize(
    ("q", "first"),
    [
        ("北京大学", "北京大学"),  # named exactly: before 北京大学医学部
        ("北大", "北京大学"),  # a short form built from its words
        ("华北电力大学", "华北电力大学"),  # before its campus 华北电力大学(北京)
        ("THU", "清华大学"),  # an acronym of the record
        ("国立清华大学", "清华大学"),  # a former name
        ("qinghuadaxue", "清华大学"),
    ],
)
async def test_institutions_named_by_the_query_come_first(
    gateway: httpx.AsyncClient, corpus: Corpus, q: str, first: str
) -> None:
    response = await gateway.get("/api/v1/institutions", params={"q": q, "page_size": 3})
    names = [r["name"] for r in response.json()["results"]]
    assert names and names[0] == first, (q, names)


async def test_an_expert_named_by_the_query_comes_first(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    for expert in corpus.experts[:10]:
        response = await gateway.get(
            "/api/v1/experts", params={"q": expert["name"]}, headers=corpus.headers["admin"]
        )
        same_name = [r for r in response.json()["results"] if r["name"] == expert["name"]]
        assert same_name and response.json()["results"][0]["name"] == expert["name"]


async def test_quoted_phrase_needs_the_words_adjacent(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    separated_seen = 0
    for phrase in ("图像分割", "粒子滤波", "遗传算法"):
        head, tail = phrase[:2], phrase[2:]
        phrased = await outcome_ids(gateway, corpus, q=f'"{phrase}"')
        both = await outcome_ids(gateway, corpus, q=f"{head} {tail}")
        literal = where(corpus, lambda o, p=phrase: any(p in t for t in texts(o)))
        separated = where(
            corpus,
            lambda o, h=head, t=tail, p=phrase: (
                not any(p in x for x in texts(o))
                and any(h in x for x in texts(o))
                and any(t in x for x in texts(o))
            ),
        )
        assert literal <= phrased <= both, phrase
        assert not phrased & separated, f'"{phrase}" matched papers where the words are apart'
        separated_seen += len(separated & both)
    assert separated_seen, "the slice must hold a paper with the words apart (a real test)"


async def test_empty_q_lists_everything_and_relevance_is_the_default_with_q(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    assert (await get(gateway, OUTCOMES, corpus, q="  "))["meta"]["count"] == len(corpus.outcomes)
    ranked = await get(gateway, OUTCOMES, corpus, q="遗传算法", page_size=3)
    top = ranked["results"][0]
    # Title and keywords weigh more than the abstract.
    assert "遗传算法" in top["title"] or "遗传算法" in top["keywords"], top["title"]
    explicit = await get(gateway, OUTCOMES, corpus, q="遗传算法", sort="relevance", page_size=3)
    assert [r["id"] for r in explicit["results"]] == [r["id"] for r in ranked["results"]]


# --- filter ------------------------------------------------------------------------------------


def _year(o: dict[str, Any]) -> int:
    return int(o["published_on"][:4])


def _is(o: dict[str, Any], **fields: Any) -> bool:
    return all(o[k] == v for k, v in fields.items())


FILTERS: list[tuple[str, Any]] = [
    ("type:research_report|policy_brief", lambda o: o["type"] != "paper"),
    ("!type:paper", lambda o: o["type"] != "paper"),
    ("year:2018..2020", lambda o: 2018 <= _year(o) <= 2020),
    ("year:2020..", lambda o: _year(o) >= 2020),
    ("year:..2011", lambda o: _year(o) <= 2011),
    ("year:2012|2014", lambda o: _year(o) in (2012, 2014)),
    ("!year:2010..2018", lambda o: _year(o) > 2018),
    ("owner_org:csae,visibility:partner", lambda o: _is(o, owner_org="csae", visibility="partner")),
    ("keyword:遗传算法", lambda o: "遗传算法" in o["keywords"]),
    ("discipline:F02|E07", lambda o: {"F02", "E07"} & set(o["disciplines"])),
    ("has_doi:false,language:zh", lambda o: True),
    (
        "type:paper,!visibility:internal,year:2015..",
        lambda o: _is(o, type="paper") and o["visibility"] != "internal" and _year(o) >= 2015,
    ),
]


@pytest.mark.parametrize(("raw", "test"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_filters_select_exactly_the_matching_records(
    gateway: httpx.AsyncClient, corpus: Corpus, raw: str, test: Any
) -> None:
    expected = where(corpus, test)
    assert expected, f"{raw} must select something in the slice"
    assert await outcome_ids(gateway, corpus, filter=raw) == expected


async def test_date_ranges_use_calendar_bounds(gateway: httpx.AsyncClient, corpus: Corpus) -> None:
    for raw, low, high in (
        ("published_on:2015-03..2016-06", date(2015, 3, 1), date(2016, 6, 30)),
        # A year or a month as one value is the whole period, as at the ends of a range.
        ("published_on:2013", date(2013, 1, 1), date(2013, 12, 31)),
        ("published_on:2016-05", date(2016, 5, 1), date(2016, 5, 31)),
        ("published_on:2012-02-01..2012-12-31", date(2012, 2, 1), date(2012, 12, 31)),
        ("published_on:..2010-12", date(1800, 1, 1), date(2010, 12, 31)),
    ):
        expected = where(corpus, lambda o, a=low, b=high: a <= first_day(o["published_on"]) <= b)
        assert expected, raw
        assert await outcome_ids(gateway, corpus, filter=raw) == expected, raw


async def test_related_ids_filters_and_q_with_filter(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    tsinghua = corpus.institutions["清华大学"]["id"]
    expert = corpus.experts[0]["id"]
    assert await outcome_ids(gateway, corpus, filter=f"institution:{tsinghua}") == where(
        corpus, lambda o: tsinghua in o["institution_ids"]
    )
    assert await outcome_ids(gateway, corpus, filter=f"author:{expert}") == where(
        corpus, lambda o: expert in [a.get("expert_id") for a in o["authors"]]
    )
    words = await outcome_ids(gateway, corpus, q="算法")
    recent = where(corpus, lambda o: 2015 <= _year(o) <= 2017)
    assert await outcome_ids(gateway, corpus, q="算法", filter="year:2015..2017") == words & recent


# --- sort and paging ---------------------------------------------------------------------------


async def _pages(
    gateway: httpx.AsyncClient, corpus: Corpus, path: str, size: int, **params: Any
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    page = 1
    while True:
        body = await get(gateway, path, corpus, page=page, page_size=size, **params)
        assert body["meta"]["page"] == page and body["meta"]["page_size"] == size
        results += body["results"]
        if len(body["results"]) < size:
            assert len(results) == body["meta"]["count"]
            return results
        page += 1


async def test_default_sort_without_q_is_newest_first_with_ties_by_id(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    results = await _pages(gateway, corpus, OUTCOMES, 13)
    ids = [r["id"] for r in results]
    assert len(ids) == len(set(ids)) == len(corpus.outcomes), "pages repeat or skip records"
    keys = [(first_day(r["published_on"]), r["id"]) for r in results]
    for before, after in itertools.pairwise(keys):
        assert before[0] > after[0] or (before[0] == after[0] and before[1] < after[1])


@pytest.mark.parametrize("direction", ["asc", "desc"])
async def test_sort_by_a_field_pages_stably_through_ties(
    gateway: httpx.AsyncClient, corpus: Corpus, direction: str
) -> None:
    results = await _pages(gateway, corpus, OUTCOMES, 9, sort=f"year:{direction}")
    assert len({r["id"] for r in results}) == len(results) == len(corpus.outcomes)
    years = [r["published_year"] for r in results]
    assert years == sorted(years, reverse=direction == "desc")
    for year in set(years):  # 150 papers over 11 years: ties everywhere, broken by id
        tied = [r["id"] for r in results if r["published_year"] == year]
        assert tied == sorted(tied)
    walked, _ = await walk(
        gateway, OUTCOMES, {"sort": f"year:{direction}"}, corpus.headers["admin"], page_size=9
    )
    assert [r["id"] for r in walked] == [r["id"] for r in results]


async def test_the_default_sorts_are_documented_and_followed(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    paths = (await gateway.get("/openapi.json")).json()["paths"]
    for library, default in (
        ("outcomes", "published_on:desc"),
        ("experts", "name:asc"),
        ("institutions", "name:asc"),
    ):
        description = paths[f"/api/v1/{library}"]["get"]["description"]
        assert f"default sort: relevance with q, else {default}" in description, library
        assert "`year` (年份)" in description or library != "outcomes"


async def test_experts_default_to_pinyin_order_and_multi_key_sort(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    experts = (await get(gateway, "/api/v1/experts", corpus, page_size=100))["results"]
    readings = [e["name_pinyin"].replace(" ", "") for e in experts]
    assert readings == sorted(readings) and len(experts) == len(corpus.experts)
    two = await get(gateway, OUTCOMES, corpus, sort="year:desc,title:asc", page_size=100)
    assert two["meta"]["count"] == len(corpus.outcomes)


async def test_sort_with_missing_values_pages_by_cursor(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    with_year = sum(1 for r in corpus.institutions.values() if r.get("established_year"))
    assert 0 < with_year < len(corpus.institutions)
    for direction in ("asc", "desc"):
        results, count = await walk(
            gateway,
            "/api/v1/institutions",
            {"sort": f"established_year:{direction}"},
            corpus.headers["admin"],
            page_size=4,
        )
        assert count == len(corpus.institutions)
        years = [r["established_year"] for r in results]
        assert all(y is not None for y in years[:with_year]), "missing values sort last"
        assert all(y is None for y in years[with_year:])
        assert years[:with_year] == sorted(years[:with_year], reverse=direction == "desc")


async def test_relevance_ranked_results_page_by_cursor_without_gaps(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    for q in ("算法", "研究 OR 分析", "-算法"):
        walked, count = await walk(gateway, OUTCOMES, {"q": q}, corpus.headers["admin"], 4)
        paged = await _pages(gateway, corpus, OUTCOMES, 4, q=q)
        assert {r["id"] for r in walked} == {r["id"] for r in paged}
        assert count == len(paged) > 0


async def test_page_window_and_cursors(gateway: httpx.AsyncClient, corpus: Corpus) -> None:
    last = await get(gateway, OUTCOMES, corpus, page=500, page_size=20)
    assert last["results"] == [] and last["meta"]["count"] == len(corpus.outcomes)
    for page, size in ((501, 20), (101, 100), (10_001, 1)):
        response = await gateway.get(
            OUTCOMES, params={"page": page, "page_size": size}, headers=corpus.headers["admin"]
        )
        body = assert_problem(response, 400, "page")
        assert "cursor" in body["detail"]
    for size in (0, 101):
        response = await gateway.get(OUTCOMES, params={"page_size": size})
        assert response.status_code in (400, 422) and "page_size" in response.text
    _, count = await walk(
        gateway, OUTCOMES, {"filter": "type:paper", "sort": "year:asc"}, corpus.headers["admin"], 7
    )
    assert count == len(where(corpus, lambda o: o["type"] == "paper"))


async def test_a_cursor_belongs_to_its_query(gateway: httpx.AsyncClient, corpus: Corpus) -> None:
    admin = corpus.headers["admin"]
    first = await get(gateway, OUTCOMES, corpus, q="算法", cursor="*", page_size=5)
    cursor = first["meta"]["next_cursor"]
    assert cursor and first["meta"]["page"] is None
    following = await get(gateway, OUTCOMES, corpus, q="算法", cursor=cursor, page_size=5)
    assert not {r["id"] for r in following["results"]} & {r["id"] for r in first["results"]}
    for path, params in (
        (OUTCOMES, {"q": "优化"}),
        (OUTCOMES, {"q": "算法", "filter": "year:2015"}),
        (OUTCOMES, {"q": "算法", "sort": "year:desc"}),
        ("/api/v1/experts", {"q": "算法"}),
        ("/api/v1/search", {"q": "算法"}),
    ):
        response = await gateway.get(path, params={**params, "cursor": cursor}, headers=admin)
        body = assert_problem(response, 400, "cursor")
        assert "cursor=*" in body["detail"]
    for bad in ("not-a-cursor", "e30", base64.urlsafe_b64encode(b"[1,2]").decode()):
        response = await gateway.get(OUTCOMES, params={"q": "算法", "cursor": bad}, headers=admin)
        assert_problem(response, 400, "cursor")
    both = await gateway.get(
        OUTCOMES, params={"q": "算法", "cursor": cursor, "page": 2}, headers=admin
    )
    assert_problem(both, 400, "page")


@pytest.mark.parametrize(
    "after",
    [[], ["x"], [1.5, "out_x", "extra", 4], [{"$gt": 1}, "out_x"], [None, None], [[1], "out_x"]],
)
async def test_a_forged_cursor_is_a_400_never_a_500(
    gateway: httpx.AsyncClient, corpus: Corpus, after: list[Any]
) -> None:
    """A cursor is only base64 JSON: a client can forge one for the right query."""
    fingerprint = query_fingerprint("outcomes", "算法", None, None)
    raw = json.dumps({"after": after, "q": fingerprint}).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = await gateway.get(
        OUTCOMES, params={"q": "算法", "cursor": cursor}, headers=corpus.headers["admin"]
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert_problem(response, 400, "cursor")


# --- facets, select, highlight, meta -----------------------------------------------------------


def _expected_facet(outcomes: list[dict[str, Any]], field: str) -> Counter[Any]:
    counts: Counter[Any] = Counter()
    for o in outcomes:
        values = {
            "type": [o["type"]],
            "year": [o["published_year"]],
            "visibility": [o["visibility"]],
            "institution": o["institution_ids"],
            "keyword": o["keywords"],
            "discipline": o["discipline_codes"],
            "owner_org": [o["owner_org"]],
            "author": o["author_expert_ids"],
            "has_doi": [bool(o["doi"])],
        }[field]
        counts.update(set(values))
    return counts


@pytest.mark.parametrize(
    "params",
    [{}, {"q": "算法"}, {"filter": "year:2015..2018,!type:paper"}, {"q": "图像 OR 遥感"}],
    ids=["all", "q", "filter", "or"],
)
async def test_facets_count_the_matching_records_with_chinese_labels(
    gateway: httpx.AsyncClient, corpus: Corpus, params: dict[str, str]
) -> None:
    names = "type,year,visibility,institution,discipline,owner_org,author,keyword,has_doi"
    body = await get(gateway, OUTCOMES, corpus, facets=names, page_size=1, **params)
    matching, count = await walk(gateway, OUTCOMES, params, corpus.headers["admin"])
    assert body["meta"]["count"] == count
    vocabulary = disciplines()
    names_by_id = {r["id"]: r["name"] for r in corpus.institutions.values()}
    experts_by_id = {e["id"]: e["name"] for e in corpus.experts}
    for field in names.split(","):
        buckets = body["facets"][field]
        expected = _expected_facet(matching, field)
        counts = [b["count"] for b in buckets]
        assert counts == sorted(counts, reverse=True), field
        assert len(buckets) == min(len(expected), 50), field
        for bucket in buckets:
            assert bucket["count"] == expected[bucket["value"]], (field, bucket)
            label = {
                "type": TYPE_LABELS.get(bucket["value"]),
                "visibility": VISIBILITY_LABELS.get(bucket["value"]),
                "institution": names_by_id.get(bucket["value"]),
                "author": experts_by_id.get(bucket["value"]),
                "discipline": vocabulary.label(str(bucket["value"])),
                "has_doi": {True: "是", False: "否"}.get(bucket["value"]),
            }.get(field, str(bucket["value"]))
            assert bucket["label"] == label, (field, bucket)


async def test_select_highlight_and_meta(gateway: httpx.AsyncClient, corpus: Corpus) -> None:
    body = await get(
        gateway, OUTCOMES, corpus, q="遗传算法", select="title,published_year", page_size=50
    )
    meta = body["meta"]
    assert isinstance(meta["took_ms"], int) and meta["took_ms"] >= 0
    assert meta["page"] == 1 and meta["page_size"] == 50 and meta["next_cursor"] is None
    assert meta["count"] == len(body["results"]) > 0
    for result in body["results"]:
        assert set(result) <= {"id", "title", "published_year", "highlight"}, set(result)
        if "遗传算法" in result["title"]:
            marked = result["highlight"]["title"][0]
            assert (
                "<em>" in marked
                and marked.replace("<em>", "").replace("</em>", "") in (result["title"])
            )
            assert "遗传" in marked.split("<em>", 1)[1]
    assert any("highlight" in r and "title" in r["highlight"] for r in body["results"])
    plain = await get(gateway, OUTCOMES, corpus)
    assert plain["meta"]["page_size"] == 20 and len(plain["results"]) == 20  # the default
    assert all("highlight" not in r for r in plain["results"])
    assert {"title", "abstract", "authors", "institution_names"} <= set(plain["results"][0])


async def test_institution_highlight_marks_the_name(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    body = await get(gateway, "/api/v1/institutions", corpus, q="清华")
    top = body["results"][0]
    assert top["name"] == "清华大学"
    assert top["highlight"]["name"] == ["<em>清华</em>大学"]


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field", "fragment"),
    [
        (OUTCOMES, {"filter": "yeer:2020"}, "filter", "did you mean 'year'"),
        (OUTCOMES, {"filter": "tpye:paper"}, "filter", "did you mean 'type'"),
        ("/api/v1/institutions", {"filter": "provnce:北京"}, "filter", "did you mean 'province'"),
        ("/api/v1/experts", {"filter": "instituton:ins_x"}, "filter", "did you mean 'institution'"),
        (OUTCOMES, {"filter": "year:abc"}, "filter", "year"),
        (OUTCOMES, {"filter": "year:2018..20x0"}, "filter", "year"),
        (OUTCOMES, {"filter": "published_on:2020-13-01"}, "filter", "published_on"),
        (OUTCOMES, {"filter": "published_on:yesterday"}, "filter", "published_on"),
        (OUTCOMES, {"filter": "has_doi:maybe"}, "filter", "has_doi"),
        (OUTCOMES, {"filter": "type:a..b"}, "filter", "type"),
        (OUTCOMES, {"filter": "year"}, "filter", "field:value"),
        (OUTCOMES, {"filter": "year:.."}, "filter", "year"),
        (OUTCOMES, {"sort": "yeer:desc"}, "sort", "did you mean 'year'"),
        (OUTCOMES, {"sort": "year:upward"}, "sort", "asc or desc"),
        (OUTCOMES, {"sort": "abstract:asc"}, "sort", "abstract"),
        (OUTCOMES, {"sort": "relevance"}, "sort", "q"),
        (OUTCOMES, {"facets": "typ"}, "facets", "did you mean 'type'"),
        (OUTCOMES, {"facets": "published_on"}, "facets", "published_on"),
        (OUTCOMES, {"select": "title,../x"}, "select", "select"),
        (OUTCOMES, {"q": "算" * 501}, "q", "q"),
        ("/api/v1/search", {"libraries": "outcomes,patents"}, "libraries", "patents"),
        ("/api/v1/search", {"filter": "type:paper"}, "filter", "type"),
        ("/api/v1/stats/outcomes", {"group_by": "tpye"}, "group_by", "did you mean 'type'"),
        ("/api/v1/stats/outcomes", {"group_by": "type,year,language"}, "group_by", "two"),
        ("/api/v1/stats/outcomes", {"group_by": "type", "filter": "x:1"}, "filter", "x"),
        ("/api/v1/stats/patents", {"group_by": "type"}, "library", "patents"),
    ],
)
async def test_mistakes_are_400s_that_name_the_field_and_the_fix(
    gateway: httpx.AsyncClient,
    corpus: Corpus,
    path: str,
    params: dict[str, str],
    field: str,
    fragment: str,
) -> None:
    response = await gateway.get(path, params=params, headers=corpus.headers["admin"])
    status = 422 if len(params.get("q", "")) > 500 else 400  # the declared max_length
    body = assert_problem(response, status, field)
    assert fragment in body["detail"], body["detail"]
    assert "Traceback" not in response.text and "elasticsearch" not in response.text.lower()


SYNTAX = [
    ("title:(x OR y)^3", "title x OR y 3"),  # two words, title(x and y)3, ORed
    ("*", ""),
    ('"unclosed', "unclosed"),
    ("NEAR(a b)", "NEAR a b"),
    ("'; DROP TABLE docs; --", "DROP TABLE docs"),
    ('{"query":{"match_all":{}}}', "query match_all"),
    ("算法^10 优化~2", "算法 10 优化 2"),
    ("(算法)", "算法"),
    ("算法*", "算法"),
    ("+算法 && 优化", "算法 优化"),
    ("算法 || 优化", "算法 优化"),
    ("\\算法/", "算法"),
    ("算法 AND NOT 优化", "算法 AND NOT 优化"),
    ("算法 -", "算法"),
    ('""', ""),
    ("- OR OR", ""),
    ("id:* OR visibility:internal", "id OR visibility internal"),
    ("<script>alert(1)</script>", "script alert 1 script"),
]


@pytest.mark.parametrize(("raw", "plain"), SYNTAX, ids=[s[0] for s in SYNTAX])
async def test_query_syntax_and_injection_are_plain_text(
    gateway: httpx.AsyncClient, corpus: Corpus, raw: str, plain: str
) -> None:
    admin = corpus.headers["admin"]
    as_text = await ids_of(gateway, OUTCOMES, {"q": raw}, admin)
    if " OR " in plain and raw.startswith("title"):
        left, right = plain.split(" OR ")
        words = await ids_of(gateway, OUTCOMES, {"q": left}, admin)
        words |= await ids_of(gateway, OUTCOMES, {"q": right}, admin)
    else:
        words = await ids_of(gateway, OUTCOMES, {"q": plain} if plain else {}, admin)
    assert as_text == words, "syntax characters changed the query"
    if raw.startswith(("{", "'")):
        assert len(as_text) < len(corpus.outcomes), "the query was passed through as syntax"
    for path in (
        "/api/v1/institutions",
        "/api/v1/experts",
        "/api/v1/search",
        "/api/v1/datasets/csl-papers/records",
    ):
        response = await gateway.get(path, params={"q": raw, "facets": ""}, headers=admin)
        assert response.status_code == 200, (path, response.text)
    for path, params in (
        ("/api/v1/autocomplete", {"q": raw or "x"}),
        ("/api/v1/institutions/match", {"affiliation": raw or "x"}),
        ("/api/v1/stats/outcomes", {"group_by": "type", "q": raw}),
    ):
        response = await gateway.get(path, params=params, headers=admin)
        assert response.status_code == 200, (path, response.text)
    # The index is intact afterwards.
    assert (await get(gateway, OUTCOMES, corpus))["meta"]["count"] == len(corpus.outcomes)


# --- cross-library search, autocomplete, statistics, matching ------------------------------------


@pytest.mark.parametrize("q", ["清华", "北京大学", "算法 优化", "电力"])
async def test_search_across_libraries_merges_and_counts_per_library(
    gateway: httpx.AsyncClient, corpus: Corpus, q: str
) -> None:
    admin = corpus.headers["admin"]
    body = await get(gateway, "/api/v1/search", corpus, q=q, page_size=10)
    facet = {b["value"]: b for b in body["facets"]["library"]}
    # Every record library is a bucket, with its Chinese label (活动库 too, empty here).
    assert {b["label"] for b in facet.values()} == {f.label for f in record_libraries()}
    per_library = {}
    for library in (f.name for f in record_libraries()):
        per_library[library] = await ids_of(gateway, f"/api/v1/{library}", {"q": q}, admin)
        assert facet[library]["count"] == len(per_library[library]), library
    assert body["meta"]["count"] == sum(len(v) for v in per_library.values())
    walked, _ = await walk(gateway, "/api/v1/search", {"q": q}, admin, 7)
    assert {(r["library"], r["id"]) for r in walked} == {
        (lib, i) for lib, ids in per_library.items() for i in ids
    }
    only = await ids_of(gateway, "/api/v1/search", {"q": q, "libraries": "experts,outcomes"}, admin)
    assert only == per_library["experts"] | per_library["outcomes"]


async def test_search_across_libraries_ranks_the_named_institution_first(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    body = await get(gateway, "/api/v1/search", corpus, q="清华大学", page_size=5)
    assert body["results"][0]["id"] == corpus.institutions["清华大学"]["id"]
    assert body["results"][0]["library"] == "institutions"
    mixed = await get(gateway, "/api/v1/search", corpus, q="清华", page_size=100)
    assert {r["library"] for r in mixed["results"]} == {"institutions", "experts", "outcomes"}
    admin = corpus.headers["admin"]
    csae = await ids_of(gateway, "/api/v1/search", {"filter": "owner_org:csae"}, admin)
    expected = {o["id"] for o in corpus.outcomes if o["owner_org"] == "csae"}
    expected |= {e["id"] for e in corpus.experts if e["owner_org"] == "csae"}
    assert csae == expected


async def test_search_across_libraries_takes_the_list_grammar_on_shared_fields(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    admin = corpus.headers["admin"]
    body = await get(gateway, "/api/v1/search", corpus, q="算法", facets="owner_org,library")
    walked, count = await walk(gateway, "/api/v1/search", {"q": "算法"}, admin)
    owners = Counter(r["owner_org"] for r in walked)
    assert {b["value"]: b["count"] for b in body["facets"]["owner_org"]} == dict(owners)
    assert sum(b["count"] for b in body["facets"]["library"]) == count
    for params, field in (
        ({"facets": "type"}, "facets"),
        ({"sort": "title:asc"}, "sort"),
        ({"filter": "type:paper"}, "filter"),
    ):
        response = await gateway.get("/api/v1/search", params=params, headers=admin)
        assert_problem(response, 400, field)
    ordered, _ = await walk(
        gateway, "/api/v1/search", {"sort": "updated_at:asc", "select": "name,title"}, admin
    )
    assert len(ordered) == len(corpus.institutions) + len(corpus.experts) + len(corpus.outcomes)
    assert all(set(r) <= {"id", "library", "name", "title"} for r in ordered)
    first = await get(gateway, "/api/v1/search", corpus, cursor="*", page_size=3)
    other = await gateway.get(
        "/api/v1/search",
        params={"cursor": first["meta"]["next_cursor"], "sort": "updated_at:asc"},
        headers=admin,
    )
    assert_problem(other, 400, "cursor")


@pytest.mark.parametrize("q", ["qh", "qinghua", "清华", "清华大", "THU", "thu", "国立清华"])
async def test_autocomplete_finds_tsinghua_by_prefix_pinyin_initials_acronym_alias(
    gateway: httpx.AsyncClient, corpus: Corpus, q: str
) -> None:
    results = (await get(gateway, "/api/v1/autocomplete", corpus, q=q))["results"]
    assert 1 <= len(results) <= 10
    assert results[0]["label"] == "清华大学" and results[0]["library"] == "institutions"
    assert results[0]["id"] == corpus.institutions["清华大学"]["id"]
    assert set(results[0]) == {"id", "label", "library", "hint"}


async def test_autocomplete_people_campuses_limits_and_libraries(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    async def labels(q: str, **params: str) -> list[str]:
        body = await get(gateway, "/api/v1/autocomplete", corpus, q=q, **params)
        assert len(body["results"]) <= 10
        return [r["label"] for r in body["results"]]

    campuses = {n for n in corpus.institutions if n.startswith("华北电力大学")}
    assert len(campuses) == 3
    assert campuses <= set(await labels("hbdl")) and campuses <= set(await labels("华北电力"))
    for q in ("zhangmingyuan", "zmy", "张明"):
        found = (await get(gateway, "/api/v1/autocomplete", corpus, q=q))["results"]
        assert found[0]["label"] == "张明远" and found[0]["hint"] == "清华大学", q
    beijing = [n for n in corpus.institutions if n.startswith("北京")]
    assert len(beijing) > 10 and len(await labels("北京")) == 10
    assert len(await labels("bj")) == 10
    experts = await get(gateway, "/api/v1/autocomplete", corpus, q="z", libraries="experts")
    assert experts["results"] and {r["library"] for r in experts["results"]} == {"experts"}
    assert await labels("zzqqxxyy") == []
    empty = await gateway.get("/api/v1/autocomplete", params={"q": ""})
    assert empty.status_code in (400, 422)


@pytest.mark.parametrize(
    "params",
    [{}, {"q": "算法"}, {"filter": "year:2015..2018"}, {"q": "图像", "filter": "!type:paper"}],
    ids=["all", "q", "filter", "q+filter"],
)
async def test_statistics_agree_with_the_filtered_lists(
    gateway: httpx.AsyncClient, corpus: Corpus, params: dict[str, str]
) -> None:
    stats = await get(gateway, "/api/v1/stats/outcomes", corpus, group_by="type,year", **params)
    listed = await get(gateway, OUTCOMES, corpus, page_size=1, **params)
    assert stats["group_by"] == ["type", "year"]
    assert stats["total"] == listed["meta"]["count"] == sum(r["count"] for r in stats["results"])
    assert stats["total"] > 0
    for row in stats["results"]:
        key = row["key"]
        narrowed = ",".join(x for x in (params.get("filter"), f"type:{key['type']}") if x)
        narrowed += f",year:{key['year']}"
        one = await get(gateway, OUTCOMES, corpus, page_size=1, filter=narrowed, q=params.get("q"))
        assert row["count"] == one["meta"]["count"], row
        assert row["labels"]["type"] == TYPE_LABELS[key["type"]]
    for library, group_by in (("institutions", "province,type"), ("experts", "institution")):
        other = await get(gateway, f"/api/v1/stats/{library}", corpus, group_by=group_by)
        assert other["results"], library
        for row in other["results"]:
            narrowed = ",".join(f"{k}:{v}" for k, v in row["key"].items())
            one = await get(gateway, f"/api/v1/{library}", corpus, page_size=1, filter=narrowed)
            assert row["count"] == one["meta"]["count"], (library, row)
        if library == "experts":
            names = {r["id"]: r["name"] for r in corpus.institutions.values()}
            assert all(
                r["labels"]["institution"] == names[r["key"]["institution"]]
                for r in other["results"]
            )
    # The total counts records once each, whether they have several values or none.
    for group_by in ("institution", "series", "keyword,type"):
        sparse = await get(gateway, "/api/v1/stats/outcomes", corpus, group_by=group_by, **params)
        assert sparse["total"] == listed["meta"]["count"], group_by
    single = await get(gateway, "/api/v1/stats/outcomes", corpus, group_by="discipline")
    vocabulary = disciplines()
    assert all(
        r["labels"]["discipline"] == vocabulary.label(r["key"]["discipline"])
        for r in single["results"]
    )


@pytest.mark.parametrize(
    ("affiliation", "chosen"),
    [
        ("清华大学计算机科学与技术系，北京 100084", "清华大学"),
        ("Department of Physics, 北京大学, Beijing 100871", "北京大学"),
        ("北京大学医学部基础医学院", "北京大学医学部"),
        ("华北电力大学（北京）能源动力与机械工程学院", "华北电力大学(北京)"),
        ("华北电力大学(保定)电气与电子工程学院", "华北电力大学(保定)"),
        ("华北电力大学 电气与电子工程学院", "华北电力大学"),
        ("中国科学院大学资源与环境学院", "中国科学院大学"),
        ("国立清华大学", "清华大学"),
        ("北京", None),
        ("师范大学", None),
        ("北京市海淀区", None),
        ("大学", None),
    ],
)
async def test_affiliation_matching_chooses_only_the_clearly_right_institution(
    gateway: httpx.AsyncClient, corpus: Corpus, affiliation: str, chosen: str | None
) -> None:
    results = (await get(gateway, "/api/v1/institutions/match", corpus, affiliation=affiliation))[
        "results"
    ]
    picked = [r for r in results if r["chosen"]]
    if chosen is None:
        assert picked == [], picked
        return
    assert [r["name"] for r in picked] == [chosen]
    assert results[0]["name"] == chosen and picked[0]["id"] == corpus.institutions[chosen]["id"]
    scores = [r["score"] for r in results]
    assert all(0 <= s <= 1 for s in scores)


# --- related records ---------------------------------------------------------------------------


async def test_related_routes(gateway: httpx.AsyncClient, corpus: Corpus) -> None:
    admin = corpus.headers["admin"]
    ins = corpus.institutions
    for parent in ("北京大学", "华北电力大学", "中国科学院"):
        children = await ids_of(
            gateway, f"/api/v1/institutions/{ins[parent]['id']}/children", {}, admin
        )
        assert children == {r["id"] for r in ins.values() if r["parent_id"] == ins[parent]["id"]}
        assert children, parent
    for name in ("清华大学", "北京大学", "华北电力大学(北京)", "中国科学院大学"):
        record_id = ins[name]["id"]
        experts = await ids_of(gateway, f"/api/v1/institutions/{record_id}/experts", {}, admin)
        assert experts == {
            e["id"]
            for e in corpus.experts
            if record_id in [a["institution_id"] for a in e["affiliations"]]
        }, name
        outcomes = await ids_of(gateway, f"/api/v1/institutions/{record_id}/outcomes", {}, admin)
        assert outcomes == where(corpus, lambda o, i=record_id: i in o["institution_ids"])
        assert experts and outcomes, name
        narrowed = await ids_of(
            gateway, f"/api/v1/institutions/{record_id}/outcomes", {"q": "算法"}, admin
        )
        assert narrowed == outcomes & await outcome_ids(gateway, corpus, q="算法")
    for expert in corpus.experts:
        written = await ids_of(gateway, f"/api/v1/experts/{expert['id']}/outcomes", {}, admin)
        assert written == where(
            corpus, lambda o, e=expert["id"]: e in [a.get("expert_id") for a in o["authors"]]
        )
    faceted = await get(
        gateway, f"/api/v1/experts/{corpus.experts[0]['id']}/outcomes", corpus, facets="type"
    )
    assert sum(b["count"] for b in faceted["facets"]["type"]) == faceted["meta"]["count"]
    unknown = await gateway.get(
        "/api/v1/institutions/ins_zzzzzzzzzzzzzzzzzzzz/experts", headers=corpus.headers["admin"]
    )
    assert_problem(unknown, 404)  # as the institution itself answers


# --- special databases -------------------------------------------------------------------------


async def test_dataset_record_search_with_its_declared_fields(
    gateway: httpx.AsyncClient, corpus: Corpus
) -> None:
    path = "/api/v1/datasets/csl-papers/records"
    admin = corpus.headers["admin"]
    records = corpus.records["csl-papers"]
    by_id = {r["id"]: r for r in records}
    body = await get(gateway, path, corpus, facets="category,year,host", page_size=100)
    assert body["meta"]["count"] == len(records)
    categories = Counter(r["values"]["category"] for r in records)
    assert {b["value"]: b["count"] for b in body["facets"]["category"]} == dict(categories)
    assert all(b["label"] == f"{b['value']}门类" for b in body["facets"]["category"])
    hosts = Counter(r["values"]["host"] for r in records)
    names = {r["id"]: r["name"] for r in corpus.institutions.values()}
    assert {b["value"]: b["count"] for b in body["facets"]["host"]} == dict(hosts)
    for bucket in body["facets"]["host"]:
        assert bucket["label"] == names[bucket["value"]], "a ref facet is labelled by name"
    # q over the title and the searchable abstract
    word = next(
        w
        for w in ("研究", "分析", "方法", "影响")
        if sum(w in r["values"]["title"] for r in records) >= 2
    )
    found = await ids_of(gateway, path, {"q": word}, admin)
    assert {r["id"] for r in records if word in r["values"]["title"]} <= found
    assert all(word in by_id[i]["values"]["title"] + by_id[i]["values"]["abstract"] for i in found)
    # filters and sort on the declared fields
    engineering = await ids_of(
        gateway, path, {"filter": "category:工学|理学,year:2016..2018"}, admin
    )
    assert engineering == {
        r["id"]
        for r in records
        if r["values"]["category"] in ("工学", "理学") and 2016 <= r["values"]["year"] <= 2018
    }
    ordered, _ = await walk(gateway, path, {"sort": "year:desc"}, admin, 5)
    years = [r["values"]["year"] for r in ordered]
    assert years == sorted(years, reverse=True)
    for params, field in (
        ({"filter": "categry:工学"}, "did you mean 'category'"),
        ({"filter": "abstract:x"}, "abstract"),
        ({"facets": "abstract"}, "abstract"),
        ({"sort": "category:asc"}, "category"),
        ({"filter": "year:twenty"}, "year"),
    ):
        response = await gateway.get(path, params=params, headers=admin)
        assert field in assert_problem(response, 400)["detail"], params
    missing = await gateway.get("/api/v1/datasets/no-such-db/records", headers=admin)
    assert_problem(missing, 404)
