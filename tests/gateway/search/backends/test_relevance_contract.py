"""Relevance rules both backends share: words matched by most of their tokens, whole-value
matches ranked first. Hand-made tokens, so the backends are tested, not the analyser."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.gateway.search.backends.base import SearchBackend
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import SearchRequest
from services.gateway.search.model import Terms
from services.gateway.search.model import TextField
from services.gateway.search.model import TextQuery
from services.kernel.visibility import VisibilityScope

PAPERS = LibrarySchema(
    name="relevance_papers",
    label="论文",
    fields={},
    text_fields=(
        TextField("title", 2.0, "title"),
        TextField("body", 1.0, "abstract"),
        TextField("keywords", 1.0, "keywords", exact_boost=100.0),
    ),
)


def paper(n: int, title: str, body: str, keywords: tuple[str, ...] = ()) -> IndexDocument:
    record_id = f"out_{n:020d}"
    return IndexDocument(
        library=PAPERS.name,
        id=record_id,
        version=1,
        visibility="public",
        owner_org="cast",
        label=title,
        source={"id": record_id, "title": title},
        tokens={"title": title, "body": body, "keywords": " ".join(keywords)},
        exact={"keywords": list(keywords)},
    )


CORPUS = [
    paper(1, "免疫 磁珠 技术 分离", "免疫 磁珠 技术 肿瘤 细胞"),  # all three parts
    paper(2, "免疫 磁珠 分离", "免疫 磁珠 富集"),  # two of three
    paper(3, "免疫 治疗", "免疫 应答"),  # one of three
    paper(4, "神经 网络 神经 网络 模型", "神经 网络 神经 网络 训练", ("深度神经网络",)),
    paper(5, "故障 诊断", "基于 神经 网络 的 故障 诊断", ("神经网络", "故障诊断")),
]


@pytest.fixture(scope="module")
async def loaded(search_backend: SearchBackend) -> AsyncIterator[SearchBackend]:
    await search_backend.ensure_library(PAPERS)
    await search_backend.upsert(CORPUS)
    yield search_backend
    await search_backend.drop_library(PAPERS.name)


async def search(backend: SearchBackend, text: TextQuery) -> list[int]:
    result = await backend.search(
        SearchRequest((PAPERS.name,), VisibilityScope(None), text=text, size=10)
    )
    assert result.total == len(result.hits)
    return [int(hit.id[4:]) for hit in result.hits]


async def test_a_word_of_three_tokens_matches_by_two_complete_matches_first(
    loaded: SearchBackend,
) -> None:
    tokens = ("免疫", "磁珠", "技术")
    most = TextQuery(groups=((Terms(tokens, minimum=2),),))
    assert most.partial
    assert await search(loaded, most) == [1, 2]  # paper 3 holds one part only
    every = TextQuery(groups=((Terms(tokens),),))
    assert not every.partial and await search(loaded, every) == [1]
    # A phrase needs all of its tokens, whatever `minimum` says.
    phrase = TextQuery(groups=((Terms(tokens, phrase=True, minimum=2),),))
    assert await search(loaded, phrase) == [1]


async def test_a_whole_keyword_equal_to_the_query_ranks_first(loaded: SearchBackend) -> None:
    words = TextQuery(groups=((Terms(("神经", "网络")),),))
    # By tokens alone, the paper saying 神经网络 four times wins…
    assert (await search(loaded, words))[0] == 4
    # …but the paper whose keyword is exactly the query ranks first.
    exact = TextQuery(groups=words.groups, exact=("神经网络",))
    assert await search(loaded, exact) == [5, 4]
    # A keyword only containing the query (深度神经网络) earns nothing extra.
    assert (await search(loaded, TextQuery(groups=words.groups, exact=("深度",))))[0] == 4
