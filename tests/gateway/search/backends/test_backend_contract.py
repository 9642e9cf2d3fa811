"""The search backend contract, run against Elasticsearch and the embedded index alike.

Documents carry hand-made tokens so that this suite tests the backends, not the analyser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from services.gateway.search.backends.base import SearchBackend
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
PARTNER_OF_CAST = VisibilityScope(frozenset({Visibility.PUBLIC, Visibility.PARTNER}), "cast")

TYPE = FilterField(
    "type", "类型", facetable=True, labels={"report": "研究报告", "brief": "政策建议"}
)
YEAR = FilterField("year", "年份", FieldKind.INTEGER, facetable=True, sortable=True)
PUBLISHED = FilterField("published_on", "发布日期", FieldKind.DATE, sortable=True)
KEYWORD = FilterField("keyword", "关键词", facetable=True)
INSTITUTION = FilterField("institution", "机构", facetable=True)
OPEN = FilterField("open_access", "开放获取", FieldKind.BOOLEAN, facetable=True)
TITLE_SORT = FilterField("title_sort", "题名排序", sortable=True)

DOCS = LibrarySchema(
    name="contract_docs",
    label="成果",
    fields={f.name: f for f in (TYPE, YEAR, PUBLISHED, KEYWORD, INSTITUTION, OPEN, TITLE_SORT)},
    text_fields=(TextField("title", 3.0, "title"), TextField("body", 1.0, "abstract")),
    default_sort=(("published_on", True),),
)
ORGS = LibrarySchema(
    name="contract_orgs",
    label="机构",
    fields={"type": FilterField("type", "类型", facetable=True)},
    text_fields=(TextField("name", 5.0, "name"),),
)


def doc(
    n: int,
    title: str,
    body: str,
    *,
    type_: str = "report",
    year: int = 2020,
    keywords: tuple[str, ...] = (),
    visibility: str = "public",
    owner: str = "cast",
    institutions: tuple[str, ...] = (),
    open_access: bool = True,
    version: int = 1,
) -> IndexDocument:
    record_id = f"out_{n:020d}"
    return IndexDocument(
        library=DOCS.name,
        id=record_id,
        version=version,
        visibility=visibility,
        owner_org=owner,
        label=title.replace(" ", ""),
        source={"id": record_id, "title": title.replace(" ", ""), "abstract": body, "v": version},
        tokens={"title": title, "body": body},
        values={
            "type": [type_],
            "year": [year],
            "published_on": [date(year, 1 + n % 12, 1)],
            "keyword": list(keywords),
            "institution": list(institutions),
            "open_access": [open_access],
            "title_sort": [f"{n:03d}"],
        },
    )


CORPUS = [
    doc(
        1,
        "人工智能 治理 政策",
        "人工智能 伦理 监管 框架",
        type_="brief",
        year=2023,
        keywords=("人工智能", "治理"),
        institutions=("ins_a",),
    ),
    doc(
        2,
        "人工智能 芯片 产业",
        "集成电路 芯片 人工智能 供应链",
        year=2022,
        keywords=("人工智能", "芯片"),
        institutions=("ins_a", "ins_b"),
    ),
    doc(
        3,
        "碳中和 能源 转型",
        "可再生 能源 碳中和 路径",
        year=2021,
        keywords=("碳中和",),
        institutions=("ins_b",),
    ),
    doc(
        4,
        "人工智能 内部 研判",
        "人工智能 内参",
        type_="brief",
        year=2023,
        visibility="internal",
        owner="cast",
        keywords=("人工智能",),
    ),
    doc(
        5,
        "人工智能 合作 报告",
        "人工智能 合作",
        year=2019,
        visibility="partner",
        owner="csae",
        keywords=("人工智能",),
        open_access=False,
    ),
    doc(
        6,
        "量子 计算 前沿",
        "量子 计算 量子 通信",
        year=2024,
        visibility="internal",
        owner="csae",
        keywords=("量子",),
    ),
]
VISIBLE_TO_PUBLIC = {1, 2, 3}
VISIBLE_TO_CAST_READER = {1, 2, 3, 4, 5}


def ids(result_hits) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(h.id[4:]) for h in result_hits]


def words(*items: str) -> TextQuery:
    return TextQuery(groups=tuple((Terms((w,)),) for w in items), raw=" ".join(items))


@pytest.fixture(scope="module")
async def loaded(search_backend: SearchBackend) -> AsyncIterator[SearchBackend]:
    await search_backend.ensure_library(DOCS)
    await search_backend.ensure_library(ORGS)
    await search_backend.ensure_library(DOCS)  # idempotent
    await search_backend.upsert(CORPUS)
    await search_backend.upsert(
        [
            IndexDocument(
                library=ORGS.name,
                id=f"ins_{i:020d}",
                version=1,
                visibility="public",
                owner_org="cast",
                label=name,
                source={"id": f"ins_{i:020d}", "name": name},
                tokens={"name": tokens},
                values={"type": ["university"]},
                suggest=suggest,
                suggest_hint="北京",
            )
            for i, (name, tokens, suggest) in enumerate(
                [
                    ("清华大学", "清华大学 清华 大学", ["清华大学", "qinghuadaxue", "qhdx", "thu"]),
                    (
                        "清华大学出版社",
                        "清华大学 出版社",
                        ["清华大学出版社", "qinghuadaxuechubanshe", "qhdxcbs"],
                    ),
                    ("北京大学", "北京大学 北京 大学", ["北京大学", "beijingdaxue", "bjdx", "pku"]),
                ]
            )
        ]
    )
    yield search_backend
    await search_backend.drop_library(DOCS.name)
    await search_backend.drop_library(ORGS.name)


async def search(backend: SearchBackend, **kwargs) -> object:  # type: ignore[no-untyped-def]
    kwargs.setdefault("libraries", (DOCS.name,))
    kwargs.setdefault("scope", EVERYTHING)
    return await backend.search(SearchRequest(**kwargs))


async def test_text_query_ranks_title_matches_first_and_applies_visibility(
    loaded: SearchBackend,
) -> None:
    everyone = await search(loaded, text=words("人工智能"), scope=PUBLIC)
    assert set(ids(everyone.hits)) == {1, 2} and everyone.total == 2
    reader = await search(loaded, text=words("人工智能"), scope=PARTNER_OF_CAST)
    assert set(ids(reader.hits)) == {1, 2, 4, 5} and reader.total == 4
    admin = await search(loaded, text=words("芯片"))
    assert ids(admin.hits) == [2]
    assert admin.hits[0].score is not None and admin.hits[0].source["title"] == "人工智能芯片产业"


async def test_all_words_must_match_or_groups_and_exclusions(loaded: SearchBackend) -> None:
    both = await search(loaded, text=words("人工智能", "芯片"))
    assert ids(both.hits) == [2]
    either = TextQuery(groups=((Terms(("芯片",)), Terms(("碳中和",))),))
    assert set(ids((await search(loaded, text=either)).hits)) == {2, 3}
    without = TextQuery(groups=((Terms(("人工智能",)),),), excluded=(Terms(("芯片",)),))
    assert set(ids((await search(loaded, text=without)).hits)) == {1, 4, 5}


async def test_filters_values_ranges_negation_and_booleans(loaded: SearchBackend) -> None:
    briefs = await search(loaded, filters=(FilterClause(TYPE, values=("brief",)),))
    assert set(ids(briefs.hits)) == {1, 4}
    recent = await search(loaded, filters=(FilterClause(YEAR, lower=2022),))
    assert set(ids(recent.hits)) == {1, 2, 4, 6}
    window = await search(loaded, filters=(FilterClause(YEAR, lower=2020, upper=2022),))
    assert set(ids(window.hits)) == {2, 3}
    dated = await search(
        loaded, filters=(FilterClause(PUBLISHED, lower=date(2023, 1, 1), upper=date(2023, 12, 31)),)
    )
    assert set(ids(dated.hits)) == {1, 4}
    not_ai = await search(
        loaded, filters=(FilterClause(KEYWORD, values=("人工智能",), negate=True),)
    )
    assert set(ids(not_ai.hits)) == {3, 6}
    multi = await search(loaded, filters=(FilterClause(INSTITUTION, values=("ins_b", "ins_x")),))
    assert set(ids(multi.hits)) == {2, 3}
    closed = await search(loaded, filters=(FilterClause(OPEN, values=(False,)),))
    assert ids(closed.hits) == [5]


async def test_facets_count_within_query_filters_and_visibility(loaded: SearchBackend) -> None:
    result = await search(
        loaded, text=words("人工智能"), facets=(TYPE, KEYWORD, YEAR), scope=PUBLIC
    )
    facets = {name: {b.value: b.count for b in buckets} for name, buckets in result.facets.items()}
    assert facets["type"] == {"brief": 1, "report": 1}
    assert facets["keyword"] == {"人工智能": 2, "治理": 1, "芯片": 1}
    assert facets["year"] == {2023: 1, 2022: 1}
    first = result.facets["keyword"][0]
    assert (first.value, first.count) == ("人工智能", 2)  # most frequent first


async def test_sorting_and_stable_tie_breaks(loaded: SearchBackend) -> None:
    by_year = await search(loaded, sort=(SortKey("year", True),))
    year_of = {d.id: d.values["year"][0] for d in CORPUS}
    years = [year_of[h.id] for h in by_year.hits]
    assert years == sorted(years, reverse=True) and len(years) == 6
    ties = [h.id for h in by_year.hits if year_of[h.id] == 2023]
    assert ties == sorted(ties)  # equal sort values break by id, so paging is stable
    ascending = await search(loaded, sort=(SortKey("title_sort", False),))
    assert ids(ascending.hits) == [1, 2, 3, 4, 5, 6]
    default = await search(loaded)  # default sort: published_on desc
    assert ids(default.hits)[0] == 6


async def test_offset_and_search_after_paging_cover_everything_once(loaded: SearchBackend) -> None:
    sort = (SortKey("year", False),)
    first = await search(loaded, sort=sort, size=4)
    second = await search(loaded, sort=sort, size=4, search_after=first.hits[-1].sort_values)
    assert first.total == second.total == 6
    assert sorted(ids(first.hits) + ids(second.hits)) == [1, 2, 3, 4, 5, 6]
    by_offset = await search(loaded, sort=sort, size=2, offset=2)
    assert ids(by_offset.hits) == ids(first.hits)[2:4]


async def test_external_versioning_ignores_stale_and_remembers_tombstones(
    loaded: SearchBackend,
) -> None:
    newer = doc(3, "碳中和 能源 新版", "更新", version=5)
    await loaded.upsert([newer])
    stale = doc(3, "碳中和 旧版 回退", "回退", version=4)
    await loaded.upsert([stale, stale])  # re-delivered and out of order
    got = await loaded.sources(DOCS.name, [newer.id])
    assert got[newer.id]["v"] == 5
    await loaded.delete(DOCS.name, newer.id, 6)
    await loaded.upsert([doc(3, "碳中和 复活", "不应出现", version=5)])  # late, older than delete
    assert await loaded.sources(DOCS.name, [newer.id]) == {}
    assert 3 not in ids((await search(loaded, text=words("碳中和"))).hits)
    await loaded.upsert([doc(3, "碳中和 能源 重建", "新记录", version=7)])  # newer than tombstone
    assert 3 in ids((await search(loaded, text=words("碳中和"))).hits)


async def test_referencing_finds_documents_by_value(loaded: SearchBackend) -> None:
    assert sorted(await loaded.referencing(DOCS.name, "institution", "ins_a")) == [
        CORPUS[0].id,
        CORPUS[1].id,
    ]
    assert await loaded.referencing(DOCS.name, "institution", "ins_none") == []


async def test_suggest_by_prefix_pinyin_initials_with_visibility(loaded: SearchBackend) -> None:
    for prefix in ("清华", "qinghua", "qh", "QH", "thu"):
        found = await loaded.suggest(prefix, [ORGS.name], PUBLIC, 10)
        assert found and found[0].label == "清华大学", (prefix, found)
        assert all(s.library == ORGS.name for s in found)
    assert [s.label for s in await loaded.suggest("bj", [ORGS.name], PUBLIC, 10)] == ["北京大学"]
    assert await loaded.suggest("zzz", [ORGS.name], PUBLIC, 10) == []
    hidden = await loaded.suggest("人工", [DOCS.name], PUBLIC, 10)
    assert hidden == []  # docs have no suggest keys; nothing invisible leaks either


async def test_stats_group_by_one_and_two_fields(loaded: SearchBackend) -> None:
    one = await loaded.stats(SearchRequest(libraries=(DOCS.name,), scope=PUBLIC), [TYPE])
    assert {b.key: b.count for b in one} == {("brief",): 1, ("report",): 2}
    two = await loaded.stats(
        SearchRequest(libraries=(DOCS.name,), scope=EVERYTHING, text=words("人工智能")),
        [TYPE, YEAR],
    )
    assert {b.key: b.count for b in two} == {
        ("brief", 2023): 2,
        ("report", 2022): 1,
        ("report", 2019): 1,
    }


async def test_multi_library_search_merges_results(loaded: SearchBackend) -> None:
    result = await search(
        loaded, libraries=(DOCS.name, ORGS.name), text=words("大学"), scope=PUBLIC
    )
    assert {h.library for h in result.hits} == {ORGS.name}
    mixed = await search(
        loaded,
        libraries=(DOCS.name, ORGS.name),
        text=TextQuery(groups=((Terms(("清华",)), Terms(("芯片",))),)),
        scope=PUBLIC,
        facets=(),
    )
    assert {h.library for h in mixed.hits} == {DOCS.name, ORGS.name}
    assert all(h.score is not None for h in mixed.hits)
    assert mixed.hits == sorted(mixed.hits, key=lambda h: -(h.score or 0))
