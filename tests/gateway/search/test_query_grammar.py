"""The list grammar (API.md) parsed into search requests: text, filters, sort, facets, paging."""

from __future__ import annotations

from datetime import date

import pytest

from services.gateway.search.libraries.experts import SCHEMA as EXPERTS
from services.gateway.search.libraries.institutions import SCHEMA as INSTITUTIONS
from services.gateway.search.libraries.outcomes import SCHEMA as OUTCOMES
from services.gateway.search.query import parse_facets
from services.gateway.search.query import parse_filter
from services.gateway.search.query import parse_paging
from services.gateway.search.query import parse_q
from services.gateway.search.query import parse_select
from services.gateway.search.query import parse_sort
from services.gateway.search.query import query_fingerprint
from services.kernel.errors import BadRequest
from services.kernel.pagination import encode_cursor


def tokens(text: str) -> list[str]:
    """A stand-in analyser: splits on spaces, keeps only word characters (pure logic)."""
    return [
        "".join(c for c in part if c.isalnum())
        for part in text.split()
        if any(c.isalnum() for c in part)
    ]


def test_q_words_and_phrases_or_and_exclusions() -> None:
    query = parse_q('人工智能 "数据 治理" 芯片 OR 集成电路 -军事', tokens)
    assert query is not None
    assert [[alt.tokens for alt in group] for group in query.groups] == [
        [("人工智能",)],
        [("数据", "治理")],
        [("芯片",), ("集成电路",)],
    ]
    assert query.groups[1][0].phrase and not query.groups[0][0].phrase
    assert [t.tokens for t in query.excluded] == [("军事",)]


def test_q_syntax_characters_are_only_text() -> None:
    query = parse_q('title:(a OR b)^3 \\" * ? ~ AND', tokens)
    assert query is not None
    assert all(t.isalnum() for t in query.all_tokens)
    assert parse_q("  ", tokens) is None and parse_q("*** ???", tokens) is None
    with pytest.raises(BadRequest, match="q:"):
        parse_q("字" * 501, tokens)


def test_filter_values_or_negation_and_ranges() -> None:
    clauses = parse_filter(
        "type:university|think_tank,!status:inactive,established_year:1950..", INSTITUTIONS
    )
    assert [c.field.name for c in clauses] == ["type", "status", "established_year"]
    assert clauses[0].values == ("university", "think_tank") and not clauses[0].negate
    assert clauses[1].negate and clauses[1].values == ("inactive",)
    assert (clauses[2].lower, clauses[2].upper) == (1950, None)
    dates = parse_filter("published_on:2020..2021-06", OUTCOMES)[0]
    assert (dates.lower, dates.upper) == (date(2020, 1, 1), date(2021, 6, 30))
    assert parse_filter("has_doi:是", OUTCOMES)[0].values == (True,)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("regoin:110000", "did you mean 'region_code'"),
        ("province", "is not field:value"),
        ("established_year:nineteen", "established_year: 'nineteen' is not a whole number"),
        ("type:a..b", "ranges need a number or date field"),
        ("established_year:..", "an empty range"),
    ],
)
def test_filter_mistakes_are_400s_naming_the_field(raw: str, message: str) -> None:
    with pytest.raises(BadRequest) as error:
        parse_filter(raw, INSTITUTIONS)
    assert message in error.value.detail
    assert error.value.errors[0].loc == ("query", "filter")


def test_sort_defaults_and_validation() -> None:
    assert [(k.field, k.descending) for k in parse_sort(None, OUTCOMES, has_text=False)] == [
        ("published_on", True)
    ]
    assert [k.field for k in parse_sort(None, OUTCOMES, has_text=True)] == ["relevance"]
    assert [
        (k.field, k.descending) for k in parse_sort("year:desc,title", OUTCOMES, has_text=False)
    ] == [
        ("year", True),
        ("title", False),
    ]
    for bad, fragment in (
        ("keyword:asc", "unknown sort field"),
        ("year:up", "asc or desc"),
        ("relevance", "needs a q"),
    ):
        with pytest.raises(BadRequest, match=fragment):
            parse_sort(bad, OUTCOMES, has_text=False)


def test_facets_must_be_facetable_and_select_is_checked() -> None:
    assert [f.name for f in parse_facets("institution,discipline,institution", EXPERTS)] == [
        "institution",
        "discipline",
    ]
    with pytest.raises(BadRequest, match="unknown facet field 'name'"):
        parse_facets("name", EXPERTS)
    assert parse_select("name,type") == frozenset({"id", "name", "type"})
    with pytest.raises(BadRequest, match="select"):
        parse_select("name,../etc")


def test_paging_window_and_cursors_bound_to_their_query() -> None:
    fingerprint = query_fingerprint("outcomes", "人工智能", None, None)
    assert parse_paging(3, 20, None, fingerprint).offset == 40
    with pytest.raises(BadRequest, match="cursor=\\*"):
        parse_paging(501, 20, None, fingerprint)
    start = parse_paging(None, 50, "*", fingerprint)
    assert start.cursor_mode and start.search_after is None
    cursor = encode_cursor({"after": [2021, "out_x"], "q": fingerprint})
    assert parse_paging(None, 50, cursor, fingerprint).search_after == (2021, "out_x")
    other = query_fingerprint("outcomes", "芯片", None, None)
    with pytest.raises(BadRequest, match="different query"):
        parse_paging(None, 50, cursor, other)
    with pytest.raises(BadRequest, match="cannot be combined"):
        parse_paging(2, 50, "*", fingerprint)
