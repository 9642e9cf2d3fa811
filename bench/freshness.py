"""Freshness: the delay from a write's answer until search finds it, under a steady write load.

    ./dev bench freshness                        # a fresh, empty platform; 10 writes/s for 60 s
    ./dev bench freshness --run RUN              # the kept platform of `./dev bench loading`
    ./dev bench freshness --rate 20 --seconds 120

Writes go through the gateway with the admin key at a steady rate (open loop: write i starts
at i / rate seconds whatever the earlier ones are doing), alternating a create of an outcome
and a merge patch (new title, If-Match) of an earlier one whose last write search has found.
Each write puts a unique token in the title (`fresh<run>x<n>`, kept whole by the analyzer).
One watcher asks `GET /api/v1/outcomes?q=tokA OR tokB …` for every pending token every
50 ms, and a write counts as searchable when an answer lists a record whose title holds its
token: the delay runs from the write's 2xx until that answer arrived, so it includes the
query's own time (an upper bound). Indexer settings are the production defaults (0.2 s feed
poll, Elasticsearch's 1 s refresh interval). Figures go to `bench/results/freshness.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx

from bench.measure import machine_info
from bench.measure import percentile
from bench.measure import table
from bench.measure import write_result
from bench.stack import PlatformStack
from bench.stack import platform_stack

TARGET_P95_SECONDS = 2.0
WATCH_INTERVAL_SECONDS = 0.05
TOKENS_PER_QUERY = 20  # `q` holds at most 500 characters
GIVE_UP_SECONDS = 30.0


@dataclass
class Pending:
    op: str  # create or patch
    written_at: float  # monotonic, when the write's 2xx arrived
    record_id: str
    etag: str


@dataclass
class Freshness:
    client: httpx.AsyncClient
    tag: str
    pending: dict[str, Pending] = field(default_factory=dict)  # by token
    delays: dict[str, list[float]] = field(default_factory=lambda: {"create": [], "patch": []})
    write_seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Records whose latest write search has found: (id, etag), ready to be patched. A record
    # is never patched before its last token is found, which would take that token away.
    patchable: list[tuple[str, str]] = field(default_factory=list)
    lost: int = 0

    def token(self, n: int) -> str:
        return f"fresh{self.tag}x{n:05d}"

    def title(self, n: int) -> str:
        return f"关于科技评价改革的政策建议 {self.token(n)}"

    async def write(self, n: int) -> None:
        try:
            await self._write(n)
        except httpx.TransportError as exc:  # counted, not retried: the load stays steady
            self.errors.append(f"write {n}: {type(exc).__name__}")

    async def _write(self, n: int) -> None:
        """Even n: create an outcome; odd n: retitle one already found (else create)."""
        started = time.monotonic()
        if n % 2 == 0 or not self.patchable:
            op = "create"
            response = await self.client.post(
                "/api/v1/outcomes",
                json={
                    "title": self.title(n),
                    "type": "policy_brief",
                    "keywords": ["科技评价"],
                    "visibility": "public",
                    "owner_org": "bench",
                },
            )
        else:
            op = "patch"
            record_id, etag = self.patchable.pop(0)
            response = await self.client.patch(
                f"/api/v1/outcomes/{record_id}",
                json={"title": self.title(n)},
                headers={"If-Match": etag, "Content-Type": "application/merge-patch+json"},
            )
        written_at = time.monotonic()
        if response.status_code >= 300:
            self.errors.append(f"{op} {n}: {response.status_code} {response.text[:200]}")
            return
        self.write_seconds.append(written_at - started)
        self.pending[self.token(n)] = Pending(
            op, written_at, response.json()["id"], response.headers["etag"]
        )

    async def look(self) -> None:
        tokens = list(self.pending)
        for first in range(0, len(tokens), TOKENS_PER_QUERY):
            chunk = tokens[first : first + TOKENS_PER_QUERY]
            response = await self.client.get(
                "/api/v1/outcomes",
                params={"q": " OR ".join(chunk), "page_size": 100, "select": "id,title"},
            )
            answered_at = time.monotonic()
            response.raise_for_status()
            titles = " ".join(str(hit.get("title", "")) for hit in response.json()["results"])
            for token in chunk:
                if token in titles:
                    found = self.pending.pop(token)
                    self.delays[found.op].append(answered_at - found.written_at)
                    self.patchable.append((found.record_id, found.etag))

    async def watch(self, writing: asyncio.Future[Any]) -> None:
        while not writing.done() or self.pending:
            try:
                await self.look()
            except httpx.TransportError as exc:
                self.errors.append(f"search: {type(exc).__name__}")
            now = time.monotonic()
            overdue = [t for t, p in self.pending.items() if now - p.written_at > GIVE_UP_SECONDS]
            for token in overdue:
                del self.pending[token]
                self.lost += 1
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)

    async def run(self, rate: float, seconds: float) -> float:
        """Write at `rate` per second for `seconds`; the rate actually achieved."""
        count = int(rate * seconds)
        started = time.monotonic()

        async def scheduled(n: int) -> None:
            await asyncio.sleep(max(started + n / rate - time.monotonic(), 0))
            await self.write(n)

        writing = asyncio.ensure_future(asyncio.gather(*(scheduled(n) for n in range(count))))
        watcher = asyncio.ensure_future(self.watch(writing))
        await writing
        elapsed = time.monotonic() - started
        await watcher
        return count / elapsed


def summary(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"n": 0}
    return {
        "n": len(seconds),
        "p50_s": round(percentile(seconds, 0.5), 3),
        "p95_s": round(percentile(seconds, 0.95), 3),
        "max_s": round(max(seconds), 3),
    }


async def measure(stack: PlatformStack, rate: float, seconds: float) -> dict[str, Any]:
    headers = stack.bearer(stack.admin_key)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers=headers, timeout=30, limits=limits
    ) as client:
        run = Freshness(client, tag=secrets.token_hex(3))
        achieved = await run.run(rate, seconds)
    every = run.delays["create"] + run.delays["patch"]
    return {
        "rate_asked": rate,
        "rate_achieved": round(achieved, 2),
        "seconds": seconds,
        "all": summary(every),
        "create": summary(run.delays["create"]),
        "patch": summary(run.delays["patch"]),
        "write_latency": summary(run.write_seconds),
        "not_found_within_s": {"count": run.lost, "limit_s": GIVE_UP_SECONDS},
        "write_errors": run.errors[:20],
    }


def report(figures: dict[str, Any]) -> str:
    rows = [
        [label, s.get("n", 0), s.get("p50_s", "-"), s.get("p95_s", "-"), s.get("max_s", "-")]
        for label, s in (
            ("write → searchable, all", figures["all"]),
            ("… after a create", figures["create"]),
            ("… after a patch", figures["patch"]),
            ("write latency (2xx)", figures["write_latency"]),
        )
    ]
    lines = [table(["seconds", "n", "p50", "p95", "max"], rows)]
    lines.append(
        f"\n{figures['rate_achieved']} writes/s for {figures['seconds']} s; "
        f"not found within {GIVE_UP_SECONDS:.0f} s: {figures['not_found_within_s']['count']}; "
        f"write errors: {len(figures['write_errors'])}"
    )
    p95 = figures["all"].get("p95_s", float("inf"))
    verdict = "met" if p95 <= TARGET_P95_SECONDS else "NOT met"
    lines.append(f"target p95 ≤ {TARGET_P95_SECONDS} s: {verdict}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a kept platform from `./dev bench loading` (loaded)")
    parser.add_argument("--rate", type=float, default=10.0, help="writes per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, help="JSON output (default bench/results/…)")
    args = parser.parse_args()
    machine = machine_info()
    with platform_stack(
        database_url=os.environ["ZHIHUI_TEST_POSTGRES_URL"],
        elasticsearch_url=os.environ["ZHIHUI_TEST_ELASTICSEARCH_URL"],
        run=args.run,
        keep=bool(args.run),
    ) as stack:
        indexed = stack.indexer_cursors()
        figures = asyncio.run(measure(stack, args.rate, args.seconds))
    figures = {
        "machine": machine,
        "platform": f"kept run {args.run}" if args.run else "fresh, empty",
        "indexed_before": indexed,
        **figures,
    }
    print(report(figures))
    print(f"results: {write_result('freshness', figures, args.out)}")


if __name__ == "__main__":
    main()
