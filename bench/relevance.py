"""Relevance on real data: CSL paper keywords as queries, our Chinese pipeline vs a plain baseline.

    .venv/bin/python -m bench.relevance [--es-url URL] [--limit N] [--ablation]

The 2 000 CSL papers (../shared/data/csl-benchmark) are indexed by title and abstract, and in a
second condition by their `keywords` too. Every distinct keyword carried by at least two papers
is a query; the papers that carry it are its relevant set. Reported side by side, from one run:
recall@10 and nDCG@10 (binary gains) of (a) Elasticsearch's `standard` analyzer with a `match`
on the raw fields, (b) our tokens on Elasticsearch (`whitespace`), (c) our tokens in SQLite FTS5
with bm25(), the engine of the embedded backend. `--ablation` adds one-change-at-a-time variants
of the pipeline. Results go to bench/results/relevance.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sqlite3
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from elasticsearch import Elasticsearch, helpers

from services.gateway.search.analysis import (
    ES_ANALYZER,
    TOKEN_CHARS,
    Analyzer,
    AnalyzerOptions,
    normalize,
)

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


def compare(
    es: Elasticsearch,
    papers: Sequence[Paper],
    queries: Sequence[Query],
    analyzer: Analyzer,
    shape: Shape = BEST_SHAPE,
    fts5: bool = True,
) -> dict[str, dict[str, Score]]:
    """The side-by-side table: {condition: {system: score}} from one set of indexes."""
    table: dict[str, dict[str, Score]] = {c: {} for c in CONDITIONS}
    fts = Fts5Index(analyzer, papers) if fts5 else None
    try:
        with (
            temporary_index(es, BASELINE_PROPERTIES, baseline_docs(papers)) as base,
            temporary_index(es, pipeline_properties(), pipeline_docs(analyzer, papers)) as ours,
        ):
            systems: dict[str, Ranker] = {
                "es_standard_baseline": es_baseline_ranker(es, base),
                "es_pipeline": es_pipeline_ranker(es, ours, analyzer, shape),
            }
            if fts is not None:
                systems["fts5_pipeline"] = fts5_ranker(fts, shape)
            for condition, fields in CONDITIONS.items():
                baseline: list[list[str]] = []
                for system, ranker in systems.items():
                    score, rankings = run(ranker, queries, fields)
                    if system == "es_standard_baseline":
                        baseline = rankings
                    else:
                        score.extra = versus(queries, rankings, baseline)
                    table[condition][system] = score
    finally:
        if fts is not None:
            fts.close()
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


def format_table(table: dict[str, dict[str, Score]]) -> str:
    """The result table as Markdown, baseline first, with ratios to the baseline."""
    lines = [
        "| condition | system | recall@10 | nDCG@10 | vs baseline (R / nDCG) "
        "| per-query W/T/L | query time s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for condition, systems in table.items():
        base = systems["es_standard_baseline"]
        for system, s in systems.items():
            ratio = f"{s.recall / base.recall:.2f}× / {s.ndcg / base.ndcg:.2f}×"
            wtl = "/".join(map(str, s.extra.get("wins_ties_losses", []))) or "-"
            lines.append(
                f"| {condition} | {system} | {s.recall:.4f} | {s.ndcg:.4f} | {ratio} | {wtl} | "
                f"{s.seconds:.1f} |"
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

    table = compare(es, papers, queries, analyzer)
    main_seconds = time.perf_counter() - started
    print(format_table(table), flush=True)
    rows = ablation(es, papers, queries, analyzer) if args.ablation else []
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
        "baseline_type": BASELINE_TYPE,
        "results": {c: {s: asdict(v) for s, v in row.items()} for c, row in table.items()},
        "ablation": rows,
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
