"""A realistic slice of real data, loaded through the gateway API as admin, for end-to-end
search tests: universities from the Ministry of Education list, experts affiliated with them,
CSL paper abstracts as outcomes (some partner/internal, owned by two organisations), and
special databases. Expected results are always derived from what was loaded here.

The `corpus` fixture (conftest.py) loads it once per test module and backend.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx

from services.vocabularies.disciplines import disciplines
from tests.data import SHARED_DATA

UNIVERSITIES = SHARED_DATA / "cn-universities" / "china_mainland_universities.json"
CSL = SHARED_DATA / "csl-benchmark" / "csl_benchmark_2000.jsonl"

# Callers of the visibility matrix: an API key of org "cast" ("reader"), of org "csae"
# ("reader_other"), no key, and an admin.
CALLERS = ("anonymous", "reader", "reader_other", "admin")
CALLER_ORG = {"reader": "cast", "reader_other": "csae"}
ORGS = ("cast", "csae")

# Must be in the slice (near-duplicate names on purpose).
REQUIRED = ("清华大学", "北京大学", "华北电力大学", "华北电力大学(北京)", "中国科学院大学")
EXTRA_INSTITUTIONS: dict[str, dict[str, Any]] = {
    # The parent university of the two campuses is not in the MoE list under its bare name.
    "华北电力大学": {"name_en": "North China Electric Power University", "acronyms": ["NCEPU"]},
    "中国科学院": {"type": "research_institute", "name_en": "Chinese Academy of Sciences"},
}
DETAILS: dict[str, dict[str, Any]] = {
    "清华大学": {
        "name_en": "Tsinghua University",
        "aliases": ["国立清华大学"],
        "acronyms": ["THU"],
        "established_year": 1911,
        "city": "北京市",
        "tags": ["双一流"],
    },
    "北京大学": {
        "name_en": "Peking University",
        "aliases": ["京师大学堂"],
        "acronyms": ["PKU"],
        "established_year": 1898,
        "city": "北京市",
        "tags": ["双一流"],
    },
    "华北电力大学(北京)": {"city": "北京市", "established_year": 1958},
    "中国科学院大学": {"acronyms": ["UCAS"], "established_year": 1978, "tags": ["双一流"]},
}
# Children (北京大学医学部 → 北京大学, …): real campuses and schools of the list.
PARENTS = {
    "北京大学医学部": "北京大学",
    "北京科技大学延庆分校": "北京科技大学",
    "北京邮电大学(宏福校区)": "北京邮电大学",
    "华北电力大学(北京)": "华北电力大学",
    "华北电力大学(保定)": "华北电力大学",
    "中国科学院大学": "中国科学院",
}

# Experts (fictional people) at real universities: (name, title, institutions, disciplines,
# research areas).
EXPERTS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    ("张明远", "教授", ("清华大学",), ("F02",), ("图像识别", "神经网络")),
    ("李晓华", "研究员", ("北京大学", "清华大学"), ("F0201",), ("算法设计", "优化方法")),
    ("王建国", "教授", ("华北电力大学(北京)",), ("E07",), ("电力系统", "智能电网")),
    ("刘洋", "副教授", ("中国科学院大学",), ("D0106",), ("遥感", "地理信息")),
    ("陈静", "教授", ("北京师范大学",), ("G03",), ("教育政策",)),
    ("赵磊", "讲师", ("华北电力大学(保定)",), ("E0701",), ("电磁场",)),
    ("孙悦", "教授", ("北京大学医学部",), (), ("临床医学",)),
    ("周海峰", "研究员", ("中国科学院大学", "北京大学"), ("F03",), ("控制理论",)),
    ("吴晓明", "教授", ("复旦大学",), ("A01",), ("应用数学",)),
    ("郑丽", "副研究员", ("浙江大学",), ("F01",), ("信号处理",)),
)

# CSL 学科 names mapped to NSFC codes where one is clearly the same subject.
DISCIPLINE_CODES = {
    "计算机科学与技术": "F02",
    "电气工程": "E07",
    "信息与通信工程": "F01",
    "控制科学与工程": "F03",
    "电子科学与技术": "F01",
}
THEMES = ("算法", "图像", "教育", "政策", "神经网络", "电力", "电网", "遥感", "优化")
N_OUTCOMES = 150


def sees(caller: str, visibility: str, owner_org: str | None) -> bool:
    """The platform's visibility rule, written out independently of the code under test."""
    if caller == "admin" or visibility == "public":
        return True
    if caller == "anonymous":
        return False
    return visibility == "partner" or owner_org == CALLER_ORG[caller]


def universities(limit: int) -> list[tuple[str, str]]:
    """(name, province) of `limit` universities, REQUIRED first, then Beijing, then others."""
    by_province = json.loads(UNIVERSITIES.read_text(encoding="utf-8"))
    located = {n: p for p, entry in by_province.items() for n in entry["all"]}
    located.setdefault("华北电力大学", "北京")
    chosen = [n for n in REQUIRED if n in located]
    wanted = [
        *PARENTS,
        *PARENTS.values(),
        *(i for e in EXPERTS for i in e[2]),
        *by_province["北京"]["all"][:40],
        *(n for p in ("上海", "江苏", "湖北", "广东") for n in by_province[p]["all"][:6]),
    ]
    for name in wanted:
        if len(chosen) >= limit:
            break
        if name in located and name not in chosen:
            chosen.append(name)
    return [(n, located[n]) for n in chosen]


def papers(limit: int) -> list[dict[str, Any]]:
    """CSL papers: those on a few themes first (so queries overlap), then the rest, by id."""
    rows = [json.loads(line) for line in CSL.read_text(encoding="utf-8").splitlines() if line]
    themed = [r for r in rows if any(t in r["title"] for t in THEMES)]
    rest = [r for r in rows if r not in themed]
    return (themed + rest)[:limit]


@dataclass
class Corpus:
    institutions: dict[str, dict[str, Any]]  # by name
    experts: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)  # slug → definition
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # slug → records
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def visible_outcomes(self, caller: str) -> list[dict[str, Any]]:
        return [o for o in self.outcomes if sees(caller, o["visibility"], o["owner_org"])]

    def institution_name(self, institution_id: str) -> str:
        return next(r["name"] for r in self.institutions.values() if r["id"] == institution_id)


async def _gather(calls: Iterable[Callable[[], Awaitable[Any]]], limit: int = 8) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(run(c) for c in calls))


async def create(
    gateway: httpx.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await gateway.post(path, json=body, headers=headers)
    assert response.status_code == 201, (path, response.text)
    return response.json()


def _outcome_body(i: int, paper: dict[str, Any], experts: list[dict[str, Any]]) -> dict[str, Any]:
    vocabulary = disciplines()
    code = DISCIPLINE_CODES.get(paper["discipline"])
    named = vocabulary.by_name(paper["discipline"])
    codes = [c for c in (code, named.code if named else None) if c]
    # Visibility and owner in a fixed rotation: public (both orgs), partner, internal.
    visibility, owner = [
        ("public", "cast"),
        ("public", "csae"),
        ("partner", "cast"),
        ("internal", "cast"),
        ("public", "cast"),
        ("internal", "csae"),
        ("partner", "csae"),
    ][i % 7]
    kind = {3: "research_report", 7: "policy_brief"}.get(i % 10, "paper")
    first, second = experts[i % len(experts)], experts[(i * 3 + 1) % len(experts)]
    authors: list[dict[str, Any]] = [{"expert_id": first["id"]}]
    if i % 3 == 0 and second["id"] != first["id"]:
        authors.append({"expert_id": second["id"]})
    if i % 4 == 0:
        authors.append({"name": "课题组"})
    institution_ids = list(
        dict.fromkeys(
            a["institution_id"]
            for e in experts
            if e["id"] in {x.get("expert_id") for x in authors}
            for a in e["affiliations"][:1]
        )
    )
    year = 2010 + i % 11
    published = f"{year}" if i % 5 == 0 else f"{year}-{i % 12 + 1:02d}-{i % 27 + 1:02d}"
    return {
        "title": paper["title"],
        "abstract": paper["abstract"],
        "type": kind,
        "keywords": paper["keywords"],
        "disciplines": codes,
        "authors": authors,
        "institution_ids": institution_ids,
        "published_on": published,
        "language": "zh",
        "visibility": visibility,
        "owner_org": owner,
        "source": "csl",
        "external_id": paper["id"],
    }


DATASET_CATEGORIES = ("工学", "理学", "医学", "农学", "管理学", "教育学")


def dataset_definition(slug: str, visibility: str, owner: str) -> dict[str, Any]:
    """A special database of CSL paper records: title, abstract, category, year, institution."""
    return {
        "slug": slug,
        "name": f"科技论文专题库（{visibility}）",
        "description": "CSL 中文核心期刊论文摘要的专题数据库",
        "visibility": visibility,
        "owner_org": owner,
        "title_field": "title",
        "fields": [
            {"name": "title", "label": "题名", "type": "text", "required": True},
            {"name": "abstract", "label": "摘要", "type": "text", "searchable": True},
            {
                "name": "category",
                "label": "门类",
                "type": "keyword",
                "filterable": True,
                "facetable": True,
                "enum": [{"value": c, "label": f"{c}门类"} for c in DATASET_CATEGORIES],
            },
            {
                "name": "year",
                "label": "年份",
                "type": "integer",
                "filterable": True,
                "facetable": True,
                "sortable": True,
            },
            {
                "name": "host",
                "label": "依托单位",
                "type": "ref:institutions",
                "filterable": True,
                "facetable": True,
            },
        ],
    }


async def load(
    gateway: httpx.AsyncClient,
    admin: dict[str, str],
    *,
    n_institutions: int = 60,
    n_outcomes: int = N_OUTCOMES,
    datasets: bool = True,
) -> Corpus:
    chosen = universities(n_institutions - len(EXTRA_INSTITUTIONS) + 1)
    names = [n for n, _ in chosen] + [n for n in EXTRA_INSTITUTIONS if n not in dict(chosen)]
    province = dict(chosen) | {"中国科学院": "北京"}
    institutions: dict[str, dict[str, Any]] = {}

    def body(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": "university",
            "province": province[name],
            "owner_org": "cast",
            "source": "moe",
            "external_id": name,
            **EXTRA_INSTITUTIONS.get(name, {}),
            **DETAILS.get(name, {}),
        }

    # Parents first (none of them has a parent here), so children can name them.
    for name in (n for n in names if n in PARENTS.values()):
        assert name not in PARENTS
        institutions[name] = await create(gateway, admin, "/api/v1/institutions", body(name))
    rest = [n for n in names if n not in institutions]

    def make_institution(name: str) -> Callable[[], Awaitable[dict[str, Any]]]:
        b = body(name)
        if name in PARENTS and PARENTS[name] in institutions:
            b["parent_id"] = institutions[PARENTS[name]]["id"]
        return lambda: create(gateway, admin, "/api/v1/institutions", b)

    for record in await _gather(make_institution(n) for n in rest):
        institutions[record["name"]] = record

    def make_expert(spec: tuple[Any, ...], i: int) -> Callable[[], Awaitable[dict[str, Any]]]:
        name, title, at, codes, areas = spec
        b = {
            "name": name,
            "title": title,
            "affiliations": [
                {"institution_id": institutions[n]["id"], "department": "研究院"}
                for n in at
                if n in institutions
            ],
            "disciplines": list(codes),
            "research_areas": list(areas),
            "bio": f"{name}，{title}，主要从事{'、'.join(areas)}研究。",
            "owner_org": ORGS[i % 2],
        }
        return lambda: create(gateway, admin, "/api/v1/experts", b)

    experts = await _gather(
        make_expert(e, i) for i, e in enumerate(EXPERTS) if any(n in institutions for n in e[2])
    )
    outcomes = await _gather(
        (lambda b=_outcome_body(i, p, experts): create(gateway, admin, "/api/v1/outcomes", b))
        for i, p in enumerate(papers(n_outcomes))
    )
    corpus = Corpus(institutions=institutions, experts=experts, outcomes=outcomes)
    if datasets:
        await _load_datasets(gateway, admin, corpus)
    return corpus


async def _load_datasets(gateway: httpx.AsyncClient, admin: dict[str, str], corpus: Corpus) -> None:
    rows = [
        r
        for r in (json.loads(x) for x in CSL.read_text(encoding="utf-8").splitlines() if x)
        if r["split"] == "test" and r["category"] in DATASET_CATEGORIES
    ]
    homes = [corpus.institutions[n]["id"] for n in REQUIRED if n in corpus.institutions]
    for slug, visibility, owner, count in (
        ("csl-papers", "public", "cast", 12),
        ("csl-internal", "internal", "cast", 3),
    ):
        corpus.datasets[slug] = await create(
            gateway, admin, "/api/v1/datasets", dataset_definition(slug, visibility, owner)
        )
        corpus.records[slug] = [
            await create(
                gateway,
                admin,
                f"/api/v1/datasets/{slug}/records",
                {
                    "values": {
                        "title": r["title"],
                        "abstract": r["abstract"],
                        "category": r["category"],
                        "year": 2015 + i % 6,
                        "host": homes[i % len(homes)],
                    },
                    "owner_org": owner,
                },
            )
            for i, r in enumerate(rows[:count] if slug == "csl-papers" else rows[-count:])
        ]


async def walk(
    gateway: httpx.AsyncClient,
    path: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    page_size: int = 100,
) -> tuple[list[dict[str, Any]], int]:
    """Every result of a list by cursor paging, and meta.count of the first page.

    Asserts the walk repeats nothing and ends with as many results as meta.count said.
    """
    results: list[dict[str, Any]] = []
    cursor = "*"
    count = None
    while cursor:
        response = await gateway.get(
            path,
            params={**(params or {}), "cursor": cursor, "page_size": page_size},
            headers=headers,
        )
        assert response.status_code == 200, (path, params, response.text)
        body = response.json()
        count = body["meta"]["count"] if count is None else count
        assert body["meta"]["count"] == count, "the count changed while paging"
        results += body["results"]
        cursor = body["meta"]["next_cursor"]
        assert len(results) <= count, "cursor paging returned more than meta.count"
    ids = [r["id"] for r in results]
    assert len(ids) == len(set(ids)), f"cursor paging repeated {len(ids) - len(set(ids))} hits"
    assert len(ids) == count, f"cursor paging gave {len(ids)} of {count} results"
    return results, int(count or 0)


async def ids_of(
    gateway: httpx.AsyncClient,
    path: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> set[str]:
    results, _ = await walk(gateway, path, params, headers)
    return {r["id"] for r in results}
