"""Elasticsearch-only behaviour: index layout, zero-downtime rebuilds, tombstones, errors."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from datetime import date

import pytest
from elasticsearch import AsyncElasticsearch

from services.gateway.search.backends.base import IndexUnavailable
from services.gateway.search.backends.elasticsearch import ElasticsearchBackend
from services.gateway.search.backends.elasticsearch import MappingConflict
from services.gateway.search.backends.elasticsearch import SearchBackendError
from services.gateway.search.backends.elasticsearch import index_name_for
from services.gateway.search.model import FieldKind
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

pytestmark = pytest.mark.elasticsearch

EVERYTHING = VisibilityScope(None)
PUBLIC = VisibilityScope(frozenset({Visibility.PUBLIC}))
YEAR = FilterField("year", "年份", FieldKind.INTEGER, facetable=True, sortable=True)
DAY = FilterField("day", "日期", FieldKind.DATE, sortable=True)
TAG = FilterField("tag", "标签", facetable=True)
SCHEMA = LibrarySchema(
    name="es_docs",
    label="文档",
    fields={f.name: f for f in (YEAR, DAY, TAG)},
    text_fields=(TextField("title", 2.0),),
    default_sort=(("day", True),),
)
PREFIX = f"zhihui_test_es_{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
async def raw(elasticsearch_url: str) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(elasticsearch_url, node_class="httpxasync", request_timeout=10)
    try:
        yield client
    finally:
        leftovers = await client.indices.get(index=f"{PREFIX}_*", expand_wildcards="all")
        for name in leftovers.body:
            await client.indices.delete(index=name, ignore_unavailable=True)
        await client.close()


@pytest.fixture(scope="module")
async def backend(
    elasticsearch_url: str, raw: AsyncElasticsearch
) -> AsyncIterator[ElasticsearchBackend]:
    es = ElasticsearchBackend(elasticsearch_url, index_prefix=PREFIX, refresh_on_write=True)
    try:
        yield es
    finally:
        await es.close()


def make(
    n: int,
    title: str,
    *,
    version: int = 1,
    year: int | list[int] = 2020,
    library: str = SCHEMA.name,
    visibility: str = "public",
    owner: str | None = "cast",
    suggest: tuple[str, ...] = (),
    label: str | None = None,
) -> IndexDocument:
    record_id = f"doc_{n:06d}"
    years = year if isinstance(year, list) else [year]
    return IndexDocument(
        library=library,
        id=record_id,
        version=version,
        visibility=visibility,
        owner_org=owner,
        label=label or title,
        source={"id": record_id, "title": title, "v": version},
        tokens={"title": title},
        values={
            "year": list(years),
            "day": [date(years[0], 1 + n % 12, 1)] if years else [],
            "tag": ["t"],
        },
        suggest=list(suggest),
    )


def words(*tokens: str) -> TextQuery:
    return TextQuery(groups=tuple((Terms((t,)),) for t in tokens))


async def all_ids(backend: ElasticsearchBackend, library: str = SCHEMA.name) -> set[str]:
    result = await backend.search(SearchRequest(libraries=(library,), scope=EVERYTHING, size=1000))
    assert result.total == len(result.hits)
    return {h.id for h in result.hits}


def test_index_names_are_valid_deterministic_and_distinct() -> None:
    names = [
        "institutions",
        "contract_docs",
        "datasets/nsfc-disciplines",
        "datasets/nsfc_disciplines",
        "Datasets/NSFC",
        "datasets/nsfc",
        "contract_docs_v2",
        "数据库",
        "a b",
        "a-b",
    ]
    mapped = [index_name_for(n) for n in names]
    assert len(set(mapped)) == len(names)
    assert mapped == [index_name_for(n) for n in names]  # deterministic
    assert index_name_for("datasets/nsfc-disciplines") == "datasets.nsfc-disciplines"
    for name in mapped:
        assert name == name.lower() and not set(name) & set('\\/*?"<>| ,#:')
        assert not name.startswith(("-", "_", "+", "."))
    assert index_name_for("contract_docs_v2") != "contract_docs_v2"  # never looks versioned


async def test_layout_alias_mapping_and_add_only_updates(
    backend: ElasticsearchBackend, raw: AsyncElasticsearch
) -> None:
    await backend.ensure_library(SCHEMA)
    alias = backend.alias(SCHEMA.name)
    targets = (await raw.indices.get_alias(name=alias)).body
    assert list(targets) == [f"{alias}_v1"]
    mapping = (await raw.indices.get_mapping(index=alias)).body[f"{alias}_v1"]["mappings"]
    props = mapping["properties"]
    assert props["tok_title"]["type"] == "text"
    assert props["tok_title"]["analyzer"] == "whitespace"
    assert props["v_year"]["type"] == "long" and props["s_year"]["type"] == "long"
    assert props["v_day"]["type"] == "date" and props["v_tag"]["type"] == "keyword"
    assert props["source"] == {"type": "object", "enabled": False}
    assert props["visibility"]["type"] == props["owner_org"]["type"] == "keyword"

    wider = LibrarySchema(
        name=SCHEMA.name,
        label=SCHEMA.label,
        fields={**SCHEMA.fields, "score": FilterField("score", "分", FieldKind.NUMBER)},
        text_fields=(*SCHEMA.text_fields, TextField("body", 1.0)),
        default_sort=SCHEMA.default_sort,
    )
    await backend.ensure_library(wider)
    await backend.ensure_library(wider)  # idempotent
    props = (await raw.indices.get_mapping(index=alias)).body[f"{alias}_v1"]["mappings"][
        "properties"
    ]
    assert props["v_score"]["type"] == "double" and props["tok_body"]["type"] == "text"
    changed = LibrarySchema(
        name=SCHEMA.name,
        label=SCHEMA.label,
        fields={**SCHEMA.fields, "year": FilterField("year", "年份", FieldKind.KEYWORD)},
        text_fields=SCHEMA.text_fields,
    )
    with pytest.raises(MappingConflict, match="v_year"):
        await backend.ensure_library(changed)
    await backend.ensure_library(SCHEMA)
    assert list((await raw.indices.get_alias(name=alias)).body) == [f"{alias}_v1"]


async def test_rebuild_swaps_alias_with_no_downtime_and_keeps_concurrent_writes(
    backend: ElasticsearchBackend, raw: AsyncElasticsearch
) -> None:
    await backend.ensure_library(SCHEMA)
    alias = backend.alias(SCHEMA.name)
    before = list((await raw.indices.get_alias(name=alias)).body)
    corpus = [make(n, f"旧 标题{n}") for n in range(1, 41)]
    await backend.upsert(corpus)
    await backend.delete(SCHEMA.name, "doc_000040", 9)  # a tombstone in the old index
    expected = {d.id for d in corpus} - {"doc_000040"}
    assert await all_ids(backend) == expected

    loading = asyncio.Event()

    async def feed() -> AsyncIterator[IndexDocument]:
        for n in range(1, 41):  # the feed is older than the tombstone for doc 40
            if n == 20:
                loading.set()
                await asyncio.sleep(0.3)
            yield make(n, f"新 标题{n}", version=2)

    seen: list[set[str]] = []

    async def keep_searching() -> None:
        while True:
            seen.append(await all_ids(backend))
            await asyncio.sleep(0.02)

    searcher = asyncio.create_task(keep_searching())
    rebuild = asyncio.create_task(backend.rebuild_library(SCHEMA, feed()))
    await loading.wait()
    # Writes that arrive through the alias while the new index is loading.
    await backend.upsert([make(5, "并发 更新", version=3)])
    await backend.delete(SCHEMA.name, "doc_000006", 3)
    loaded = await rebuild
    await asyncio.sleep(0.05)
    searcher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await searcher
    assert loaded == 40
    assert seen and all(ids >= expected - {"doc_000006"} for ids in seen)  # never empty/partial

    after = list((await raw.indices.get_alias(name=alias)).body)
    assert after == [f"{alias}_v2"] and before == [f"{alias}_v1"]
    assert not (await raw.indices.exists(index=f"{alias}_v1")).body  # old index gone
    assert await all_ids(backend) == expected - {"doc_000006"}
    got = await backend.sources(SCHEMA.name, ["doc_000001", "doc_000005", "doc_000006"])
    assert got["doc_000001"]["v"] == 2  # from the feed
    assert got["doc_000005"]["v"] == 3  # the concurrent newer write won over the feed
    assert "doc_000006" not in got  # the concurrent delete survived the swap
    # The tombstone moved too: the rebuild's older copy of doc 40 did not resurrect it.
    assert await backend.sources(SCHEMA.name, ["doc_000040"]) == {}
    found = await backend.search(
        SearchRequest(libraries=(SCHEMA.name,), scope=EVERYTHING, text=words("新"))
    )
    assert found.total == 37  # 40 fed - 40 (tombstone) - 5 (newer) - 6 (deleted)


async def test_lucene_syntax_in_tokens_is_a_literal_word(backend: ElasticsearchBackend) -> None:
    await backend.ensure_library(SCHEMA)
    await backend.upsert(
        [
            make(101, "title:(a||b)^3 普通", version=10),
            make(102, "a b 普通", version=10),
            make(103, "c++ AND", version=10),
        ]
    )
    for token, expected in [
        ("title:(a||b)^3", {"doc_000101"}),
        ("title:(a OR b)^3", set()),  # three words, none a token of any document
        ("c++", {"doc_000103"}),
        ("AND", {"doc_000103"}),
        ("*", set()),
        ('"', set()),
        ("a\\", set()),
        ('{"match_all": {}}', set()),
    ]:
        for phrase in (False, True):
            text = TextQuery(groups=((Terms((token,), phrase=phrase),),))
            result = await backend.search(
                SearchRequest(libraries=(SCHEMA.name,), scope=EVERYTHING, text=text)
            )
            assert {h.id for h in result.hits} == expected, (token, phrase)


async def test_tombstone_is_a_document_and_outlives_gc_deletes(
    backend: ElasticsearchBackend, raw: AsyncElasticsearch
) -> None:
    await backend.ensure_library(SCHEMA)
    alias = backend.alias(SCHEMA.name)
    # Make ES forget real deletes at once: our tombstones must not depend on gc_deletes.
    await raw.indices.put_settings(index=alias, settings={"index": {"gc_deletes": "0s"}})
    await backend.upsert([make(201, "墓碑 测试", version=4)])
    await backend.delete(SCHEMA.name, "doc_000201", 5)
    stored = await raw.get(index=alias, id="doc_000201")
    assert stored.body["_version"] == 5
    assert stored.body["_source"]["deleted"] is True
    await asyncio.sleep(0.1)
    await backend.upsert([make(201, "墓碑 复活", version=5), make(201, "墓碑 复活", version=3)])
    assert await backend.sources(SCHEMA.name, ["doc_000201"]) == {}
    result = await backend.search(
        SearchRequest(libraries=(SCHEMA.name,), scope=EVERYTHING, text=words("墓碑"))
    )
    assert result.hits == [] and result.total == 0
    assert "doc_000201" not in await backend.referencing(SCHEMA.name, "tag", "t")
    await backend.delete(SCHEMA.name, "doc_000201", 5)  # a re-delivered delete is harmless
    await backend.upsert([make(201, "墓碑 重建", version=6)])
    assert (await backend.sources(SCHEMA.name, ["doc_000201"]))["doc_000201"]["v"] == 6


async def test_unreachable_server_raises_index_unavailable() -> None:
    dead = ElasticsearchBackend("http://127.0.0.1:9", request_timeout=2)
    try:
        with pytest.raises(IndexUnavailable):
            await dead.ping()
        with pytest.raises(IndexUnavailable):
            await dead.upsert([make(1, "x")])
        with pytest.raises(IndexUnavailable):
            await dead.delete(SCHEMA.name, "doc_000001", 2)
        with pytest.raises(IndexUnavailable):
            await dead.search(SearchRequest(libraries=(SCHEMA.name,), scope=EVERYTHING))
        with pytest.raises(IndexUnavailable):
            await dead.ensure_library(SCHEMA)
    finally:
        await dead.close()


async def test_a_connection_closed_while_opening_is_an_outage_not_a_500() -> None:
    """anyio raises AttributeError (getpeername of a closed socket) when Elasticsearch dies
    as a connection opens; seen in the SIGKILL fault test. It must be a 503, like a refusal."""
    backend = ElasticsearchBackend("http://127.0.0.1:9", request_timeout=2)

    async def closed_while_opening() -> None:
        raise AttributeError("'NoneType' object has no attribute 'getpeername'")

    async def our_bug() -> None:
        raise AttributeError("'Hit' object has no attribute 'nope'")

    try:
        with pytest.raises(IndexUnavailable):
            await backend._call("search", closed_while_opening)
        with pytest.raises(AttributeError):  # anything else is still a bug, not an outage
            await backend._call("search", our_bug)
    finally:
        await backend.close()


async def test_writes_to_a_missing_library_fail_without_creating_an_index(
    backend: ElasticsearchBackend, raw: AsyncElasticsearch
) -> None:
    with pytest.raises(IndexUnavailable):
        await backend.upsert([make(1, "无库", library="never_ensured")])
    assert not (await raw.indices.exists(index=backend.alias("never_ensured"))).body
    result = await backend.search(SearchRequest(libraries=("never_ensured",), scope=EVERYTHING))
    assert result.total == 0 and result.hits == []
    assert await backend.sources("never_ensured", ["doc_000001"]) == {}


async def test_rejected_requests_do_not_leak_elasticsearch_text(
    backend: ElasticsearchBackend,
) -> None:
    await backend.ensure_library(SCHEMA)
    request = SearchRequest(
        libraries=(SCHEMA.name,),
        scope=EVERYTHING,
        sort=(SortKey("year", False),),
        search_after=("not a number", "doc", SCHEMA.name),
    )
    with pytest.raises(SearchBackendError) as caught:
        await backend.search(request)
    message = str(caught.value)
    assert "HTTP 400" in message and "not a number" not in message and "parse" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_dataset_library_names_and_first_value_sorting(
    backend: ElasticsearchBackend, raw: AsyncElasticsearch
) -> None:
    schema = LibrarySchema(
        name="datasets/nsfc-disciplines",
        label="学科",
        fields=SCHEMA.fields,
        text_fields=SCHEMA.text_fields,
        default_sort=SCHEMA.default_sort,
    )
    await backend.ensure_library(schema)
    assert backend.alias(schema.name) == f"{PREFIX}_datasets.nsfc-disciplines"
    docs = [
        make(1, "学科 一", year=[2030, 2010], library=schema.name),
        make(2, "学科 二", year=2020, library=schema.name),
        make(3, "学科 三", year=[], library=schema.name),
    ]
    await backend.upsert(docs)
    ascending = await backend.search(
        SearchRequest(libraries=(schema.name,), scope=EVERYTHING, sort=(SortKey("year", False),))
    )
    # Multi-valued fields sort by their first value; missing values sort last.
    assert [h.id for h in ascending.hits] == ["doc_000002", "doc_000001", "doc_000003"]
    descending = await backend.search(
        SearchRequest(libraries=(schema.name,), scope=EVERYTHING, sort=(SortKey("year", True),))
    )
    assert [h.id for h in descending.hits] == ["doc_000001", "doc_000002", "doc_000003"]
    # Date sort values survive a JSON round trip and page correctly.
    by_day = SearchRequest(libraries=(schema.name,), scope=EVERYTHING, size=1)
    first = await backend.search(by_day)
    cursor = json.loads(json.dumps(first.hits[0].sort_values))
    rest = await backend.search(
        SearchRequest(
            libraries=(schema.name,), scope=EVERYTHING, size=5, search_after=tuple(cursor)
        )
    )
    assert len(rest.hits) == 2 and first.hits[0].id not in {h.id for h in rest.hits}
    await backend.drop_library(schema.name)
    left = await raw.indices.get(index=f"{PREFIX}_datasets.nsfc-disciplines*")
    assert left.body == {}


async def test_suggest_ranks_exact_then_shorter_then_label_with_visibility(
    backend: ElasticsearchBackend,
) -> None:
    schema = LibrarySchema(name="es_names", label="名称", fields={}, text_fields=())
    await backend.ensure_library(schema)
    await backend.upsert(
        [
            make(1, "x", library=schema.name, label="中国科学院大学", suggest=("zgkxydx", "zgk")),
            make(2, "x", library=schema.name, label="中国科学院", suggest=("zgkxy",)),
            make(3, "x", library=schema.name, label="中国科协", suggest=("zgkx",)),
            make(4, "x", library=schema.name, label="中国科技", suggest=("zgkj",)),
            make(
                5,
                "x",
                library=schema.name,
                label="中国科学 内部",
                suggest=("zgk",),
                visibility="internal",
                owner="csae",
            ),
            make(6, "x", library=schema.name, label="已删除", suggest=("zgk",)),
        ]
    )
    await backend.delete(schema.name, "doc_000006", 2)
    public = await backend.suggest("ZGK", [schema.name], PUBLIC, 10)
    assert [s.label for s in public] == ["中国科学院大学", "中国科协", "中国科技", "中国科学院"]
    assert public[0].score > public[1].score == public[2].score > public[3].score
    own = VisibilityScope(frozenset({Visibility.PUBLIC}), "csae")
    assert [s.label for s in await backend.suggest("zgk", [schema.name], own, 2)] == [
        "中国科学 内部",
        "中国科学院大学",
    ]
    nobody = VisibilityScope(frozenset())
    assert await backend.suggest("zgk", [schema.name], nobody, 10) == []
    await backend.drop_library(schema.name)


async def test_phrases_need_adjacent_tokens_in_order(backend: ElasticsearchBackend) -> None:
    await backend.ensure_library(SCHEMA)
    await backend.upsert([make(301, "短语 甲 乙 丙", version=10), make(302, "短语 乙 丁 甲")])
    phrase = TextQuery(groups=((Terms(("甲", "乙"), phrase=True),),))
    loose = TextQuery(groups=((Terms(("甲", "乙")),),))
    for text, expected in [(phrase, {"doc_000301"}), (loose, {"doc_000301", "doc_000302"})]:
        result = await backend.search(
            SearchRequest(libraries=(SCHEMA.name,), scope=EVERYTHING, text=text)
        )
        assert {h.id for h in result.hits} == expected


async def test_concurrent_ensure_library_creates_one_index(
    backend: ElasticsearchBackend, raw: AsyncElasticsearch
) -> None:
    schema = LibrarySchema(name="es_race", label="竞争", fields={}, text_fields=())
    await asyncio.gather(*(backend.ensure_library(schema) for _ in range(4)))
    alias = backend.alias(schema.name)
    assert list((await raw.indices.get_alias(name=alias)).body) == [f"{alias}_v1"]
    await backend.drop_library(schema.name)
    assert not (await raw.indices.exists_alias(name=alias)).body
