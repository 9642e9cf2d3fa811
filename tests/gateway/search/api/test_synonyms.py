"""A query word also matches its synonyms (data/synonyms.tsv): an abbreviation finds the
Chinese term and back, on both backends; quoting a word asks for it alone."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable

import httpx
import pytest

from services.gateway.search.analysis import get_analyzer
from services.gateway.search.analysis import synonyms
from services.gateway.search.service import text_query
from tests.gateway.search.api.corpus import ids_of

OUTCOMES = "/api/v1/outcomes"
TITLES = {
    "terms": "基于支持向量机的滚动轴承故障诊断",
    "abbreviation": "SVM在遥感图像分类中的应用",
    "neither": "神经网络在负荷预测中的应用",
}


def test_synonyms_are_alternatives_of_unquoted_words_only() -> None:
    analyzer = get_analyzer()
    assert synonyms("ai") == ("人工智能",) and synonyms("人工智能") == ("ai",)
    parsed = text_query(analyzer, "AI 治理")
    assert parsed is not None
    first = parsed.groups[0]
    assert [alt.tokens for alt in first] == [("ai",), ("人工", "智能")]
    assert "人工智能" in parsed.exact and "ai 治理" in parsed.exact
    quoted = text_query(analyzer, '"AI" 治理')
    assert quoted is not None and len(quoted.groups[0]) == 1
    excluded = text_query(analyzer, "治理 -AI")
    assert excluded is not None and [t.tokens for t in excluded.excluded] == [("ai",)]


@pytest.fixture(scope="module")
async def papers(
    gateway: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    index_now: Callable[[], Awaitable[int]],
) -> dict[str, str]:
    created = {}
    for kind, title in TITLES.items():
        response = await gateway.post(
            OUTCOMES, json={"title": title, "type": "paper"}, headers=callers["admin"]
        )
        assert response.status_code == 201, response.text
        created[kind] = response.json()["id"]
    await index_now()
    return created


async def test_an_abbreviation_finds_its_term_and_back(
    gateway: httpx.AsyncClient, callers: dict[str, dict[str, str]], papers: dict[str, str]
) -> None:
    admin = callers["admin"]
    both = {papers["terms"], papers["abbreviation"]}
    assert await ids_of(gateway, OUTCOMES, {"q": "SVM"}, admin) == both
    assert await ids_of(gateway, OUTCOMES, {"q": "支持向量机"}, admin) == both
    assert await ids_of(gateway, OUTCOMES, {"q": '"SVM"'}, admin) == {papers["abbreviation"]}
