"""Relevance on queries the pipeline was never tuned on, against textbook BM25 baselines.

    .venv/bin/python -m bench.relevance_heldout [--es-url URL] [--split tune|heldout|both]

Corpus: the 2 000 CSL papers (title, abstract, keywords) and the FewCLUE CSL abstracts
(../shared/data/fewclue-csl: abstracts only; a row labelled "1" lists true keywords, so a
paper's keywords are the union of its "1" rows; its duplicate abstracts are one paper, and the
ones also in CSL are left out). Queries: every keyword carried by 2..50 papers, the papers
carrying it relevant. Each query belongs to one half for good, by a hash of its text and a
fixed seed: `tune` is the half any setting may be chosen on, `heldout` is only ever reported.

Systems, one run, same corpus and queries: BM25 (Elasticsearch, `whitespace` over one field of
title + abstract) on character unigrams, jieba words, CJK bigrams and jieba words + bigrams;
and the platform as users get it: both production backends loaded through `outcome_document`
and asked as the API asks (`bench.relevance.production_indexes`). Each is reported with
recall@10, nDCG@10 and the queries with no hit, for title + abstract (keywords withheld) and
with keywords indexed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from bench.relevance import (
    BACKENDS,
    CONDITIONS,
    DATA_FILE,
    Paper,
    Query,
    Ranker,
    Score,
    load_papers,
    production_indexes,
    run,
    search_all,
    temporary_index,
)
from services.gateway.search.analysis import ES_ANALYZER, Analyzer, AnalyzerOptions, normalize

FEWCLUE_FILE = DATA_FILE.parents[1] / "fewclue-csl" / "test_public.json"
RESULTS_FILE = Path(__file__).resolve().parent / "results" / "relevance_heldout.json"
SEED = "zhihui-relevance-2026-12"
SPLITS = ("tune", "heldout")


# -- corpus and queries -----------------------------------------------------------------------


def fewclue_papers(path: Path = FEWCLUE_FILE, skip: frozenset[str] = frozenset()) -> list[Paper]:
    """FewCLUE abstracts as papers without titles; keywords from the rows labelled "1"."""
    keywords: dict[str, dict[str, None]] = {}
    order: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            abstract = row["abst"]
            if abstract in skip:
                continue
            if abstract not in keywords:
                keywords[abstract] = {}
                order.append(abstract)
            if row["label"] == "1":
                keywords[abstract].update(dict.fromkeys(row["keyword"]))
    return [
        Paper(f"fewclue-{i:04d}", "", abstract, tuple(keywords[abstract]))
        for i, abstract in enumerate(order)
    ]


def corpus() -> list[Paper]:
    csl = load_papers()
    return csl + fewclue_papers(skip=frozenset(p.abstract for p in csl))


def split_of(query_text: str) -> str:
    """The half a query belongs to, for good (a hash of the text and a fixed seed)."""
    digest = hashlib.sha256(f"{SEED}\n{query_text}".encode()).digest()
    return SPLITS[digest[0] % 2]


def keyword_queries(papers: Sequence[Paper], lo: int = 2, hi: int = 50) -> dict[str, list[Query]]:
    """Each normalised keyword carried by lo..hi papers, by half."""
    carriers: dict[str, set[str]] = defaultdict(set)
    for paper in papers:
        for keyword in paper.keywords:
            text = normalize(keyword)
            if text:
                carriers[text].add(paper.id)
    halves: dict[str, list[Query]] = {name: [] for name in SPLITS}
    for text, ids in sorted(carriers.items()):
        if lo <= len(ids) <= hi:
            halves[split_of(text)].append(Query(text, frozenset(ids)))
    return halves


# -- BM25 baselines ---------------------------------------------------------------------------

Tokenizer = Callable[[str], list[str]]


def baseline_tokenizers(analyzer: Analyzer) -> dict[str, Tokenizer]:
    """The textbook tokenisations, on the same normalised text as ours."""

    def unigrams(text: str) -> list[str]:
        return [c for c in normalize(text) if not c.isspace() and c.isalnum()]

    def words(text: str) -> list[str]:
        return analyzer.words(text, "search")

    def bigrams(text: str) -> list[str]:
        return analyzer.phrase_tokens(text)

    return {
        "bm25_unigrams": unigrams,
        "bm25_jieba": words,
        "bm25_bigrams": bigrams,
        "bm25_jieba_bigrams": lambda text: bigrams(text) + words(text),
    }


def baseline_docs(papers: Sequence[Paper], tokenize: Tokenizer) -> Iterator[dict[str, Any]]:
    for p in papers:
        yield {
            "id": p.id,
            "text": " ".join(tokenize(f"{p.title} {p.abstract}")),
            "keywords": [" ".join(tokenize(k)) for k in p.keywords],
        }


BASELINE_PROPERTIES = {
    "text": {"type": "text", "analyzer": ES_ANALYZER},
    "keywords": {"type": "text", "analyzer": ES_ANALYZER},
}


def baseline_ranker(es: Elasticsearch, index: str, tokenize: Tokenizer) -> Ranker:
    """BM25 over one field (and the keywords field in the +keywords condition), tokens ORed."""

    def rank(queries: Sequence[Query], fields: Sequence[str]) -> list[list[str]]:
        targets = ["text", *(["keywords"] if "keywords" in fields else [])]
        bodies = [
            {"multi_match": {"query": " ".join(tokenize(q.text)) or q.text, "fields": targets}}
            for q in queries
        ]
        return search_all(es, index, bodies)

    return rank


# -- the run ----------------------------------------------------------------------------------


def evaluate_all(
    es: Elasticsearch,
    es_url: str,
    papers: Sequence[Paper],
    halves: dict[str, list[Query]],
    analyzer: Analyzer,
    splits: Sequence[str],
) -> dict[str, dict[str, dict[str, Score]]]:
    """{split: {condition: {system: score}}}."""
    table: dict[str, dict[str, dict[str, Score]]] = {s: {c: {} for c in CONDITIONS} for s in splits}
    with ExitStack() as stack:
        systems: dict[str, Ranker] = {}
        for name, tokenize in baseline_tokenizers(analyzer).items():
            index = stack.enter_context(
                temporary_index(es, BASELINE_PROPERTIES, baseline_docs(papers, tokenize))
            )
            systems[name] = baseline_ranker(es, index, tokenize)
        production = stack.enter_context(production_indexes(es_url, analyzer, papers))
        for kind in BACKENDS:
            systems[f"platform_{kind}"] = production.ranker(kind)
        for split in splits:
            for condition, fields in CONDITIONS.items():
                for system, ranker in systems.items():
                    score, rankings = run(ranker, halves[split], fields)
                    score.extra["queries_without_hits"] = sum(1 for r in rankings if not r)
                    table[split][condition][system] = score
    return table


def format_table(table: dict[str, dict[str, dict[str, Score]]]) -> str:
    lines = []
    for split, conditions in table.items():
        for condition, systems in conditions.items():
            queries = next(iter(systems.values())).queries
            lines.append(f"\n{split} half, {condition} ({queries} queries)")
            lines.append(
                f"  {'system':<28} {'recall@10':>9} {'nDCG@10':>8} {'no hit':>7} {'seconds':>8}"
            )
            for system, score in systems.items():
                lines.append(
                    f"  {system:<28} {score.recall:>9.3f} {score.ndcg:>8.3f} "
                    f"{score.extra['queries_without_hits']:>7} {score.seconds:>8.2f}"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--es-url",
        default=os.environ.get("ZHIHUI_TEST_ELASTICSEARCH_URL", "http://127.0.0.1:59200"),
    )
    parser.add_argument("--split", choices=[*SPLITS, "both"], default="both")
    parser.add_argument("--out", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    papers = corpus()
    halves = keyword_queries(papers)
    analyzer = Analyzer(AnalyzerOptions())
    analyzer.load()
    splits = list(SPLITS) if args.split == "both" else [args.split]
    print(
        f"{len(papers)} papers; queries: "
        + ", ".join(f"{name} {len(qs)}" for name, qs in halves.items()),
        flush=True,
    )
    es = Elasticsearch(args.es_url, request_timeout=120)
    table = evaluate_all(es, args.es_url, papers, halves, analyzer, splits)
    print(format_table(table))
    seconds = time.perf_counter() - started
    print(f"\n{seconds:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "papers": len(papers),
        "queries": {name: len(qs) for name, qs in halves.items()},
        "seed": SEED,
        "results": {
            split: {c: {s: asdict(v) for s, v in row.items()} for c, row in conditions.items()}
            for split, conditions in table.items()
        },
        "seconds": round(seconds, 1),
    }
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
