"""The embedded backend (SQLite FTS5) against Elasticsearch, both behind their gateway.

    ./dev bench embedded_search --embedded-run EMB --run ES      # both kept, 100 000 outcomes
    ./dev bench embedded_search --embedded-run EMB               # embedded figures alone

The 200 requests of bench/queries.py go to the gateway of an embedded platform (`zhihui up`'s
default: SQLite files and the embedded index, loaded with `./dev bench loading --embedded`)
and, with `--run`, to the gateway of an Elasticsearch platform holding the same data,
alternating request by request, at concurrency 1 and 8. Ratio embedded/Elasticsearch.
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.measure import interleaved
from bench.measure import machine_info
from bench.measure import ratio
from bench.measure import seconds_of
from bench.measure import summary
from bench.measure import table
from bench.measure import write_result
from bench.platform_paths import GatewaySearch
from bench.platform_paths import http_client
from bench.platform_paths import running_platform
from bench.queries import QUERY_COUNT
from bench.queries import BenchQuery
from bench.queries import build_queries
from bench.queries import resolve
from bench.rss import RssSampler
from bench.search_latency import parse_concurrency
from bench.stack import PlatformStack


async def resolved_queries(gateway: GatewaySearch, count: int) -> list[BenchQuery]:
    return await resolve(build_queries(count), gateway.fetch, gateway.find_institution)


async def measure(stacks: dict[str, PlatformStack], args: argparse.Namespace) -> dict[str, Any]:
    async with http_client() as client:
        gateways = {name: GatewaySearch(stack, client) for name, stack in stacks.items()}
        # Institution IDs and cursors belong to each platform: resolve the set on each.
        queries = {
            name: await resolved_queries(gateway, args.queries)
            for name, gateway in gateways.items()
        }
        counts = {name: len(found) for name, found in queries.items()}
        count = min(counts.values())

        def path(name: str) -> Any:
            async def call(i: int) -> object:
                return await gateways[name].fetch(queries[name][i].params)

            return call

        paths = {name: path(name) for name in gateways}
        for _ in range(args.warmup):
            await interleaved(count, paths, concurrency=1)
        pids = {f"{name}:{p}": pid for name, s in stacks.items() for p, pid in s.pids().items()}
        runs: dict[str, Any] = {}
        with RssSampler(pids) as rss:
            for concurrency in args.concurrency:
                timings = await interleaved(
                    count, paths, concurrency=concurrency, rounds=args.rounds
                )
                figures = {name: summary(seconds_of(timings[name])) for name in paths}
                if "elasticsearch" in figures:
                    figures["ratio"] = ratio(figures["embedded"], figures["elasticsearch"])
                runs[str(concurrency)] = figures
    return {"queries": count, "rounds": args.rounds, "runs": runs, "rss": rss.report()}


def report(figures: dict[str, Any]) -> str:
    rows = []
    for concurrency, run in figures["runs"].items():
        for name in ("embedded", "elasticsearch"):
            if name in run:
                rows.append(
                    [
                        concurrency,
                        name,
                        run[name]["n"],
                        run[name]["median_ms"],
                        run[name]["p95_ms"],
                        run["ratio"]["median"] if "ratio" in run and name == "embedded" else "",
                        run["ratio"]["p95"] if "ratio" in run and name == "embedded" else "",
                    ]
                )
    headers = ["concurrency", "gateway on", "n", "median ms", "p95 ms", "ratio p50", "ratio p95"]
    memory = table(
        ["process", "RSS at start MB", "peak RSS MB"],
        [[name, r["start_mb"], r["peak_mb"]] for name, r in figures["rss"].items()],
    )
    return f"{table(headers, rows)}\n\n{memory}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedded-run", required=True, help="`./dev bench loading --embedded`")
    parser.add_argument("--run", help="an Elasticsearch platform with the same data, to compare")
    parser.add_argument("--queries", type=int, default=QUERY_COUNT)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the queries")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes first")
    parser.add_argument("--concurrency", type=parse_concurrency, default=[1, 8])
    parser.add_argument("--out", help="where to write the JSON (default bench/results/)")
    args = parser.parse_args()
    machine = machine_info()
    with ExitStack() as running:
        stacks = {
            "embedded": running.enter_context(running_platform(args.embedded_run, embedded=True))
        }
        if args.run:
            stacks["elasticsearch"] = running.enter_context(running_platform(args.run))
        figures = asyncio.run(measure(stacks, args))
    print(report(figures))
    payload = {
        "benchmark": "embedded_search",
        "machine": machine,
        "embedded_run": args.embedded_run,
        "elasticsearch_run": args.run,
        **figures,
    }
    path = write_result("embedded_search", payload, Path(args.out) if args.out else None)
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
