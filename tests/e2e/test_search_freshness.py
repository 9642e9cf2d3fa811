"""Freshness on Elasticsearch: a record written through the gateway is searchable within 2 s.

Everything runs for real: the domain services as `zhihui serve` processes, the gateway app
with its in-process indexer (`run_indexer=True`, indexer settings from the environment, so a
0.2 s poll) and Elasticsearch with production settings (no refresh on write; the index's
default 1 s refresh interval decides when a write becomes visible).

For each of 200 records (institutions and outcomes, a few writers at once) we measure the
time from the write's 201 until a gateway list query filtering on the record's own unique tag
or keyword returns it. One watcher asks about every pending record of a library in a single
query (`filter=tags:a|b|…`) every 50 ms, and counts a record found when that query's answer
arrives, so each figure is an upper bound (it includes the query's own time).
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import statistics
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest

from tests.conftest import required_env
from tests.e2e.processes import SearchStack
from tests.e2e.processes import search_stack

pytestmark = pytest.mark.elasticsearch

RECORDS = 200
WRITERS = 4
# Pause of each writer between its writes (uniform up to this): about 20 writes/s in all.
WRITE_GAP_SECONDS = 0.3
WATCH_INTERVAL_SECONDS = 0.05
RECORD_TIMEOUT_SECONDS = 10.0
P95_LIMIT_SECONDS = 2.0
# The unique value each library's records carry, and the list filter field that finds it.
FILTER_FIELD = {"institutions": "tags", "outcomes": "keyword"}
# A filter value list per query stays well inside URL limits.
MAX_TOKENS_PER_QUERY = 40


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 200 values is the 190th smallest)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


@dataclass
class Pending:
    library: str
    record_id: str
    written_at: float  # monotonic, when the 201 arrived


@dataclass
class Freshness:
    stack: SearchStack
    tag: str
    pending: dict[str, Pending] = field(default_factory=dict)  # by unique token
    seconds: dict[str, float] = field(default_factory=dict)  # by record id
    by_library: dict[str, list[float]] = field(
        default_factory=lambda: {library: [] for library in FILTER_FIELD}
    )
    writing_done: bool = False

    def body(self, library: str, token: str, n: int) -> dict[str, object]:
        if library == "institutions":
            return {
                "name": f"时效测试研究院{self.tag}{n}",
                "type": "research_institute",
                "tags": [token],
                "owner_org": "cast",
            }
        return {
            "title": f"关于科技评价改革的政策建议（时效测试 {self.tag} 第{n}号）",
            "type": "policy_brief",
            "keywords": ["科技评价", token],
            "visibility": "public",
            "owner_org": "cast",
        }

    async def write(self, n: int) -> None:
        library = "institutions" if n % 2 else "outcomes"
        token = f"fresh{self.tag}n{n}"
        response = await self.stack.gateway.post(
            f"/api/v1/{library}", json=self.body(library, token, n), headers=self.stack.admin
        )
        written_at = time.monotonic()
        assert response.status_code == 201, response.text
        self.pending[token] = Pending(library, response.json()["id"], written_at)

    async def writer(self, numbers: list[int], rng: random.Random) -> None:
        for n in numbers:
            await self.write(n)
            await asyncio.sleep(rng.uniform(0, WRITE_GAP_SECONDS))

    async def look(self, library: str) -> None:
        tokens = [t for t, p in self.pending.items() if p.library == library]
        for start in range(0, len(tokens), MAX_TOKENS_PER_QUERY):
            chunk = tokens[start : start + MAX_TOKENS_PER_QUERY]
            response = await self.stack.gateway.get(
                f"/api/v1/{library}",
                params={
                    "filter": f"{FILTER_FIELD[library]}:{'|'.join(chunk)}",
                    "page_size": 100,
                    "select": "id",
                },
                headers=self.stack.admin,
            )
            answered_at = time.monotonic()
            assert response.status_code == 200, response.text
            found = {hit["id"] for hit in response.json()["results"]}
            for token in chunk:
                record = self.pending[token]
                if record.record_id in found:
                    del self.pending[token]
                    seconds = answered_at - record.written_at
                    self.seconds[record.record_id] = seconds
                    self.by_library[library].append(seconds)

    def check_overdue(self) -> None:
        now = time.monotonic()
        overdue = {
            token: round(now - p.written_at, 1)
            for token, p in self.pending.items()
            if now - p.written_at > RECORD_TIMEOUT_SECONDS
        }
        if overdue:
            raise AssertionError(
                f"{len(overdue)} record(s) not searchable {RECORD_TIMEOUT_SECONDS:.0f}s after "
                f"their 201 (token: seconds so far): {dict(list(overdue.items())[:10])}; "
                f"indexer: {self.stack.indexer.snapshot()}"
            )

    async def watcher(self) -> None:
        while not self.writing_done or self.pending:
            for library in FILTER_FIELD:
                await self.look(library)
            self.check_overdue()
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)


async def _wait_indexer_polling(stack: SearchStack, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not stack.indexer.ready():
        assert time.monotonic() < deadline, f"indexer not polling: {stack.indexer.snapshot()}"
        await asyncio.sleep(0.1)


async def test_writes_through_the_gateway_are_searchable_within_2s_p95(tmp_path: Path) -> None:
    elasticsearch_url = required_env("ZHIHUI_TEST_ELASTICSEARCH_URL")
    async with search_stack(tmp_path, elasticsearch_url) as stack:
        await _wait_indexer_polling(stack)
        assert stack.indexer.settings.poll_interval == 0.2  # the production default
        run = Freshness(stack, tag=secrets.token_hex(3))
        rng = random.Random(5)
        numbers = list(range(RECORDS))
        started = time.monotonic()
        watcher = asyncio.create_task(run.watcher())
        try:
            await asyncio.gather(
                *(
                    run.writer(numbers[w::WRITERS], random.Random(rng.random()))
                    for w in range(WRITERS)
                )
            )
            write_seconds = time.monotonic() - started
            run.writing_done = True
            await asyncio.wait_for(watcher, RECORD_TIMEOUT_SECONDS + 5)
        finally:
            watcher.cancel()

    values = list(run.seconds.values())
    assert len(values) == RECORDS
    p50, p95, worst = statistics.median(values), percentile(values, 0.95), max(values)
    print(
        f"\nfreshness on Elasticsearch over {RECORDS} writes through the gateway "
        f"({WRITERS} writers, {RECORDS / write_seconds:.1f} writes/s): "
        f"p50 {p50:.3f}s, p95 {p95:.3f}s, max {worst:.3f}s"
    )
    for library, seconds in run.by_library.items():
        print(
            f"  {library}: {len(seconds)} records, p50 {statistics.median(seconds):.3f}s, "
            f"p95 {percentile(seconds, 0.95):.3f}s, max {max(seconds):.3f}s"
        )
    assert p95 <= P95_LIMIT_SECONDS, f"p95 freshness {p95:.3f}s > {P95_LIMIT_SECONDS}s"
