"""What only the embedded (SQLite FTS5) backend has to prove: tokens and query text can never
become FTS5 or SQL syntax, CJK tokens stay whole, the event loop is never blocked, the file
survives a restart, and every facet plan counts the same as a brute-force count.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from services.gateway.search.backends.base import IndexUnavailable
from services.gateway.search.backends.embedded import EmbeddedBackend
from services.gateway.search.model import FieldKind
from services.gateway.search.model import FilterClause
from services.gateway.search.model import FilterField
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import SearchRequest
from services.gateway.search.model import SortKey
from services.gateway.search.model import Terms
from services.gateway.search.model import TextField
from services.gateway.search.model import TextQuery
from services.kernel.visibility import Visibility
from services.kernel.visibility import VisibilityScope

EVERYTHING = VisibilityScope(None)
PUBLIC = VisibilityScope(frozenset({Visibility.PUBLIC}))
READER_OF_CAST = VisibilityScope(frozenset({Visibility.PUBLIC, Visibility.PARTNER}), "cast")

TYPE = FilterField("type", "类型", facetable=True)
YEAR = FilterField("year", "年份", FieldKind.INTEGER, facetable=True, sortable=True)
TAG = FilterField("tag", "标签", facetable=True)
DAY = FilterField("day", "日期", FieldKind.DATE, sortable=True)
OPEN = FilterField("open", "开放", FieldKind.BOOLEAN, facetable=True)
SCHEMA = LibrarySchema(
    name="datasets/o'reilly",  # quotes in a library name are data, never SQL
    label="测试",
    fields={f.name: f for f in (TYPE, YEAR, TAG, DAY, OPEN)},
    text_fields=(TextField("title", 2.0), TextField("body", 1.0)),
    default_sort=(("year", True),),
)

HOSTILE = [
    '"',
    '""',
    "*",
    "ab*",
    "NEAR(a b)",
    "NEAR",
    "title:x",
    "c0:x",
    "AND",
    "OR",
    "NOT",
    "^",
    "^start",
    "(",
    ")",
    "{c0 c1}:x",
    "-",
    "+",
    "'; DROP TABLE docs; --",
    "1=1",
    "%",
    "_",
    "\\",
    "\x00",
]


def document(
    n: int,
    title: str,
    body: str = "",
    *,
    version: int = 1,
    visibility: str = "public",
    owner: str = "cast",
    values: dict | None = None,
    suggest: tuple[str, ...] = (),
) -> IndexDocument:
    record_id = f"rec_{n:06d}"
    return IndexDocument(
        library=SCHEMA.name,
        id=record_id,
        version=version,
        visibility=visibility,
        owner_org=owner,
        label=title,
        source={"id": record_id, "title": title, "version": version},
        tokens={"title": title, "body": body},
        values=values or {},
        suggest=list(suggest),
    )


def words(*tokens: str) -> TextQuery:
    return TextQuery(groups=tuple((Terms((t,)),) for t in tokens))


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[EmbeddedBackend]:
    instance = EmbeddedBackend(tmp_path / "nested" / "dirs" / "index.sqlite")
    await instance.ensure_library(SCHEMA)
    try:
        yield instance
    finally:
        await instance.close()


async def found(backend: EmbeddedBackend, text: TextQuery, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    kwargs.setdefault("scope", EVERYTHING)
    kwargs.setdefault("size", 100)
    result = await backend.search(SearchRequest(libraries=(SCHEMA.name,), text=text, **kwargs))
    assert result.total == len(result.hits)
    return sorted(h.id for h in result.hits)


async def test_hostile_tokens_are_matched_literally(backend: EmbeddedBackend) -> None:
    await backend.upsert(
        [document(i, token, "plain") for i, token in enumerate(HOSTILE)]
        + [document(100, "ab abc start a b x", "plain")]
    )
    for i, token in enumerate(HOSTILE):
        pieces = token.split()
        expected = [f"rec_{i:06d}"]
        if len(pieces) > 1:  # a token with spaces is several tokens, all required
            expected = sorted(
                {f"rec_{j:06d}" for j, other in enumerate(HOSTILE) if other.split() == pieces}
            )
        assert await found(backend, words(token)) == expected, token
        phrase = TextQuery(groups=((Terms(tuple(pieces), phrase=True),),))
        assert await found(backend, phrase) == expected, token
        either = TextQuery(groups=((Terms((token,)), Terms(("plain",))),))
        assert len(await found(backend, either)) == len(HOSTILE) + 1, token
        without = TextQuery(groups=((Terms(("plain",)),),), excluded=(Terms((token,)),))
        assert f"rec_{i:06d}" not in await found(backend, without), token
        only_without = TextQuery(groups=(), excluded=(Terms((token,)),))
        assert f"rec_{i:06d}" not in await found(backend, only_without), token
        # Filters and suggest prefixes take the same text as bound values.
        await backend.search(
            SearchRequest(
                libraries=(SCHEMA.name,),
                scope=READER_OF_CAST,
                filters=(FilterClause(TAG, values=(token,)),),
                facets=(TAG,),
            )
        )
        await backend.suggest(token, [SCHEMA.name], PUBLIC, 10)
    # No prefix matching, no column filters, no syntax: "ab*" is not "ab" or "abc".
    assert await found(backend, words("ab")) == ["rec_000100"]
    assert await found(backend, words("abc")) == ["rec_000100"]
    assert await found(backend, words("title:x")) == [f"rec_{HOSTILE.index('title:x'):06d}"]
    assert await found(backend, words("x")) == ["rec_000100"]
    # The tables are all still there.
    assert len(await backend.sources(SCHEMA.name, [f"rec_{i:06d}" for i in range(101)])) == 25


async def test_cjk_tokens_stay_whole_and_phrases_need_adjacency(backend: EmbeddedBackend) -> None:
    await backend.upsert(
        [
            document(1, "人工智能 治理", "研究"),
            document(2, "人工 智能 芯片", "研究"),
            document(3, "智能 人工 芯片", "研究"),
            document(4, "ÉCOLE café", "Straße ﬁ"),
        ]
    )
    assert await found(backend, words("人工智能")) == ["rec_000001"]
    assert await found(backend, words("人工")) == ["rec_000002", "rec_000003"]
    assert await found(backend, words("智能")) == ["rec_000002", "rec_000003"]
    phrase = TextQuery(groups=((Terms(("人工", "智能"), phrase=True),),))
    assert await found(backend, phrase) == ["rec_000002"]
    both = TextQuery(groups=((Terms(("人工", "智能")),),))
    assert await found(backend, both) == ["rec_000002", "rec_000003"]
    # Tokens are opaque: no case folding, no diacritic or ligature folding.
    assert await found(backend, words("ÉCOLE")) == ["rec_000004"]
    assert await found(backend, words("école")) == []
    assert await found(backend, words("cafe")) == []
    assert await found(backend, words("ﬁ")) == ["rec_000004"]
    assert await found(backend, words("fi")) == []


async def test_event_loop_keeps_running_during_concurrent_searches_and_upserts(
    backend: EmbeddedBackend,
) -> None:
    rng = random.Random(7)
    vocabulary = [f"词{i}" for i in range(300)]
    docs = [
        document(
            n,
            " ".join(rng.choices(vocabulary, k=5)),
            " ".join(rng.choices(vocabulary, k=30)),
            values={"type": [rng.choice("abc")], "year": [rng.randint(2000, 2024)]},
        )
        for n in range(6300)
    ]
    await backend.upsert(docs[:300])
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks.append(time.perf_counter())

    writes: list[tuple[float, float]] = []

    async def writer() -> None:
        for start in (300, 3300):  # big batches: a few hundred ms of SQLite work each
            began = time.perf_counter()
            await backend.upsert(docs[start : start + 3000])
            writes.append((began, time.perf_counter()))

    async def reader(i: int) -> int:
        result = await backend.search(
            SearchRequest(
                libraries=(SCHEMA.name,),
                scope=READER_OF_CAST,
                text=words(vocabulary[i]),
                facets=(TYPE, YEAR),
                sort=(SortKey("year", True),),
            )
        )
        return result.total

    tick = asyncio.create_task(ticker())
    results = await asyncio.gather(writer(), *(reader(i) for i in range(20)))
    stop.set()
    await tick
    assert all(isinstance(total, int) for total in results[1:])
    # Had SQLite run on the loop, the ticker could not have ticked while a batch was written.
    for began, ended in writes:
        assert sum(began < t < ended for t in ticks) >= 3, (ended - began, len(ticks))
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.5
    final = await backend.search(SearchRequest(libraries=(SCHEMA.name,), scope=EVERYTHING))
    assert final.total == 6300


async def test_file_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "data" / "search.sqlite"
    first = EmbeddedBackend(path)
    assert not path.exists()  # created on first use
    await first.ensure_library(SCHEMA)
    await first.upsert(
        [
            document(1, "清华大学 人工智能", suggest=("清华大学", "qhdx")),
            document(2, "北京大学", values={"year": [2020]}, version=3),
        ]
    )
    await first.delete(SCHEMA.name, "rec_000002", 4)
    await first.close()
    with pytest.raises(IndexUnavailable):
        await first.ping()

    second = EmbeddedBackend(path)
    try:
        await second.ping()
        assert await found(second, words("人工智能")) == ["rec_000001"]
        assert [s.label for s in await second.suggest("QH", [SCHEMA.name], PUBLIC, 5)] == [
            "清华大学 人工智能"
        ]
        await second.upsert([document(2, "北京大学 复活", version=4)])  # not newer than delete
        assert await second.sources(SCHEMA.name, ["rec_000001", "rec_000002"]) == {
            "rec_000001": {"id": "rec_000001", "title": "清华大学 人工智能", "version": 1}
        }
        await second.ensure_library(SCHEMA)  # idempotent on an existing file
        assert await found(second, words("清华大学")) == ["rec_000001"]
    finally:
        await second.close()


async def test_writes_need_the_library_and_new_text_fields_are_indexed(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path / "index.sqlite")
    try:
        with pytest.raises(IndexUnavailable):  # as on Elasticsearch: a write creates nothing
            await backend.upsert([document(1, "标题", "正文")])
        with pytest.raises(IndexUnavailable):
            await backend.delete(SCHEMA.name, "rec_000001", 2)
        empty = await backend.search(SearchRequest(libraries=(SCHEMA.name,), scope=EVERYTHING))
        assert empty.total == 0 and empty.hits == []
        assert await backend.sources(SCHEMA.name, ["rec_000001"]) == {}
        assert await backend.referencing(SCHEMA.name, "tag", "x") == []

        await backend.ensure_library(SCHEMA)
        early = document(1, "标题", "正文", values={"tag": ["x"]})
        early.tokens["notes"] = "备注 词"  # not a text field yet: stored, not searchable
        await backend.upsert([early])
        assert await found(backend, words("标题")) == ["rec_000001"]
        assert await found(backend, words("备注")) == []
        wider = LibrarySchema(
            name=SCHEMA.name,
            label=SCHEMA.label,
            fields=SCHEMA.fields,
            text_fields=(*SCHEMA.text_fields, TextField("notes", 0.5)),
            default_sort=SCHEMA.default_sort,
        )
        await backend.ensure_library(wider)  # rebuilds the FTS table from the stored tokens
        assert await found(backend, words("备注")) == ["rec_000001"]
        assert await found(backend, words("标题")) == ["rec_000001"]
        # Updates and deletes after the rebuild keep the index consistent.
        await backend.upsert([document(1, "新标题", "正文", version=2)])
        assert await found(backend, words("标题")) == []
        assert await found(backend, words("备注")) == []
        assert await found(backend, words("新标题")) == ["rec_000001"]
        await backend.delete(SCHEMA.name, "rec_000001", 3)
        assert await found(backend, words("新标题")) == []
        await backend.drop_library(SCHEMA.name)
        await backend.drop_library(SCHEMA.name)  # idempotent
        with pytest.raises(IndexUnavailable):
            await backend.upsert([document(1, "新标题", "正文", version=9)])
    finally:
        await backend.close()


def _visible(doc: IndexDocument, scope: VisibilityScope) -> bool:
    return scope.admits(doc.visibility, doc.owner_org)


async def test_facets_stats_totals_and_paging_agree_with_brute_force(
    backend: EmbeddedBackend,
) -> None:
    """Exercises every counting plan: whole library, few matches and many matches."""
    rng = random.Random(11)
    docs = []
    for n in range(400):
        title = " ".join(rng.sample(["常见", "中等", "稀有", "词a", "词b"], 2))
        if n % 7 == 0:
            title += " 常见"
        tags = rng.sample(["t1", "t2", "t3", "t4", "t5"], rng.randint(0, 3))
        values: dict = {"type": [rng.choice(["x", "y", "z"])], "tag": tags}
        if n % 5:
            values["year"] = [rng.randint(2018, 2024)]
            values["day"] = [date(2020, 1 + n % 12, 1 + n % 28)]
        values["open"] = [n % 3 == 0]
        docs.append(
            document(
                n,
                title,
                "正文",
                values=values,
                visibility=rng.choice(["public", "partner", "internal"]),
                owner=rng.choice(["cast", "csae"]),
            )
        )
    await backend.upsert(docs)

    def matches(doc: IndexDocument, token: str | None, tag: str | None) -> bool:
        if token is not None and token not in doc.tokens["title"].split():
            return False
        return tag is None or tag in doc.values["tag"]

    for scope in (EVERYTHING, PUBLIC, READER_OF_CAST):
        for token in (None, "常见", "稀有", "词a"):
            for tag in (None, "t2"):
                expected = [d for d in docs if _visible(d, scope) and matches(d, token, tag)]
                request = SearchRequest(
                    libraries=(SCHEMA.name,),
                    scope=scope,
                    text=None if token is None else words(token),
                    filters=() if tag is None else (FilterClause(TAG, values=(tag,)),),
                    facets=(TYPE, TAG, OPEN),
                    sort=(SortKey("year", False),),
                    size=37,
                )
                result = await backend.search(request)
                assert result.total == len(expected)
                for field in (TYPE, TAG, OPEN):
                    counts = Counter(v for d in expected for v in d.values.get(field.name, []))
                    buckets = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                    assert [(b.value, b.count) for b in result.facets[field.name]] == buckets
                stats = await backend.stats(request, [TYPE, TAG])
                pairs = Counter(
                    (t, g) for d in expected for t in d.values["type"] for g in d.values["tag"]
                )
                assert {b.key: b.count for b in stats} == dict(pairs)
                # Cursor paging visits every match once, in (year asc, missing last, id) order.
                seen, after = [], None
                while True:
                    page = await backend.search(
                        SearchRequest(
                            libraries=request.libraries,
                            scope=scope,
                            text=request.text,
                            filters=request.filters,
                            sort=request.sort,
                            size=37,
                            search_after=after,
                        )
                    )
                    if not page.hits:
                        break
                    seen.extend(h.id for h in page.hits)
                    after = page.hits[-1].sort_values
                order = sorted(
                    expected,
                    key=lambda d: (
                        "year" not in d.values,
                        d.values.get("year", [0])[0],
                        d.id,
                    ),
                )
                assert seen == [d.id for d in order]


async def test_relevance_and_descending_cursor_paging(backend: EmbeddedBackend) -> None:
    await backend.upsert(
        [
            document(
                n,
                "目标 " * (1 + n % 4) + "其他",
                "目标" if n % 2 else "无关",
                values={"day": [date(2021, 1 + n % 12, 1)]} if n % 3 else {},
            )
            for n in range(60)
        ]
    )
    for sort in ((), (SortKey("relevance", True),), (SortKey("day", True),)):
        everything = await backend.search(
            SearchRequest(
                libraries=(SCHEMA.name,), scope=EVERYTHING, text=words("目标"), sort=sort, size=60
            )
        )
        seen, after = [], None
        while True:
            page = await backend.search(
                SearchRequest(
                    libraries=(SCHEMA.name,),
                    scope=EVERYTHING,
                    text=words("目标"),
                    sort=sort,
                    size=7,
                    search_after=after,
                )
            )
            if not page.hits:
                break
            seen.extend(page.hits)
            after = page.hits[-1].sort_values
        assert [h.id for h in seen] == [h.id for h in everything.hits]
        assert len(seen) == 60
    scores = [h.score or 0 for h in everything.hits]
    assert all(s > 0 for s in scores)
    ranked = await backend.search(
        SearchRequest(libraries=(SCHEMA.name,), scope=EVERYTHING, text=words("目标"), size=60)
    )
    ranked_scores = [h.score or 0 for h in ranked.hits]
    assert ranked_scores == sorted(ranked_scores, reverse=True)
