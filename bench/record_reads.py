"""Record reads: `GET /api/v1/{library}/{id}` through the gateway against the service itself.

    ./dev bench record_reads --run RUN                # a platform kept by `./dev bench loading`
    ./dev bench record_reads --data /tmp/gen1         # load a small set first, drop it after

For each library, the first `--ids` records the reader key sees (in the list's default
order) are read through the gateway (reader key: auth, rate limit, proxy, visibility and
restricted-field re-check) and straight from the owning service (`GET /{library}/{id}` with
the internal headers of a reader of the same organisation), alternating request by request,
at concurrency 1 and 8. Both paths parse the JSON answer. Ratio gateway/direct.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.measure import interleaved
from bench.measure import machine_info
from bench.measure import ratio
from bench.measure import seconds_of
from bench.measure import summary
from bench.measure import table
from bench.measure import write_result
from bench.platform_paths import BENCH_ORG
from bench.platform_paths import http_client
from bench.platform_paths import platform_arguments
from bench.platform_paths import running_platform
from bench.rss import RssSampler
from bench.search_latency import parse_concurrency
from bench.stack import PlatformStack

LIBRARIES = ("outcomes", "experts", "institutions")


async def visible_ids(
    client: httpx.AsyncClient, stack: PlatformStack, library: str, count: int
) -> list[str]:
    """The first `count` IDs of the library the reader key lists (default sort)."""
    ids: list[str] = []
    page = 1
    while len(ids) < count:
        response = await client.get(
            f"{stack.gateway_url}/api/v1/{library}",
            params={"page": page, "page_size": 100, "select": "id"},
            headers=stack.bearer(stack.reader_key),
        )
        response.raise_for_status()
        found = [record["id"] for record in response.json()["results"]]
        ids.extend(found)
        if len(found) < 100:
            break
        page += 1
    return ids[:count]


async def measure_library(
    stack: PlatformStack,
    library: str,
    args: argparse.Namespace,
    gateway_client: httpx.AsyncClient,
    service_client: httpx.AsyncClient,
) -> dict[str, Any]:
    ids = await visible_ids(gateway_client, stack, library, args.ids)
    reader = stack.bearer(stack.reader_key)
    internal = stack.internal_headers("reader", BENCH_ORG)

    async def through_gateway(i: int) -> object:
        response = await gateway_client.get(
            f"{stack.gateway_url}/api/v1/{library}/{ids[i]}", headers=reader
        )
        response.raise_for_status()
        return orjson.loads(response.content)

    async def straight(i: int) -> object:
        response = await service_client.get(
            f"{stack.url(library)}/{library}/{ids[i]}", headers=internal
        )
        response.raise_for_status()
        return orjson.loads(response.content)

    paths = {"gateway": through_gateway, "direct": straight}
    for _ in range(args.warmup):
        await interleaved(len(ids), paths, concurrency=1)
    runs = {}
    for concurrency in args.concurrency:
        timings = await interleaved(len(ids), paths, concurrency=concurrency, rounds=args.rounds)
        gateway = summary(seconds_of(timings["gateway"]))
        direct = summary(seconds_of(timings["direct"]))
        runs[str(concurrency)] = {
            "gateway": gateway,
            "direct": direct,
            "ratio": ratio(gateway, direct),
        }
    return {"ids": len(ids), "runs": runs}


async def measure(stack: PlatformStack, args: argparse.Namespace) -> dict[str, Any]:
    async with http_client() as gateway_client, http_client() as service_client:
        with RssSampler(stack.pids()) as rss:
            libraries = {
                library: await measure_library(stack, library, args, gateway_client, service_client)
                for library in args.libraries
            }
    return {"rounds": args.rounds, "libraries": libraries, "rss": rss.report()}


def report(figures: dict[str, Any]) -> str:
    rows = []
    for library, measured in figures["libraries"].items():
        for concurrency, run in measured["runs"].items():
            rows.append(
                [
                    library,
                    concurrency,
                    run["gateway"]["median_ms"],
                    run["direct"]["median_ms"],
                    run["ratio"]["median"],
                    run["gateway"]["p95_ms"],
                    run["direct"]["p95_ms"],
                    run["ratio"]["p95"],
                ]
            )
    headers = [
        "library", "concurrency", "gateway p50", "service p50", "ratio p50",
        "gateway p95", "service p95", "ratio p95",
    ]  # fmt: skip
    return table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    platform_arguments(parser)
    parser.add_argument("--libraries", type=lambda s: s.split(","), default=list(LIBRARIES))
    parser.add_argument("--ids", type=int, default=200, help="records read per library")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the IDs")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes first")
    parser.add_argument("--concurrency", type=parse_concurrency, default=[1, 8])
    args = parser.parse_args()
    machine = machine_info()
    with running_platform(args.run, args.data) as stack:
        figures = asyncio.run(measure(stack, args))
    print(report(figures))
    payload = {"benchmark": "record_reads", "machine": machine, "run": args.run, **figures}
    path = write_result("record_reads", payload, Path(args.out) if args.out else None)
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
