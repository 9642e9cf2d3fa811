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
import asyncio
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from bench.relevance import BACKENDS
from bench.relevance import CONDITIONS
from bench.relevance import DATA_FILE
from bench.relevance import Paper
from bench.relevance import Query
from bench.relevance import Ranker
from bench.relevance import Score
from bench.relevance import load_papers
from bench.relevance import production_indexes
from bench.relevance import run
from bench.relevance import search_all
from bench.relevance import temporary_index
from services.gateway.search.analysis import ES_ANALYZER
from services.gateway.search.analysis import Analyzer
from services.gateway.search.analysis import AnalyzerOptions
from services.gateway.search.analysis import curated_abbreviations
from services.gateway.search.analysis import normalize
from services.gateway.search.backends.base import SearchBackend
from services.gateway.search.backends.elasticsearch import ElasticsearchBackend
from services.gateway.search.backends.embedded import EmbeddedBackend
from services.gateway.search.libraries.institutions import SCHEMA as INSTITUTIONS
from services.gateway.search.libraries.institutions import institution_index_document
from services.gateway.search.model import SearchRequest
from services.gateway.search.model import SortKey
from services.gateway.search.query import RELEVANCE
from services.gateway.search.service import text_query
from services.kernel.pinyin import text_pinyin
from services.kernel.visibility import VisibilityScope

FEWCLUE_FILE = DATA_FILE.parents[1] / "fewclue-csl" / "test_public.json"
UNIVERSITIES_FILE = DATA_FILE.parents[1] / "cn-universities" / "china_mainland_universities.json"
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


# -- institution names ------------------------------------------------------------------------

# Short forms users type, with the university each means. Those built from the initials of the
# name's words (the analyzer's rule) and those in data/abbreviations.tsv are both here; the
# report says which is which, so the rule's share is measured on forms it was not given.
SHORT_FORMS = {
    "北大": "北京大学", "北航": "北京航空航天大学", "北理工": "北京理工大学",
    "北师大": "北京师范大学", "北邮": "北京邮电大学", "北交大": "北京交通大学",
    "北科大": "北京科技大学", "北化": "北京化工大学", "北林": "北京林业大学",
    "北工大": "北京工业大学", "人大": "中国人民大学", "中财": "中央财经大学",
    "上交": "上海交通大学", "华理": "华东理工大学", "浙大": "浙江大学",
    "南航": "南京航空航天大学", "南理工": "南京理工大学", "中科大": "中国科学技术大学",
    "厦大": "厦门大学", "山大": "山东大学", "武大": "武汉大学", "华科": "华中科技大学",
    "中大": "中山大学", "重大": "重庆大学", "西交": "西安交通大学", "西工大": "西北工业大学",
    "哈工大": "哈尔滨工业大学", "哈工程": "哈尔滨工程大学", "吉大": "吉林大学",
    "天大": "天津大学", "湖大": "湖南大学", "兰大": "兰州大学", "郑大": "郑州大学",
    "苏大": "苏州大学", "南师大": "南京师范大学", "上大": "上海大学", "暨大": "暨南大学",
    "深大": "深圳大学", "首师大": "首都师范大学", "川大": "四川大学", "大工": "大连理工大学",
    "贸大": "对外经济贸易大学", "法大": "中国政法大学", "西电": "西安电子科技大学",
    "成电": "电子科技大学", "北中医": "北京中医药大学", "西南交大": "西南交通大学",
    "上海交大": "上海交通大学", "西安交大": "西安交通大学", "中国科大": "中国科学技术大学",
    "华中大": "华中科技大学", "中国农大": "中国农业大学", "北外": "北京外国语大学",
    "上外": "上海外国语大学", "北语": "北京语言大学", "中传": "中国传媒大学",
    "南大": "南京大学", "南开": "南开大学", "复旦": "复旦大学", "同济": "同济大学",
    "清华": "清华大学",
}  # fmt: skip


def universities() -> list[str]:
    by_province = json.loads(UNIVERSITIES_FILE.read_text(encoding="utf-8"))
    return [name for entry in by_province.values() for name in entry["all"]]


def name_queries(names: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """(query, expected name) per kind: full names, full pinyin and initials where they name
    one university only, and the short forms (curated ones apart from the built ones)."""

    def unique(keyed: dict[str, str]) -> list[tuple[str, str]]:
        counts: dict[str, int] = defaultdict(int)
        for key in keyed.values():
            counts[key] += 1
        return [(key, name) for name, key in keyed.items() if counts[key] == 1]

    readings = {name: text_pinyin(name) for name in names}
    curated = {f for forms in curated_abbreviations().values() for f in forms}
    known = set(names)
    short = [(q, n) for q, n in SHORT_FORMS.items() if n in known]
    return {
        "full name": [(name, name) for name in names],
        "pinyin": unique({n: "".join(r.syllables) for n, r in readings.items() if r.syllables}),
        "pinyin initials": unique({n: r.initials for n, r in readings.items() if r.initials}),
        "short form, built": [(q, n) for q, n in short if q not in curated],
        "short form, curated": [(q, n) for q, n in short if q in curated],
    }


async def _name_top1(
    backend: SearchBackend, analyzer: Analyzer, queries: Sequence[tuple[str, str]]
) -> float:
    hits = 0
    for query, expected in queries:
        result = await backend.search(
            SearchRequest(
                ("institutions",),
                VisibilityScope(None),
                text=text_query(analyzer, query),
                sort=(SortKey(RELEVANCE, True),),
                size=1,
            )
        )
        hits += bool(result.hits) and result.hits[0].source.get("name") == expected
    return hits / len(queries) if queries else 0.0


def name_search(es_url: str, analyzer: Analyzer) -> dict[str, dict[str, Any]]:
    """Top-1 accuracy of `GET /institutions?q=` per kind of query, on both backends, for
    the 2 820 universities of ../shared/data/cn-universities loaded as institutions."""
    names = universities()
    documents = [
        institution_index_document(
            {
                "id": f"ins_{i:020d}",
                "version": 1,
                "name": name,
                "type": "university",
                "visibility": "public",
                "owner_org": "bench",
            },
            {},
            analyzer,
        )
        for i, name in enumerate(names)
    ]
    kinds = name_queries(names)
    report: dict[str, dict[str, Any]] = {}
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory(prefix="zhihui_bench_") as tmp:
        backends: dict[str, SearchBackend] = {
            "elasticsearch": ElasticsearchBackend(
                es_url, index_prefix=f"zhihui_bench_{uuid.uuid4().hex[:12]}", refresh_on_write=True
            ),
            "embedded": EmbeddedBackend(Path(tmp) / "names.sqlite"),
        }
        try:
            for kind, backend in backends.items():
                loop.run_until_complete(backend.ensure_library(INSTITUTIONS))
                for start in range(0, len(documents), 500):
                    loop.run_until_complete(backend.upsert(documents[start : start + 500]))
                report[kind] = {
                    label: {
                        "queries": len(queries),
                        "top1": round(
                            loop.run_until_complete(_name_top1(backend, analyzer, queries)), 4
                        ),
                    }
                    for label, queries in kinds.items()
                }
        finally:
            for kind, backend in backends.items():
                if kind == "elasticsearch":
                    loop.run_until_complete(backend.drop_library("institutions"))
                loop.run_until_complete(backend.close())
            loop.close()
    return report


def format_names(report: dict[str, dict[str, Any]]) -> str:
    lines = ["\ninstitution name search, top-1 accuracy"]
    kinds = list(next(iter(report.values())))
    lines.append(f"  {'kind':<22} {'queries':>7} " + " ".join(f"{b:>14}" for b in report))
    for kind in kinds:
        count = next(iter(report.values()))[kind]["queries"]
        cells = " ".join(f"{report[b][kind]['top1']:>14.3f}" for b in report)
        lines.append(f"  {kind:<22} {count:>7} {cells}")
    return "\n".join(lines)


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
    names = name_search(args.es_url, analyzer)
    print(format_names(names))
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
        "names": names,
        "seconds": round(seconds, 1),
    }
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
