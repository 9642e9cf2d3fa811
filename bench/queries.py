"""The 200 search requests every latency benchmark sends, the same ones every time.

Realistic `GET /api/v1/outcomes` requests in the proportions a search page produces them:
Chinese terms taken from the keywords of the CSL papers the generated outcomes are built from
(bench/generate.py), alone or two at a time, quoted, excluded or OR'ed; filters on type, year
ranges and institutions; facets; explicit sorts; browsing without a query; deep pages by
offset and by cursor.

Two things depend on the loaded platform and are filled in by `resolve`: an institution
filter names the institution (its ID is assigned at import), and a cursor query states how
many pages to walk (its cursor is the one the gateway returns after them).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

from bench.generate import CSL
from bench.generate import institution_names
from services.gateway.search.service import ListParams

QUERY_COUNT = 200
DEFAULT_SEED = 20261129
LIBRARY = "outcomes"
OUTCOME_TYPES = ("paper", "research_report", "policy_brief", "book")
YEARS = (2010, 2020)  # the generator's publication years
INSTITUTION_PLACEHOLDER = "{institution}"

# How many of each kind of request the set holds (sums to QUERY_COUNT).
MIX = {
    "keyword": 50,
    "two_keywords": 24,
    "keyword_type": 18,
    "keyword_years": 18,
    "institution": 14,
    "facets": 20,
    "sort": 14,
    "syntax": 12,
    "browse": 8,
    "deep_offset": 10,
    "deep_cursor": 12,
}
FACET_SETS = ("type,year", "keyword", "type,institution", "year,discipline", "type")
SORTS = ("year:desc", "published_on:asc", "title:asc", "year:asc,title:asc")


@dataclass(frozen=True)
class BenchQuery:
    """One list request: its query parameters, and what `resolve` must fill in."""

    number: int
    kind: str
    params: dict[str, str] = field(default_factory=dict)
    institution: str | None = None  # a name: `filter` holds INSTITUTION_PLACEHOLDER for its ID
    cursor_pages: int = 0  # pages to walk with cursor=* before the measured one

    def url_params(self) -> dict[str, str]:
        return dict(self.params)


def list_params(params: Mapping[str, str]) -> ListParams:
    """A list request's query parameters as the gateway's list route parses them."""
    return ListParams(
        q=params.get("q"),
        filter=params.get("filter"),
        sort=params.get("sort"),
        facets=params.get("facets"),
        page=int(params["page"]) if "page" in params else None,
        page_size=int(params.get("page_size", 20)),
        cursor=params.get("cursor"),
        select=params.get("select"),
    )


def csl_keywords() -> tuple[list[str], list[tuple[str, ...]]]:
    """Keywords by how many papers carry them (most first), and each paper's keyword list."""
    papers: list[tuple[str, ...]] = []
    with (CSL / "csl_benchmark_2000.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            paper = json.loads(line)
            papers.append(tuple(k.strip() for k in paper.get("keywords", []) if _usable(k)))
    counts = Counter(k for keywords in papers for k in set(keywords))
    ranked = sorted(counts, key=lambda k: (-counts[k], k))
    return ranked, [p for p in papers if len(p) >= 2]


def _usable(keyword: str) -> bool:
    """A term a user would type: 2–10 characters, no brackets or quotes."""
    keyword = keyword.strip()
    return 2 <= len(keyword) <= 10 and not any(c in keyword for c in "()（）\"'“”")


def build_queries(count: int = QUERY_COUNT, seed: int = DEFAULT_SEED) -> list[BenchQuery]:
    """The deterministic query set (the same arguments give the same list)."""
    rng = random.Random(seed)
    ranked, papers = csl_keywords()
    common = ranked[:150]  # carried by several papers: many hits
    any_keyword = ranked[:2000]
    institutions = [name for name, _kind, _province in institution_names()[:300]]

    def keyword() -> str:
        return rng.choice(common) if rng.random() < 0.6 else rng.choice(any_keyword)

    def years() -> str:
        start = rng.randint(YEARS[0], YEARS[1] - 1)
        end = rng.randint(start, YEARS[1])
        return f"year:{start}..{end}" if rng.random() < 0.8 else f"year:{start}.."

    def types() -> str:
        return "type:" + "|".join(rng.sample(OUTCOME_TYPES, k=rng.choice((1, 1, 2))))

    makers: dict[str, Callable[[], tuple[dict[str, str], str | None, int]]] = {
        "keyword": lambda: ({"q": keyword()}, None, 0),
        "two_keywords": lambda: ({"q": " ".join(rng.sample(rng.choice(papers), 2))}, None, 0),
        "keyword_type": lambda: ({"q": keyword(), "filter": types()}, None, 0),
        "keyword_years": lambda: (
            {
                "q": keyword(),
                "filter": years(),
                **({"facets": "type"} if rng.random() < 0.3 else {}),
            },
            None,
            0,
        ),
        "institution": lambda: _institution_query(rng, institutions, keyword),
        "facets": lambda: ({"q": keyword(), "facets": rng.choice(FACET_SETS)}, None, 0),
        "sort": lambda: (
            {"q": rng.choice(common), "sort": rng.choice(SORTS)}
            if rng.random() < 0.6
            else {"filter": types(), "sort": rng.choice(SORTS)},
            None,
            0,
        ),
        "syntax": lambda: (_syntax_query(rng, common, papers), None, 0),
        "browse": lambda: (
            {"filter": f"{types()},{years()}", "facets": "type,year"}
            if rng.random() < 0.5
            else {"filter": years()},
            None,
            0,
        ),
        "deep_offset": lambda: (
            {
                "filter": rng.choice((years(), types(), "type:paper")),
                "page": str(rng.randint(10, 100)),
                "page_size": "20",
            },
            None,
            0,
        ),
        "deep_cursor": lambda: (
            {
                **({"q": rng.choice(common[:40])} if rng.random() < 0.4 else {"filter": types()}),
                "sort": rng.choice(("published_on:desc", "title:asc", "year:desc")),
                "page_size": "50",
                "cursor": "*",
            },
            None,
            rng.randint(3, 10),
        ),
    }
    scaled = _scaled_mix(count)
    plan = [kind for kind, n in scaled.items() for _ in range(n)]
    rng.shuffle(plan)
    queries = []
    for number, kind in enumerate(plan):
        params, institution, pages = makers[kind]()
        queries.append(BenchQuery(number, kind, params, institution, pages))
    return queries


def _scaled_mix(count: int) -> dict[str, int]:
    """MIX scaled to `count` queries (at least one of each kind when count allows)."""
    total = sum(MIX.values())
    scaled = {kind: max(1, n * count // total) for kind, n in MIX.items()}
    kinds = list(MIX)
    i = 0
    while sum(scaled.values()) < count:
        scaled[kinds[i % len(kinds)]] += 1
        i += 1
    while sum(scaled.values()) > count:
        biggest = max(scaled, key=lambda k: scaled[k])
        scaled[biggest] -= 1
    return scaled


def _institution_query(
    rng: random.Random, institutions: Sequence[str], keyword: Callable[[], str]
) -> tuple[dict[str, str], str, int]:
    name = rng.choice(institutions)
    params = {"filter": f"institution:{INSTITUTION_PLACEHOLDER}"}
    roll = rng.random()
    if roll < 0.4:
        params["sort"] = "published_on:desc"
    elif roll < 0.7:
        params["q"] = keyword()
    else:
        params["facets"] = "type,year"
    return params, name, 0


def _syntax_query(
    rng: random.Random, common: Sequence[str], papers: Sequence[tuple[str, ...]]
) -> dict[str, str]:
    """A quoted phrase, an exclusion or an OR, as power users type them."""
    roll = rng.random()
    if roll < 0.4:
        return {"q": f'"{rng.choice(common)}"'}
    if roll < 0.7:
        first, second = rng.sample(list(common), 2)
        return {"q": f"{first} -{second}"}
    first, second = rng.sample(rng.choice(papers), 2)
    return {"q": f"{first} OR {second}"}


# Sends one GET /api/v1/outcomes with these params; returns the JSON envelope.
Fetch = Callable[[dict[str, str]], Awaitable[dict[str, Any]]]
# The ID of the institution with this exact name, or None.
FindInstitution = Callable[[str], Awaitable[str | None]]


async def resolve(
    queries: Iterable[BenchQuery], fetch: Fetch, find_institution: FindInstitution
) -> list[BenchQuery]:
    """The queries made concrete for one platform: institution IDs and walked cursors."""
    resolved = []
    ids: dict[str, str] = {}
    for query in queries:
        params = query.url_params()
        if query.institution is not None:
            if query.institution not in ids:
                found = await find_institution(query.institution)
                # An unknown institution still makes a valid (empty) query.
                ids[query.institution] = found or "ins_unknown"
            params["filter"] = params["filter"].replace(
                INSTITUTION_PLACEHOLDER, ids[query.institution]
            )
        for _ in range(query.cursor_pages):
            cursor = (await fetch(params))["meta"].get("next_cursor")
            if not cursor:
                break  # fewer pages than asked: the last page walked is measured
            params["cursor"] = cursor
        resolved.append(replace(query, params=params))
    return resolved
