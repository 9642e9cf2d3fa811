"""Elasticsearch SIGKILLed under a write stream and during a reindex: nothing lost or doubled.

One private Elasticsearch node (tests/reliability/servers.py) serves the whole module; the
domain services (SQLite) and the gateway with its indexer run as `zhihui serve` processes.
The node is killed with SIGKILL, as a crash or the OOM killer would, then started again.
Afterwards the services hold exactly what was acknowledged, their change feeds agree, and the
index (read directly and through the public list API) holds every live record once at its
latest version. Searches during the outage must be clean 503 problem+json answers.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

import httpx
import orjson
import pytest

from tests.reliability.faults_elastic import alias_for
from tests.reliability.faults_elastic import alias_targets
from tests.reliability.faults_elastic import concrete_indices
from tests.reliability.faults_elastic import index_problems
from tests.reliability.faults_elastic import live_documents
from tests.reliability.faults_platform import Platform
from tests.reliability.faults_platform import running_platform
from tests.reliability.faults_readback import assert_problem_json
from tests.reliability.faults_readback import feed_changes
from tests.reliability.faults_readback import feed_problems
from tests.reliability.faults_readback import gateway_listing
from tests.reliability.faults_readback import listing_problems
from tests.reliability.faults_readback import service_records
from tests.reliability.faults_readback import wait_until_empty
from tests.reliability.faults_writes import LIBRARIES
from tests.reliability.faults_writes import Ledger
from tests.reliability.faults_writes import MixedWriter
from tests.reliability.servers import PrivateElasticsearch
from tests.reliability.servers import private_elasticsearch
from tests.reliability.summary import ReliabilityReport

pytestmark = [pytest.mark.reliability("faults"), pytest.mark.elasticsearch]

WRITERS = 4
DOWN_SECONDS = 1.0
CATCH_UP_SECONDS = 120.0
REINDEX_SEED = 400
REINDEX_ATTEMPTS = 4


@dataclass
class SearchStack:
    """The private node and the platform indexing into it."""

    es: PrivateElasticsearch
    platform: Platform


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchStack]:
    with (
        private_elasticsearch() as es,
        running_platform(
            tmp_path_factory.mktemp("es-faults"), elasticsearch_url=es.url
        ) as platform,
    ):
        yield SearchStack(es, platform)


@pytest.fixture
async def gateway(stack: SearchStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.platform.gateway_url, timeout=60) as client:
        yield client


@pytest.fixture
async def es_http(stack: SearchStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.es.url, timeout=30) as client:
        yield client


async def stored_versions(platform: Platform, library: str) -> dict[str, int]:
    client = platform.clients()[library]
    try:
        return {i: r["version"] for i, r in (await service_records(client, f"/{library}")).items()}
    finally:
        await client.aclose()


async def assert_feed_agrees(platform: Platform, library: str) -> None:
    client = platform.clients()[library]
    try:
        records = await service_records(client, f"/{library}")
        assert not feed_problems(records, await feed_changes(client)), library
    finally:
        await client.aclose()


async def wait_index_converged(
    gateway: httpx.AsyncClient, platform: Platform, expected: dict[str, dict[str, int]]
) -> float:
    """Seconds until the public lists (answered from the index) equal `expected`."""

    async def problems() -> list[str]:
        found: list[str] = []
        for library, versions in expected.items():
            hits = await gateway_listing(gateway, library, platform.admin)
            found += [f"{library}: {p}" for p in listing_problems(hits, versions)]
        return found

    return await wait_until_empty(problems, CATCH_UP_SECONDS, "index not converged")


@dataclass
class Outage:
    """Kill points (acknowledged writes) and what was seen at each kill."""

    points: list[int]
    writes: int = 0
    down: bool = False
    writes_while_down: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    def on_write(self) -> None:
        self.writes += 1
        self.writes_while_down += self.down
        if self.points and self.writes >= self.points[0]:
            self.reached.set()


async def kill_at_points(stack: SearchStack, gateway: httpx.AsyncClient, outage: Outage) -> None:
    while outage.points:
        await outage.reached.wait()
        outage.points.pop(0)
        outage.reached.clear()
        await asyncio.to_thread(stack.es.kill)
        outage.down = True
        try:
            searched = await gateway.get("/api/v1/outcomes", params={"q": "故障恢复"})
            assert_problem_json(searched, 503)
            assert searched.headers.get("retry-after"), searched.headers
            await asyncio.sleep(DOWN_SECONDS)
        finally:
            # Even when the check above fails: the next test needs a running Elasticsearch.
            outage.restart_seconds.append(await asyncio.to_thread(stack.es.start))
            outage.down = False
        if outage.points and outage.writes >= outage.points[0]:
            outage.reached.set()


@pytest.mark.parametrize(
    ("writes", "kills"),
    [
        pytest.param(300, 1, id="300-writes-1-kill"),
        pytest.param(3000, 3, id="3000-writes-3-kills", marks=pytest.mark.long),
    ],
)
async def test_elasticsearch_sigkill_mid_stream_loses_and_doubles_nothing(
    stack: SearchStack,
    gateway: httpx.AsyncClient,
    es_http: httpx.AsyncClient,
    reliability: ReliabilityReport,
    writes: int,
    kills: int,
) -> None:
    platform = stack.platform
    before = {library: await stored_versions(platform, library) for library in LIBRARIES}
    ledger = Ledger()
    outage = Outage(points=[writes * (i + 1) // (kills + 1) for i in range(kills)])
    tag = secrets.token_hex(3)
    writers = [
        MixedWriter(gateway, platform.admin, ledger, f"{tag}w{n}", on_write=outage.on_write)
        for n in range(WRITERS)
    ]
    rng = random.Random(writes)
    started = time.monotonic()
    killer = asyncio.create_task(kill_at_points(stack, gateway, outage))
    try:
        await asyncio.gather(
            *(w.run(writes // WRITERS, random.Random(rng.random())) for w in writers)
        )
        await killer
    finally:
        killer.cancel()
        await asyncio.gather(killer, return_exceptions=True)
    stream_seconds = time.monotonic() - started
    assert ledger.acknowledged == writes // WRITERS * WRITERS
    assert outage.writes_while_down > 0, "no write was made while Elasticsearch was down"
    assert len(outage.restart_seconds) == kills

    # The services hold exactly what was acknowledged, and their feeds agree.
    expected = {library: {**before[library], **ledger.live[library]} for library in LIBRARIES}
    for library in LIBRARIES:
        for gone in ledger.deleted[library]:
            expected[library].pop(gone, None)
        assert await stored_versions(platform, library) == expected[library], library
        await assert_feed_agrees(platform, library)

    caught_up = await wait_index_converged(gateway, platform, expected)
    found = 0
    for library in LIBRARIES:
        alias = await alias_for(es_http, library)
        assert await concrete_indices(es_http, alias) == await alias_targets(es_http, alias)
        documents = await live_documents(es_http, alias)
        assert not index_problems(documents, expected[library]), library
        found += sum(1 for i, v in ledger.live[library].items() if documents[(i, v)] == 1)

    reliability.records("faults", ledger.live_count, found)
    label = f"es sigkill ({writes} writes, {kills} kills)"
    reliability.figure(
        "faults",
        label,
        f"{writes / stream_seconds:.0f} writes/s, {outage.writes_while_down} while down, "
        f"restart {max(outage.restart_seconds):.1f}s, index converged {caught_up:.1f}s later",
    )


async def seed_outcomes(gateway: httpx.AsyncClient, platform: Platform, count: int) -> None:
    tag = secrets.token_hex(3)
    lines = [
        orjson.dumps(
            {
                "source": f"reindex-{tag}",
                "external_id": str(n),
                "title": f"重建索引测试成果{tag}第{n}号",
                "type": "research_report",
                "visibility": "public",
                "owner_org": "cast",
            }
        )
        for n in range(count)
    ]
    response = await gateway.post(
        "/api/v1/outcomes/bulk",
        content=b"\n".join(lines) + b"\n",
        headers={**platform.admin, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    assert {r["status"] for r in response.json()["results"]} == {"created"}, response.text


@dataclass
class SearchProbe:
    """Searches all through the reindex: each must be complete (old or new index) or a 503."""

    expected_count: int
    answered: int = 0
    unavailable: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, gateway: httpx.AsyncClient, headers: dict[str, str]) -> None:
        while not self.stop.is_set():
            response = await gateway.get(
                "/api/v1/outcomes", params={"page_size": 1}, headers=headers
            )
            if response.status_code == 503:
                assert_problem_json(response, 503)
                self.unavailable += 1
            else:
                assert response.status_code == 200, response.text
                assert response.json()["meta"]["count"] == self.expected_count, response.text
                self.answered += 1
            await asyncio.sleep(0.05)


async def kill_once_the_new_index_exists(
    stack: SearchStack,
    es_http: httpx.AsyncClient,
    alias: str,
    reindex: asyncio.Task[httpx.Response],
) -> bool:
    """Kills the node as soon as the rebuild has created its new index; False when the
    reindex finished first (nothing was killed)."""
    known = set(await concrete_indices(es_http, alias))
    while not reindex.done():
        try:
            now = set(await concrete_indices(es_http, alias))
        except httpx.TransportError:
            now = known
        if now - known:
            await asyncio.to_thread(stack.es.kill)
            return True
        await asyncio.sleep(0.01)
    return False


async def test_elasticsearch_sigkill_during_reindex_then_rerun_swaps_to_a_complete_index(
    stack: SearchStack,
    gateway: httpx.AsyncClient,
    es_http: httpx.AsyncClient,
    reliability: ReliabilityReport,
) -> None:
    platform = stack.platform
    await seed_outcomes(gateway, platform, REINDEX_SEED)
    expected = await stored_versions(platform, "outcomes")
    await wait_index_converged(gateway, platform, {"outcomes": expected})
    alias = await alias_for(es_http, "outcomes")

    probe = SearchProbe(expected_count=len(expected))
    prober = asyncio.create_task(probe.run(gateway, platform.admin))
    killed = False
    try:
        for _attempt in range(REINDEX_ATTEMPTS):
            reindex = asyncio.create_task(
                gateway.post(
                    "/api/v1/admin/reindex", params={"library": "outcomes"}, headers=platform.admin
                )
            )
            killed = await kill_once_the_new_index_exists(stack, es_http, alias, reindex)
            answer = await reindex
            if killed:
                break
            assert answer.status_code == 200, answer.text
        assert killed, f"every reindex finished before the kill ({REINDEX_ATTEMPTS} tries)"
        assert_problem_json(answer, 503)
        probe.stop.set()
        await prober
    finally:
        probe.stop.set()
        await asyncio.gather(prober, return_exceptions=True)
        if killed:
            restart = await asyncio.to_thread(stack.es.start)
    assert probe.answered > 0

    # Writes while the node was down are kept and reach the rebuilt index.
    ledger = Ledger()
    writer = MixedWriter(gateway, platform.admin, ledger, secrets.token_hex(3))
    for record_id in sorted(expected)[:20]:
        ledger.live["outcomes"][record_id] = expected[record_id]
        await writer.patch("outcomes", record_id)
    expected = await stored_versions(platform, "outcomes")
    assert {i: expected[i] for i in ledger.live["outcomes"]} == ledger.live["outcomes"]

    rerun = await gateway.post(
        "/api/v1/admin/reindex", params={"library": "outcomes"}, headers=platform.admin
    )
    assert rerun.status_code == 200, rerun.text
    assert rerun.json()["alias_swapped"] is True
    converged = await wait_index_converged(gateway, platform, {"outcomes": expected})

    targets = await alias_targets(es_http, alias)
    assert len(targets) == 1 and await concrete_indices(es_http, alias) == targets, targets
    documents = await live_documents(es_http, alias)
    assert not index_problems(documents, expected)
    found = sum(1 for i, v in expected.items() if documents[(i, v)] == 1)
    reliability.records("faults", len(expected), found)
    reliability.figure(
        "faults",
        "es sigkill during reindex",
        f"{len(expected)} outcomes; {probe.answered} searches complete, {probe.unavailable} "
        f"clean 503s; restart {restart:.1f}s; rerun took {rerun.json()['took_ms']} ms, "
        f"converged {converged:.1f}s later",
    )
