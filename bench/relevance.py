"""Relevance on real data: CSL paper keywords as queries, our Chinese pipeline vs a plain baseline.

    .venv/bin/python -m bench.relevance [--es-url URL] [--limit N] [--ablation] [--gap]

The 2 000 CSL papers (../shared/data/csl-benchmark) are indexed by title and abstract, and in a
second condition by their `keywords` too. Every distinct keyword carried by at least two papers
is a query; the papers that carry it are its relevant set. Reported side by side, from one run:
recall@10 and nDCG@10 (binary gains) of (a) Elasticsearch's `standard` analyzer with a `match`
on the raw fields, (b) our tokens on Elasticsearch (`whitespace`), (c) our tokens in SQLite FTS5
with bm25(), the engine of the embedded backend, and (d) what users get: the production
ElasticsearchBackend and EmbeddedBackend, loaded through `outcome_index_document` + `upsert` and
asked as the API asks (`parse_q`, relevance sort, 10 hits). `--ablation` adds
one-change-at-a-time variants of the pipeline; `--gap` measures, through both backends, what
separates (d) from (b)/(c). Results go to bench/results/relevance.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sqlite3
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any
from typing import Literal

from elasticsearch import Elasticsearch
from elasticsearch import helpers

from services.gateway.search.analysis import ES_ANALYZER
from services.gateway.search.analysis import TOKEN_CHARS
from services.gateway.search.analysis import Analyzer
from services.gateway.search.analysis import AnalyzerOptions
from services.gateway.search.analysis import normalize
from services.gateway.search.backends.base import SearchBackend
from services.gateway.search.backends.elasticsearch import ElasticsearchBackend
from services.gateway.search.backends.embedded import EmbeddedBackend
from services.gateway.search.libraries.outcomes import SCHEMA as OUTCOMES
from services.gateway.search.libraries.outcomes import outcome_index_document
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import SearchRequest
from services.gateway.search.model import SortKey
from services.gateway.search.model import Terms
from services.gateway.search.model import TextQuery
from services.gateway.search.query import RELEVANCE
from services.gateway.search.query import parse_q
from services.gateway.search.service import text_query
from services.kernel.visibility import VisibilityScope

DATA_FILE = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "csl-benchmark"
) / "csl_benchmark_2000.jsonl"
RESULTS_FILE = Path(__file__).resolve().parent / "results" / "relevance.json"
INDEX_PREFIX = "zhihui_bench_"
K = 10
TEXT_FIELDS = ("title", "abstract", "keywords")
CONDITIONS: dict[str, tuple[str, ...]] = {
    "title+abstract": ("title", "abstract"),
    "title+abstract+keywords": ("title", "abstract", "keywords"),
}


@dataclass(frozen=True, slots=True)
class Paper:
    id: str
    title: str
    abstract: str
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    relevant: frozenset[str]


@dataclass(frozen=True, slots=True)
class Shape:
    """How our query tokens are matched; `and` is the gateway's rule (every token must match)."""

    operator: Literal["or", "and"] = "or"
    type: str = "most_fields"  # multi_match type over the token fields (operator "or")
    minimum_should_match: str | None = None  # operator "and": tokens needed (default all)
    title_boost: float = 1.0
    phrase_boost: float = 1.0  # > 0: adds a phrase match of phrase_tokens (a substring match)


@dataclass(slots=True)
class Score:
    recall: float
    ndcg: float
    queries: int
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# -- data and metrics -------------------------------------------------------------------------


def load_papers(path: Path = DATA_FILE, limit: int | None = None) -> list[Paper]:
    """The CSL papers in file order, the first `limit` of them if given."""
    papers = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and len(papers) >= limit:
                break
            row = json.loads(line)
            papers.append(Paper(row["id"], row["title"], row["abstract"], tuple(row["keywords"])))
    return papers


def keyword_queries(
    papers: Sequence[Paper], min_papers: int = 2, max_papers: int = 50
) -> list[Query]:
    """Each keyword (normalised, so 'BP' and 'bp' are one) carried by min..max papers, sorted."""
    carriers: dict[str, set[str]] = defaultdict(set)
    for paper in papers:
        for keyword in paper.keywords:
            if normalize(keyword):
                carriers[normalize(keyword)].add(paper.id)
    return [
        Query(text, frozenset(ids))
        for text, ids in sorted(carriers.items())
        if min_papers <= len(ids) <= max_papers
    ]


def title_queries(papers: Sequence[Paper]) -> list[Query]:
    """Each title as a query for its own paper (searched in abstracts only): long queries."""
    return [Query(p.title, frozenset([p.id])) for p in papers]


def recall_at(ranking: Sequence[str], relevant: frozenset[str], k: int = K) -> float:
    """Share of the relevant papers found in the top k."""
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def ndcg_at(ranking: Sequence[str], relevant: frozenset[str], k: int = K) -> float:
    """nDCG@k with binary gains."""
    dcg = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranking[:k]) if doc in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal


def evaluate(queries: Sequence[Query], rankings: Sequence[Sequence[str]]) -> Score:
    """Mean recall@10 and nDCG@10 over the queries."""
    pairs = list(zip(queries, rankings, strict=True))
    return Score(
        recall=sum(recall_at(r, q.relevant) for q, r in pairs) / len(pairs),
        ndcg=sum(ndcg_at(r, q.relevant) for q, r in pairs) / len(pairs),
        queries=len(pairs),
    )


# -- Elasticsearch ----------------------------------------------------------------------------


@contextmanager
def temporary_index(
    es: Elasticsearch, properties: dict[str, Any], docs: Iterable[dict[str, Any]]
) -> Iterator[str]:
    """A one-shard index holding docs (`_id` = doc['id']), deleted on exit."""
    name = f"{INDEX_PREFIX}{uuid.uuid4().hex[:12]}"
    # One shard: every term statistic is global, as it is on the FTS5 side.
    es.indices.create(
        index=name,
        settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": -1},
        mappings={"dynamic": "strict", "properties": {"id": {"type": "keyword"}, **properties}},
    )
    try:
        actions = ({"_index": name, "_id": d["id"], "_source": d} for d in docs)
        helpers.bulk(es.options(request_timeout=120), actions, chunk_size=500)
        es.indices.refresh(index=name)
        yield name
    finally:
        es.indices.delete(index=name, ignore_unavailable=True)


def search_all(
    es: Elasticsearch, index: str, queries: Sequence[dict[str, Any]], batch: int = 200
) -> list[list[str]]:
    """The top-K ids of each query, ties broken by id so every run ranks alike."""
    rankings: list[list[str]] = []
    for start in range(0, len(queries), batch):
        searches: list[dict[str, Any]] = []
        for query in queries[start : start + batch]:
            searches.append({"index": index})
            searches.append(
                {
                    "query": query,
                    "size": K,
                    "_source": False,
                    "sort": ["_score", {"id": "asc"}],
                    "track_total_hits": False,
                }
            )
        response = es.msearch(searches=searches)
        for item in response["responses"]:
            if "error" in item:
                raise RuntimeError(f"search failed: {item['error']}")
            rankings.append([hit["_id"] for hit in item["hits"]["hits"]])
    return rankings


BASELINE_PROPERTIES = {f: {"type": "text", "analyzer": "standard"} for f in TEXT_FIELDS}
BASELINE_TYPE = "best_fields"


def baseline_docs(papers: Sequence[Paper]) -> Iterator[dict[str, Any]]:
    """Raw fields for the `standard` analyzer."""
    for p in papers:
        yield {"id": p.id, "title": p.title, "abstract": p.abstract, "keywords": list(p.keywords)}


def baseline_query(
    text: str, fields: Sequence[str], type_: str = BASELINE_TYPE, operator: str = "or"
) -> dict[str, Any]:
    """A plain `match` of the raw query over the raw fields (multi_match = match per field)."""
    return {
        "multi_match": {"query": text, "fields": list(fields), "type": type_, "operator": operator}
    }


def pipeline_properties() -> dict[str, Any]:
    """One token field per text field (`<field>_tok`), split by the `whitespace` analyzer."""
    return {f"{f}_tok": {"type": "text", "analyzer": ES_ANALYZER} for f in TEXT_FIELDS}


def pipeline_docs(analyzer: Analyzer, papers: Sequence[Paper]) -> Iterator[dict[str, Any]]:
    """Pre-tokenised documents: each field a space-joined token stream (a list for keywords)."""
    for p in papers:
        yield {
            "id": p.id,
            "title_tok": " ".join(analyzer.index_tokens(p.title)),
            "abstract_tok": " ".join(analyzer.index_tokens(p.abstract)),
            # An array: Elasticsearch puts a position gap between values, so no phrase runs
            # from one keyword into the next.
            "keywords_tok": [" ".join(analyzer.index_tokens(k)) for k in p.keywords],
        }


def pipeline_query(
    analyzer: Analyzer, text: str, fields: Sequence[str], shape: Shape
) -> dict[str, Any]:
    """Our query tokens against the token fields, plus a phrase boost on the same fields."""
    weighted = [f"{f}_tok^{shape.title_boost:g}" if f == "title" else f"{f}_tok" for f in fields]
    tokens = analyzer.query_tokens(text)
    if shape.operator == "and":
        # The gateway's rule: each token must occur in some field (or, with
        # minimum_should_match, that many of them); scores add up per field.
        per_token = [
            {"multi_match": {"query": token, "fields": weighted, "type": "most_fields"}}
            for token in tokens
        ]
        needed = shape.minimum_should_match or "100%"
        tokens_query = {"bool": {"should": per_token, "minimum_should_match": needed}}
    else:
        tokens_query = {
            "multi_match": {"query": " ".join(tokens), "fields": weighted, "type": shape.type}
        }
    query: dict[str, Any] = {"bool": {"must": [tokens_query]}}
    if shape.phrase_boost:
        phrase = {
            "query": " ".join(analyzer.phrase_tokens(text)),
            "fields": [f"{f}_tok" for f in fields],
            "type": "phrase",
            "boost": shape.phrase_boost,
        }
        query["bool"]["should"] = [{"multi_match": phrase}]
    return query


# -- SQLite FTS5 ------------------------------------------------------------------------------


def fts5_quote(token: str) -> str:
    """An FTS5 string literal: the token is text, never query syntax."""
    return '"' + token.replace('"', '""') + '"'


# unicode61 splits on anything but letters, digits and `tokenchars`, so our tokens stay whole.
FTS5_TOKENIZER = f"unicode61 tokenchars '{TOKEN_CHARS}'"


class Fts5Index:
    """Our tokens in SQLite FTS5, one contentless table per field, ranked like `most_fields`."""

    # bm25() takes its IDF over whole rows, so in one multi-column table a token that is rare in
    # keywords but common in abstracts is discounted everywhere; a table per field keeps
    # per-field statistics, as Elasticsearch does, and the per-field scores are summed.

    def __init__(self, analyzer: Analyzer, papers: Sequence[Paper]) -> None:
        self.analyzer = analyzer
        self.ids = [p.id for p in papers]
        self.db = sqlite3.connect(":memory:")
        # Keywords are concatenated: FTS5 has no position gap, so unlike Elasticsearch a
        # phrase could run from one keyword into the next (rare, and it only adds a boost).
        streams: dict[str, Callable[[Paper], list[str]]] = {
            "title": lambda p: analyzer.index_tokens(p.title),
            "abstract": lambda p: analyzer.index_tokens(p.abstract),
            "keywords": lambda p: [t for k in p.keywords for t in analyzer.index_tokens(k)],
        }
        for name, stream in streams.items():
            self.db.execute(
                f"CREATE VIRTUAL TABLE {name} USING fts5(body, content='', "
                f'tokenize="{FTS5_TOKENIZER}")'
            )
            rows = ((rowid, " ".join(stream(p))) for rowid, p in enumerate(papers))
            self.db.executemany(f"INSERT INTO {name}(rowid, body) VALUES (?, ?)", rows)

    def close(self) -> None:
        self.db.close()

    def _add_scores(self, table: str, expr: str, weight: float, into: dict[int, float]) -> None:
        # bm25() is lower-is-better; negate it so scores add up like Elasticsearch's.
        sql = f"SELECT rowid, bm25({table}) FROM {table} WHERE {table} MATCH ?"
        for rowid, score in self.db.execute(sql, (expr,)):
            into[rowid] = into.get(rowid, 0.0) - weight * score

    def search(
        self, text: str, fields: Sequence[str], shape: Shape, analyzer: Analyzer | None = None
    ) -> list[str]:
        """The top-K paper ids for a query over the given fields (operator "or")."""
        analyzer = analyzer or self.analyzer
        tokens = analyzer.query_tokens(text)
        if not tokens:
            return []
        scores: dict[int, float] = {}
        expr = " OR ".join(map(fts5_quote, tokens))
        for name in fields:
            self._add_scores(name, expr, shape.title_boost if name == "title" else 1.0, scores)
        if shape.phrase_boost:
            phrase = fts5_quote(" ".join(analyzer.phrase_tokens(text)))
            boosts: dict[int, float] = {}
            for name in fields:
                self._add_scores(name, phrase, shape.phrase_boost, boosts)
            # As in Elasticsearch, the phrase only adds to documents that matched the tokens.
            for rowid in scores:
                scores[rowid] += boosts.get(rowid, 0.0)
        top = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:K]
        return [self.ids[rowid] for rowid, _ in top]


def fts5_one_table_rankings(
    analyzer: Analyzer, papers: Sequence[Paper], queries: Sequence[Query], fields: Sequence[str]
) -> list[list[str]]:
    """The naive alternative (for the ablation): one multi-column table, one bm25() per row."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute(
            f"CREATE VIRTUAL TABLE docs USING fts5({', '.join(fields)}, content='', "
            f'tokenize="{FTS5_TOKENIZER}")'
        )
        texts = {
            "title": lambda p: analyzer.index_tokens(p.title),
            "abstract": lambda p: analyzer.index_tokens(p.abstract),
            "keywords": lambda p: [t for k in p.keywords for t in analyzer.index_tokens(k)],
        }
        rows = [(rowid, *(" ".join(texts[f](p)) for f in fields)) for rowid, p in enumerate(papers)]
        marks = ", ".join("?" * (len(fields) + 1))
        db.executemany(f"INSERT INTO docs(rowid, {', '.join(fields)}) VALUES ({marks})", rows)
        sql = f"SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY rank, rowid LIMIT {K}"
        rankings = []
        for query in queries:
            expr = " OR ".join(map(fts5_quote, analyzer.query_tokens(query.text)))
            found = db.execute(sql, (expr,)).fetchall() if expr else []
            rankings.append([papers[rowid].id for (rowid,) in found])
        return rankings
    finally:
        db.close()


# -- the production backends ------------------------------------------------------------------
#
# What a user gets: the papers go in as outcome change-feed documents, through the indexer's
# `outcome_index_document` and `backend.upsert`, into the two SearchBackends the gateway runs; each
# keyword is asked as the API asks it (`parse_q` with the analyzer's tokenisers, relevance
# sort, page size 10). One library per backend and condition (the +keywords condition is the
# only one whose documents carry `keywords`).

BACKENDS = ("elasticsearch", "embedded")
LIBRARY = OUTCOMES.name
BENCH_ORG = "org_zhihui_bench"
BENCH_DATE = "2024-01-01T00:00:00+00:00"
SEARCH_CONCURRENCY = 8  # requests in flight, as a few API workers would send them


def outcome_source(paper: Paper, keywords: bool) -> dict[str, Any]:
    """A paper as the outcomes service's change feed carries it (no authors, no links)."""
    return {
        "id": paper.id,
        "version": 1,
        "type": "paper",
        "type_label": "论文",
        "visibility": "public",
        "owner_org": BENCH_ORG,
        "title": paper.title,
        "abstract": paper.abstract,
        "keywords": list(paper.keywords) if keywords else [],
        "authors": [],
        "author_expert_ids": [],
        "institution_ids": [],
        "language": "zh",
        "created_at": BENCH_DATE,
        "updated_at": BENCH_DATE,
    }


@dataclass(frozen=True, slots=True)
class Documents:
    """How the papers become IndexDocuments: production, or one change to it (gap analysis)."""

    name: str = "production"
    # Each token field keeps only the first occurrence of a token (documents.py did until
    # repeats were kept for quoted phrases): binary term frequency, broken phrase positions.
    tokens_once: bool = False
    # Every text field weighs 1 (production: title 4, keywords 3, abstract 1.5).
    flat_boosts: bool = False

    def schema(self) -> LibrarySchema:
        if not self.flat_boosts:
            return OUTCOMES
        flat = tuple(replace(t, boost=1.0) for t in OUTCOMES.text_fields)
        return replace(OUTCOMES, text_fields=flat)

    def build(self, analyzer: Analyzer, paper: Paper, keywords: bool) -> IndexDocument:
        document = outcome_index_document(outcome_source(paper, keywords), {}, analyzer)
        if self.tokens_once:
            document.tokens = {
                name: " ".join(dict.fromkeys(tokens.split()))
                for name, tokens in document.tokens.items()
            }
        return document


PRODUCTION_DOCUMENTS = Documents()

# How a keyword becomes a TextQuery: "production" is parse_q exactly as SearchService._text
# calls it; the others change what parse_q builds for an unquoted word (gap analysis):
# "phrase" adds the word's phrase_tokens as a phrase alternative (the exact string always
# matches, and scores on top of its tokens); "or+phrase" also lets any one token match.
QueryForm = Literal["production", "phrase", "or+phrase"]


def production_text(
    analyzer: Analyzer, raw: str, form: QueryForm = "production"
) -> TextQuery | None:
    """The TextQuery the API builds for `q=raw` (or, for the gap analysis, a variant of it)."""
    if form == "production":
        return text_query(analyzer, raw)
    words: dict[tuple[str, ...], str] = {}  # an unquoted word's tokens → the word

    def tokenize(word: str) -> list[str]:
        tokens = analyzer.query_tokens(word)
        words.setdefault(tuple(tokens), word)
        return tokens

    parsed = parse_q(raw, tokenize, analyzer.phrase_tokens)
    if parsed is None:
        return None

    def widen(alternative: Terms) -> list[Terms]:
        word = words.get(alternative.tokens)
        if alternative.phrase or word is None:  # quoted: left as the user asked
            return [alternative]
        out = [alternative]
        if form == "or+phrase" and len(alternative.tokens) > 1:
            out = [Terms((token,)) for token in alternative.tokens]
        phrase = analyzer.phrase_tokens(word)
        if len(phrase) > 1:
            out.append(Terms(tuple(phrase), phrase=True))
        return out

    groups = tuple(tuple(t for a in group for t in widen(a)) for group in parsed.groups)
    return replace(parsed, groups=groups)


def production_request(text: TextQuery) -> SearchRequest:
    """What SearchService.list sends for `GET /outcomes?q=…` by an actor who sees everything."""
    return SearchRequest(
        libraries=(LIBRARY,),
        scope=VisibilityScope(None),
        text=text,
        sort=(SortKey(RELEVANCE, True),),
        size=K,
    )


async def _load(
    backend: SearchBackend, schema: LibrarySchema, docs: Sequence[IndexDocument]
) -> None:
    await backend.ensure_library(schema)
    for start in range(0, len(docs), 500):
        await backend.upsert(docs[start : start + 500])


async def _search_ids(backend: SearchBackend, texts: Sequence[TextQuery | None]) -> list[list[str]]:
    gate = asyncio.Semaphore(SEARCH_CONCURRENCY)

    async def one(text: TextQuery | None) -> list[str]:
        if text is None:  # nothing left to search for: the API lists everything, unranked
            return []
        async with gate:
            result = await backend.search(production_request(text))
        return [hit.id for hit in result.hits]

    # A TaskGroup, so that one failure cancels the searches still waiting; raise that one.
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(t)) for t in texts]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


class ProductionIndexes:
    """The papers in each production backend, per condition; rankers that query them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, analyzer: Analyzer) -> None:
        self.loop = loop
        self.analyzer = analyzer
        self.backends: dict[tuple[str, str], SearchBackend] = {}
        self.load_seconds: dict[str, float] = {}

    def ranker(self, kind: str, form: QueryForm = "production") -> Ranker:
        """Rankings through backend `kind`, each keyword parsed as the API does (or `form`)."""

        def rank(queries: Sequence[Query], fields: Sequence[str]) -> list[list[str]]:
            condition = next(c for c, f in CONDITIONS.items() if tuple(f) == tuple(fields))
            backend = self.backends[(kind, condition)]
            texts = [production_text(self.analyzer, q.text, form) for q in queries]
            return self.loop.run_until_complete(_search_ids(backend, texts))

        return rank


def _open_backend(kind: str, es_url: str, directory: Path, condition: str) -> SearchBackend:
    if kind == "elasticsearch":
        # Indices `zhihui_bench_<random>_outcomes_v1`: one shard, as the backend creates them.
        prefix = f"{INDEX_PREFIX}{uuid.uuid4().hex[:12]}"
        return ElasticsearchBackend(
            es_url, index_prefix=prefix, refresh_on_write=True, request_timeout=120
        )
    return EmbeddedBackend(directory / f"{condition}.sqlite")


@contextmanager
def production_indexes(
    es_url: str,
    analyzer: Analyzer,
    papers: Sequence[Paper],
    documents: Documents = PRODUCTION_DOCUMENTS,
    kinds: Sequence[str] = BACKENDS,
) -> Iterator[ProductionIndexes]:
    """Both backends loaded with the papers (one library per condition), removed on exit.

    Elasticsearch: a fresh `index_prefix` (`zhihui_bench_<random>`), refresh on write, the
    library dropped at the end. Embedded: files in a temporary directory.
    """
    loop = asyncio.new_event_loop()
    indexes = ProductionIndexes(loop, analyzer)
    schema = documents.schema()
    seconds = indexes.load_seconds
    with tempfile.TemporaryDirectory(prefix=INDEX_PREFIX) as tmp:
        try:
            for condition, fields in CONDITIONS.items():
                started = time.perf_counter()
                docs = [documents.build(analyzer, p, "keywords" in fields) for p in papers]
                seconds["documents"] = seconds.get("documents", 0.0) + time.perf_counter() - started
                for kind in kinds:
                    backend = _open_backend(kind, es_url, Path(tmp), condition)
                    indexes.backends[(kind, condition)] = backend
                    started = time.perf_counter()
                    loop.run_until_complete(_load(backend, schema, docs))
                    seconds[kind] = seconds.get(kind, 0.0) + time.perf_counter() - started
            yield indexes
        except BaseException:
            _close_all(indexes)
            raise
        _close_all(indexes, strict=True)


def _close_all(indexes: ProductionIndexes, strict: bool = False) -> None:
    """Drop the Elasticsearch libraries and close every backend, whatever fails on the way."""
    failures: list[Exception] = []
    for (kind, _condition), backend in indexes.backends.items():
        steps = [backend.close]
        if kind == "elasticsearch":
            steps.insert(0, lambda backend=backend: backend.drop_library(LIBRARY))
        for step in steps:
            try:
                indexes.loop.run_until_complete(step())
            except Exception as exc:
                failures.append(exc)
    indexes.loop.close()
    if strict and failures:
        raise failures[0]


# -- the runs ---------------------------------------------------------------------------------

BEST_SHAPE = Shape()
# (queries, fields) -> top-K ids per query
Ranker = Callable[[Sequence[Query], Sequence[str]], list[list[str]]]


def es_baseline_ranker(
    es: Elasticsearch, index: str, type_: str = BASELINE_TYPE, operator: str = "or"
) -> Ranker:
    """Rankings of the `standard` baseline."""
    return lambda queries, fields: search_all(
        es, index, [baseline_query(q.text, fields, type_, operator) for q in queries]
    )


def es_pipeline_ranker(
    es: Elasticsearch, index: str, analyzer: Analyzer, shape: Shape = BEST_SHAPE
) -> Ranker:
    """Rankings of our tokens on Elasticsearch."""
    return lambda queries, fields: search_all(
        es, index, [pipeline_query(analyzer, q.text, fields, shape) for q in queries]
    )


def fts5_ranker(
    fts: Fts5Index, shape: Shape = BEST_SHAPE, analyzer: Analyzer | None = None
) -> Ranker:
    """Rankings of our tokens in FTS5 (queries analysed by `analyzer` if given)."""
    return lambda queries, fields: [fts.search(q.text, fields, shape, analyzer) for q in queries]


def run(
    ranker: Ranker, queries: Sequence[Query], fields: Sequence[str]
) -> tuple[Score, list[list[str]]]:
    """Evaluate one system on one set of fields, timing its queries."""
    started = time.perf_counter()
    rankings = ranker(queries, fields)
    score = evaluate(queries, rankings)
    score.seconds = round(time.perf_counter() - started, 2)
    return score, rankings


def versus(
    queries: Sequence[Query], ours: Sequence[Sequence[str]], base: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Per-query recall@10 wins/ties/losses against the baseline, and recall by query length."""
    wins = ties = losses = 0
    buckets: dict[str, list[float]] = {"1-2 chars": [0, 0.0, 0.0], "3+ chars": [0, 0.0, 0.0]}
    for q, o, b in zip(queries, ours, base, strict=True):
        mine, theirs = recall_at(o, q.relevant), recall_at(b, q.relevant)
        wins += mine > theirs
        ties += mine == theirs
        losses += mine < theirs
        bucket = buckets["1-2 chars" if len(q.text) <= 2 else "3+ chars"]
        bucket[0] += 1
        bucket[1] += mine
        bucket[2] += theirs
    return {
        "wins_ties_losses": [wins, ties, losses],
        "recall_by_query_length": {
            name: {"queries": int(n), "ours": round(o / n, 4), "baseline": round(b / n, 4)}
            for name, (n, o, b) in buckets.items()
            if n
        },
    }


# The engine-level counterpart of each production backend, for the per-query comparison.
COUNTERPART = {"backend_elasticsearch": "es_pipeline", "backend_embedded": "fts5_pipeline"}


def compare(
    es: Elasticsearch,
    papers: Sequence[Paper],
    queries: Sequence[Query],
    analyzer: Analyzer,
    shape: Shape = BEST_SHAPE,
    fts5: bool = True,
    es_url: str | None = None,
) -> dict[str, dict[str, Score]]:
    """The side-by-side table: {condition: {system: score}} from one set of indexes.

    With `es_url`, the production backends (`backend_elasticsearch`, `backend_embedded`) are
    loaded and queried as the API does, in the same run.
    """
    table: dict[str, dict[str, Score]] = {c: {} for c in CONDITIONS}
    with ExitStack() as stack:
        base = stack.enter_context(temporary_index(es, BASELINE_PROPERTIES, baseline_docs(papers)))
        ours = stack.enter_context(
            temporary_index(es, pipeline_properties(), pipeline_docs(analyzer, papers))
        )
        systems: dict[str, Ranker] = {
            "es_standard_baseline": es_baseline_ranker(es, base),
            "es_pipeline": es_pipeline_ranker(es, ours, analyzer, shape),
        }
        if fts5:
            fts = Fts5Index(analyzer, papers)
            stack.callback(fts.close)
            systems["fts5_pipeline"] = fts5_ranker(fts, shape)
        if es_url is not None:
            production = stack.enter_context(production_indexes(es_url, analyzer, papers))
            for kind in BACKENDS:
                systems[f"backend_{kind}"] = production.ranker(kind)
        for condition, fields in CONDITIONS.items():
            rankings: dict[str, list[list[str]]] = {}
            for system, ranker in systems.items():
                score, rankings[system] = run(ranker, queries, fields)
                if system != "es_standard_baseline":
                    score.extra = versus(
                        queries, rankings[system], rankings["es_standard_baseline"]
                    )
                score.extra["queries_without_hits"] = sum(1 for r in rankings[system] if not r)
                if system.startswith("backend_"):
                    kind = system.removeprefix("backend_")
                    score.extra["load_seconds"] = round(production.load_seconds[kind], 2)
                    score.extra["document_seconds"] = round(production.load_seconds["documents"], 2)
                counterpart = COUNTERPART.get(system)
                if counterpart in rankings:
                    mine = versus(queries, rankings[system], rankings[counterpart])
                    score.extra[f"wins_ties_losses_vs_{counterpart}"] = mine["wins_ties_losses"]
                table[condition][system] = score
    return table


# -- ablation ---------------------------------------------------------------------------------

T_A, T_A_K = CONDITIONS["title+abstract"], CONDITIONS["title+abstract+keywords"]
AND = replace(BEST_SHAPE, operator="and")


def ablation(
    es: Elasticsearch, papers: Sequence[Paper], queries: Sequence[Query], best: Analyzer
) -> list[dict[str, Any]]:
    """One change at a time from the best configuration, as rows of named [recall, nDCG]."""
    # Columns: keyword queries on both backends and conditions; the gateway's rule that every
    # query token must match (AND); and titles as long queries for their own paper's abstract.
    titles = title_queries(papers)
    rows: list[dict[str, Any]] = []

    def record(name: str, es_or: Ranker | None, es_and: Ranker | None, fts: Ranker | None) -> None:
        row: dict[str, Any] = {"variant": name}
        cells: list[tuple[str, Ranker | None, Sequence[Query], Sequence[str]]] = [
            ("es t+a", es_or, queries, T_A),
            ("es t+a+k", es_or, queries, T_A_K),
            ("fts5 t+a", fts, queries, T_A),
            ("fts5 t+a+k", fts, queries, T_A_K),
            ("es AND t+a", es_and, queries, T_A),
            ("es title->abstract", es_or, titles, ("abstract",)),
            ("es AND title->abstract", es_and, titles, ("abstract",)),
        ]
        for column, ranker, qs, fields in cells:
            if ranker is not None:
                score, _ = run(ranker, qs, fields)
                row[column] = [round(score.recall, 4), round(score.ndcg, 4)]
        rows.append(row)
        print(_ablation_line(row), flush=True)

    with temporary_index(es, BASELINE_PROPERTIES, baseline_docs(papers)) as base:
        for type_ in ("best_fields", "most_fields"):
            record(
                f"baseline: standard analyzer, multi_match {type_}",
                es_baseline_ranker(es, base, type_),
                es_baseline_ranker(es, base, type_, "and"),
                None,
            )

    opts = best.options
    index_variants: list[tuple[str, Analyzer]] = [
        ("best", best),
        ("index: bigrams only (no jieba words)", best.with_options(index_words="none")),
        ("index: precise-mode words + bigrams", best.with_options(index_words="precise")),
        (
            "words only: precise words indexed and queried, no bigrams",
            best.with_options(index_words="precise", index_bigrams=False, query="words"),
        ),
        (
            "words only: search-mode words indexed, precise words queried",
            best.with_options(index_bigrams=False, query="words"),
        ),
        (
            f"domain dictionary {'off' if opts.domain_dictionary else 'on'}",
            best.with_options(domain_dictionary=not opts.domain_dictionary),
        ),
        (f"jieba HMM {'off' if opts.hmm else 'on'}", best.with_options(hmm=not opts.hmm)),
        ("no stop words", best.with_options(stop_words=frozenset())),
    ]
    # Query-side variants reuse the best index.
    query_variants: list[tuple[str, Analyzer, Shape]] = [
        ("query: all bigrams (phrase stream)", best.with_options(query="bigrams"), BEST_SHAPE),
        (
            "query: precise words + all bigrams",
            best.with_options(query="words+bigrams"),
            BEST_SHAPE,
        ),
        (
            "query: precise words + bigrams of unknown words",
            best.with_options(query="words+oov_bigrams"),
            BEST_SHAPE,
        ),
        ("query: precise words only", best.with_options(query="words"), BEST_SHAPE),
        ("shape: no phrase boost", best, replace(BEST_SHAPE, phrase_boost=0.0)),
        ("shape: phrase boost 3", best, replace(BEST_SHAPE, phrase_boost=3.0)),
        ("shape: best_fields", best, replace(BEST_SHAPE, type="best_fields")),
        ("shape: title boost 2", best, replace(BEST_SHAPE, title_boost=2.0)),
    ]
    # Dictionary drift: documents indexed, then the corpus keywords added to the dictionary
    # (as the indexer's add_terms would do with new names) before the queries are analysed.
    drifted = Analyzer(opts)
    drifted.add_terms(k for p in papers for k in p.keywords)
    drift_variants: list[tuple[str, Analyzer]] = [
        ("drift: best", drifted),
        ("drift: query precise words + all bigrams", drifted.with_options(query="words+bigrams")),
    ]
    for name, analyzer in index_variants:
        fts = Fts5Index(analyzer, papers)
        try:
            with temporary_index(
                es, pipeline_properties(), pipeline_docs(analyzer, papers)
            ) as index:
                record(
                    name,
                    es_pipeline_ranker(es, index, analyzer),
                    es_pipeline_ranker(es, index, analyzer, AND),
                    fts5_ranker(fts),
                )
                if analyzer is best:
                    for qname, qa, shape in query_variants:
                        record(
                            qname,
                            es_pipeline_ranker(es, index, qa, shape),
                            es_pipeline_ranker(es, index, qa, replace(shape, operator="and")),
                            fts5_ranker(fts, shape, qa),
                        )
                    # The AND columns only: a query word needs two thirds of its tokens.
                    record(
                        "AND relaxed: minimum_should_match 2<67% of the tokens",
                        None,
                        es_pipeline_ranker(
                            es, index, best, replace(AND, minimum_should_match="2<67%")
                        ),
                        None,
                    )
                    for dname, da in drift_variants:
                        record(
                            dname,
                            es_pipeline_ranker(es, index, da),
                            es_pipeline_ranker(es, index, da, AND),
                            fts5_ranker(fts, BEST_SHAPE, da),
                        )
                elif name.startswith("words only: precise"):
                    words_drifted = drifted.with_options(
                        index_words="precise", index_bigrams=False, query="words"
                    )
                    record(
                        "drift: words only (precise)",
                        es_pipeline_ranker(es, index, words_drifted),
                        es_pipeline_ranker(es, index, words_drifted, AND),
                        fts5_ranker(fts, BEST_SHAPE, words_drifted),
                    )
        finally:
            fts.close()
    record(
        "fts5: one multi-column table (row-level IDF), no phrase boost",
        None,
        None,
        lambda qs, fields: fts5_one_table_rankings(best, papers, qs, fields),
    )
    return rows


def _ablation_line(row: dict[str, Any]) -> str:
    cells = [f"{k} {v[0]:.3f}/{v[1]:.3f}" for k, v in row.items() if k != "variant"]
    return f"{row['variant'][:60]:60} | " + " | ".join(cells)


# -- the production gap -----------------------------------------------------------------------
#
# Where the production backends part from es_pipeline / fts5_pipeline, one change at a time and
# measured through the backends themselves: the document side (fields.py weighs title 4,
# keywords 3, abstract 1.5; documents.py used to keep each token once per field) and the query
# side (what parse_q makes of a word). Production code is not changed: these are options.

GAP_DOCUMENTS = (
    PRODUCTION_DOCUMENTS,
    Documents("flat boosts", flat_boosts=True),
    Documents("tokens once per field", tokens_once=True),
)
QUERY_FORMS: tuple[QueryForm, ...] = ("production", "phrase", "or+phrase")
SHORT_CONDITION = {"title+abstract": "t+a", "title+abstract+keywords": "+k"}
Phrase = tuple[str, frozenset[str]]


def phrase_queries(
    analyzer: Analyzer, papers: Sequence[Paper], queries: Sequence[Query]
) -> list[Phrase]:
    """Each keyword of 2+ phrase tokens, quoted, and the papers whose title or abstract holds
    it (its phrase_tokens in a row in the text's): what `q="keyword"` must find."""
    texts = [
        (p.id, analyzer.phrase_tokens(p.title), analyzer.phrase_tokens(p.abstract)) for p in papers
    ]
    phrases: list[Phrase] = []
    for query in queries:
        wanted = analyzer.phrase_tokens(query.text)
        n = len(wanted)
        if n < 2:
            continue
        holders = frozenset(
            pid
            for pid, *streams in texts
            if any(s[i : i + n] == wanted for s in streams for i in range(len(s) - n + 1))
        )
        phrases.append(('"' + query.text.replace('"', "") + '"', holders))
    return phrases


def phrase_misses(
    indexes: ProductionIndexes, kind: str, phrases: Sequence[Phrase]
) -> dict[str, int]:
    """(quoted keyword, paper holding it) pairs the backend misses, title+abstract condition."""
    backend = indexes.backends[(kind, "title+abstract")]
    texts = [production_text(indexes.analyzer, raw) for raw, _ in phrases]

    async def everything(text: TextQuery | None) -> set[str]:
        assert text is not None
        request = replace(production_request(text), size=MAX_HITS)
        return {hit.id for hit in (await backend.search(request)).hits}

    async def all_of_them() -> list[set[str]]:
        return [await everything(text) for text in texts]

    found = indexes.loop.run_until_complete(all_of_them())
    pairs = sum(len(holders) for _, holders in phrases)
    missed = [len(holders - got) for (_, holders), got in zip(phrases, found, strict=True)]
    extra = [len(got - holders) for (_, holders), got in zip(phrases, found, strict=True)]
    return {
        "phrases": len(phrases),
        "pairs": pairs,
        "missed_pairs": sum(missed),
        "phrases_missing_some": sum(1 for m in missed if m),
        "extra_pairs": sum(extra),
    }


MAX_HITS = 2_000  # every paper: a phrase's hits are compared in full


def gap_analysis(
    es_url: str, papers: Sequence[Paper], queries: Sequence[Query], analyzer: Analyzer
) -> list[dict[str, Any]]:
    """Rows of (documents, query form) → [recall, nDCG] per backend and condition, plus, per
    document variant, the quoted-keyword pairs each backend misses."""
    phrases = phrase_queries(analyzer, papers, queries)
    rows: list[dict[str, Any]] = []
    for documents in GAP_DOCUMENTS:
        with production_indexes(es_url, analyzer, papers, documents) as indexes:
            for form in QUERY_FORMS:
                row: dict[str, Any] = {"documents": documents.name, "query": form}
                for kind in BACKENDS:
                    for condition, fields in CONDITIONS.items():
                        score, _ = run(indexes.ranker(kind, form), queries, fields)
                        row[f"{kind} {SHORT_CONDITION[condition]}"] = [
                            round(score.recall, 4),
                            round(score.ndcg, 4),
                        ]
                if form == "production":
                    row["quoted keywords"] = {
                        k: phrase_misses(indexes, k, phrases) for k in BACKENDS
                    }
                rows.append(row)
                print(_gap_line(row), flush=True)
    return rows


def _gap_line(row: dict[str, Any]) -> str:
    cells = [f"{k} {v[0]:.4f}/{v[1]:.4f}" for k, v in row.items() if isinstance(v, list)]
    return f"{row['documents'][:28]:28} {row['query']:10} | " + " | ".join(cells)


def format_gap(rows: Sequence[dict[str, Any]]) -> str:
    """The gap grid as Markdown (recall@10 / nDCG@10), and the quoted-keyword misses."""
    columns = [f"{k} {c}" for k in BACKENDS for c in SHORT_CONDITION.values()]
    lines = [
        "| documents | query | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = [f"{row[c][0]:.4f} / {row[c][1]:.4f}" for c in columns]
        lines.append(f"| {row['documents']} | {row['query']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "| documents | backend | quoted keywords | (keyword, paper) pairs | missed | extra |"
    )
    lines.append("|---|---|---:|---:|---:|---:|")
    for row in rows:
        for kind, m in row.get("quoted keywords", {}).items():
            lines.append(
                f"| {row['documents']} | {kind} | {m['phrases']} | {m['pairs']} | "
                f"{m['missed_pairs']} ({m['phrases_missing_some']} keywords) | {m['extra_pairs']} |"
            )
    return "\n".join(lines)


def format_table(table: dict[str, dict[str, Score]]) -> str:
    """The result table as Markdown, baseline first, with ratios to the baseline."""
    lines = [
        "| condition | system | recall@10 | nDCG@10 | vs baseline (R / nDCG) "
        "| per-query W/T/L | W/T/L vs engine | no hits | query time s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for condition, systems in table.items():
        base = systems["es_standard_baseline"]
        for system, s in systems.items():
            ratio = f"{s.recall / base.recall:.2f}× / {s.ndcg / base.ndcg:.2f}×"
            wtl = "/".join(map(str, s.extra.get("wins_ties_losses", []))) or "-"
            counterpart = f"wins_ties_losses_vs_{COUNTERPART.get(system)}"
            engine = "/".join(map(str, s.extra.get(counterpart, []))) or "-"
            lines.append(
                f"| {condition} | {system} | {s.recall:.4f} | {s.ndcg:.4f} | {ratio} | {wtl} | "
                f"{engine} | {s.extra.get('queries_without_hits', '-')} | {s.seconds:.1f} |"
            )
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--es-url",
        default=os.environ.get("ZHIHUI_TEST_ELASTICSEARCH_URL", "http://127.0.0.1:59200"),
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N papers")
    parser.add_argument("--min-papers", type=int, default=2, help="keywords carried by ≥ N")
    parser.add_argument("--max-papers", type=int, default=50, help="keywords carried by ≤ N")
    parser.add_argument("--ablation", action="store_true", help="also run the ablation grid")
    parser.add_argument(
        "--gap", action="store_true", help="also run the production-gap grid (both backends)"
    )
    parser.add_argument(
        "--no-backends", action="store_true", help="skip the production backends (engines only)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    papers = load_papers(limit=args.limit)
    queries = keyword_queries(papers, args.min_papers, args.max_papers)
    analyzer = Analyzer(AnalyzerOptions())
    analyzer.load()  # now, so the dictionary's load time is not charged to the first system
    load_seconds = time.perf_counter() - started
    es = Elasticsearch(args.es_url, request_timeout=120)
    es.cluster.health(wait_for_status="yellow", timeout="30s")
    print(
        f"{len(papers)} papers, {len(queries)} keyword queries "
        f"(carried by {args.min_papers}..{args.max_papers} papers)",
        flush=True,
    )

    es_url = None if args.no_backends else args.es_url
    table = compare(es, papers, queries, analyzer, es_url=es_url)
    main_seconds = time.perf_counter() - started
    print(format_table(table), flush=True)
    loaded = next(iter(table.values())).get("backend_elasticsearch")
    if loaded is not None:
        embedded = next(iter(table.values()))["backend_embedded"].extra
        print(
            f"production documents built in {loaded.extra['document_seconds']:.1f} s, loaded "
            f"(both conditions) in {loaded.extra['load_seconds']:.1f} s (Elasticsearch) and "
            f"{embedded['load_seconds']:.1f} s (embedded)"
        )
    rows = ablation(es, papers, queries, analyzer) if args.ablation else []
    gap = gap_analysis(args.es_url, papers, queries, analyzer) if args.gap else []
    if gap:
        print(format_gap(gap), flush=True)
    total = time.perf_counter() - started
    print(
        f"comparison {main_seconds:.0f} s (data and dictionary load {load_seconds:.1f} s), "
        f"total {total:.0f} s"
    )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "papers": len(papers),
        "queries": len(queries),
        "query_selection": {"min_papers": args.min_papers, "max_papers": args.max_papers},
        "k": K,
        "analyzer": {
            k: sorted(v) if isinstance(v, frozenset) else v
            for k, v in asdict(analyzer.options).items()
        },
        "shape": asdict(BEST_SHAPE),
        "production": {
            "library": LIBRARY,
            "text_fields": [[t.name, t.boost] for t in OUTCOMES.text_fields],
            "query": "parse_q(q, query_tokens, phrase_tokens), sort relevance, size 10",
            "backends": [] if args.no_backends else list(BACKENDS),
        },
        "baseline_type": BASELINE_TYPE,
        "results": {c: {s: asdict(v) for s, v in row.items()} for c, row in table.items()},
        "ablation": rows,
        "production_gap": gap,
        "seconds": {"comparison": round(main_seconds, 1), "total": round(total, 1)},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "cpus": os.cpu_count(),
            "sqlite": sqlite3.sqlite_version,
            "elasticsearch": next(iter(es.nodes.info(node_id="_local")["nodes"].values()))[
                "version"
            ],
        },
    }
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
