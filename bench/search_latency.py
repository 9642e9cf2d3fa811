"""Search latency: the gateway against the same query sent straight to Elasticsearch.

    ./dev bench search_latency --run RUN              # a platform kept by `./dev bench loading`
    ./dev bench search_latency --data /tmp/gen1       # load a small set first, drop it after

The 200 requests of bench/queries.py go through `GET /api/v1/outcomes` (reader key) and, for
the baseline, as the `_search` the gateway itself builds for them (its parser and ES backend,
run in this process before timing) straight to `{alias}/_search`, with the same HTTP client
settings. Both paths parse the JSON answer. Requests alternate between the paths, at
concurrency 1 and 8, after a warm-up pass that also checks both paths find the same records.
Gateway/direct is the cost of the gateway: auth, parsing, analysis, visibility, label look-ups
for facets, highlighting and shaping the JSON. Peak RSS of every platform process is sampled
meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from bench.measure import interleaved
from bench.measure import machine_info
from bench.measure import ratio
from bench.measure import seconds_of
from bench.measure import summary
from bench.measure import table
from bench.measure import write_result
from bench.platform_paths import DirectSearch
from bench.platform_paths import GatewaySearch
from bench.platform_paths import PreparedSearch
from bench.platform_paths import http_client
from bench.platform_paths import platform_arguments
from bench.platform_paths import running_platform
from bench.queries import QUERY_COUNT
from bench.queries import BenchQuery
from bench.queries import build_queries
from bench.queries import resolve
from bench.rss import RssSampler
from bench.rss import tree_cpu_seconds
from bench.stack import PlatformStack


def parse_concurrency(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip()]


async def check_same_answers(
    queries: Sequence[BenchQuery],
    prepared: Sequence[PreparedSearch],
    gateway: GatewaySearch,
    direct: DirectSearch,
) -> list[dict[str, Any]]:
    """One pass of both paths (the warm-up): queries whose count or page of IDs differ."""
    differences = []
    for query, search in zip(queries, prepared, strict=True):
        through_gateway = await gateway.fetch(query.params)
        straight = await direct.send(search)
        gateway_ids = [record["id"] for record in through_gateway["results"]]
        direct_ids = [hit["_source"]["id"] for hit in straight["hits"]["hits"]]
        gateway_count = through_gateway["meta"]["count"]
        direct_count = straight["hits"]["total"]["value"]
        if gateway_ids != direct_ids or gateway_count != direct_count:
            differences.append(
                {
                    "query": query.number,
                    "params": query.params,
                    "gateway_count": gateway_count,
                    "direct_count": direct_count,
                }
            )
    return differences


def by_kind(
    queries: Sequence[BenchQuery], timings: dict[str, list[tuple[int, float]]]
) -> dict[str, dict[str, Any]]:
    """Median per path and their ratio, per kind of query (where the gateway spends)."""
    kinds: dict[str, set[int]] = {}
    for query in queries:
        kinds.setdefault(query.kind, set()).add(query.number)
    figures = {}
    for kind, items in sorted(kinds.items()):
        gateway = summary(seconds_of(timings["gateway"], items))
        direct = summary(seconds_of(timings["direct"], items))
        figures[kind] = {"gateway": gateway, "direct": direct, "ratio": ratio(gateway, direct)}
    return figures


async def measure(stack: PlatformStack, args: argparse.Namespace) -> dict[str, Any]:
    async with http_client() as gateway_client, http_client() as direct_client:
        gateway = GatewaySearch(stack, gateway_client)
        direct = DirectSearch(stack, direct_client)
        try:
            queries = await resolve(
                build_queries(args.queries), gateway.fetch, gateway.find_institution
            )
            prepared = [await direct.prepare(query) for query in queries]
            differences = await check_same_answers(queries, prepared, gateway, direct)
            for _ in range(args.warmup - 1):
                await check_same_answers(queries, prepared, gateway, direct)

            async def through_gateway(i: int) -> object:
                return await gateway.fetch(queries[i].params)

            async def straight(i: int) -> object:
                return await direct.send(prepared[i])

            paths = {"gateway": through_gateway, "direct": straight}
            runs: dict[str, Any] = {}
            gateway_process = psutil.Process(stack.pids()["gateway"])
            with RssSampler(stack.pids()) as rss:
                for concurrency in args.concurrency:
                    cpu_before = tree_cpu_seconds(gateway_process)
                    timings = await interleaved(
                        len(queries), paths, concurrency=concurrency, rounds=args.rounds
                    )
                    cpu = tree_cpu_seconds(gateway_process) - cpu_before
                    gateway_figures = summary(seconds_of(timings["gateway"]))
                    direct_figures = summary(seconds_of(timings["direct"]))
                    runs[str(concurrency)] = {
                        "gateway": gateway_figures,
                        "direct": direct_figures,
                        "ratio": ratio(gateway_figures, direct_figures),
                        # CPU the gateway process spent per request: its own cost, much less
                        # sensitive than latency to other work on a shared machine.
                        "gateway_cpu_ms_per_request": round(
                            cpu * 1000 / len(timings["gateway"]), 2
                        ),
                        "by_kind": by_kind(queries, timings),
                    }
        finally:
            await direct.close()
    return {
        "queries": len(queries),
        "rounds": args.rounds,
        "differences": differences,
        "runs": runs,
        "rss": rss.report(),
    }


def report(figures: dict[str, Any]) -> str:
    rows = []
    for concurrency, run in figures["runs"].items():
        for path in ("gateway", "direct"):
            is_gateway = path == "gateway"
            rows.append(
                [
                    concurrency,
                    path,
                    run[path]["n"],
                    run[path]["median_ms"],
                    run[path]["p95_ms"],
                    run["ratio"]["median"] if is_gateway else "",
                    run["ratio"]["p95"] if is_gateway else "",
                    run["gateway_cpu_ms_per_request"] if is_gateway else "",
                ]
            )
    headers = [
        "concurrency", "path", "n", "median ms", "p95 ms", "ratio p50", "ratio p95",
        "gateway CPU ms/req",
    ]  # fmt: skip
    lines = [table(headers, rows)]
    first = next(iter(figures["runs"].values()))
    lines.append("")
    lines.append(
        table(
            [
                "kind (concurrency " + next(iter(figures["runs"])) + ")",
                "gateway p50",
                "direct p50",
                "ratio",
            ],
            [
                [kind, f["gateway"]["median_ms"], f["direct"]["median_ms"], f["ratio"]["median"]]
                for kind, f in first["by_kind"].items()
            ],
        )
    )
    lines.append("")
    lines.append(
        table(
            ["process", "RSS at start MB", "peak RSS MB"],
            [[name, r["start_mb"], r["peak_mb"]] for name, r in figures["rss"].items()],
        )
    )
    if figures["differences"]:
        lines.append(f"\n{len(figures['differences'])} queries answered differently (see JSON)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    platform_arguments(parser)
    parser.add_argument("--queries", type=int, default=QUERY_COUNT)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the queries")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes first")
    parser.add_argument("--concurrency", type=parse_concurrency, default=[1, 8])
    args = parser.parse_args()
    machine = machine_info()
    with running_platform(args.run, args.data) as stack:
        figures = measure_sync(stack, args)
    payload = {"benchmark": "search_latency", "machine": machine, "run": args.run, **figures}
    print(report(figures))
    path = write_result("search_latency", payload, Path(args.out) if args.out else None)
    print(f"\nwritten: {path}")


def measure_sync(stack: PlatformStack, args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(measure(stack, args))


if __name__ == "__main__":
    main()
