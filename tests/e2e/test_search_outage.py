"""Elasticsearch stopped during a stream of 5 000 writes: nothing is lost, nothing is doubled.

Everything runs for real: the domain services as `zhihui serve` processes, the gateway app
with its in-process indexer (`run_indexer=True`, indexer settings from the environment) and
the shared local Elasticsearch, which this test stops (`deploy/scripts/elasticsearch.sh stop`)
part-way through the stream and starts again some seconds later. Writes go to the services
through the gateway and must keep succeeding while the index is down; the indexer must fail,
keep its cursors, and catch up once Elasticsearch is back. Then every live record is in the
index exactly once with its latest version, and no deleted record is.

Elasticsearch is started again in a `finally`, whatever happens.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway.indexer.runner import FeedStatus
from services.gateway.search.backends.base import IndexUnavailable
from services.kernel.changefeed import ChangeOut
from tests.conftest import required_env
from tests.e2e.processes import SearchStack
from tests.e2e.processes import search_stack
from tests.gateway.search.helpers import drop_search
from tests.gateway.search.helpers import make_search

pytestmark = pytest.mark.elasticsearch

REPO = Path(__file__).resolve().parents[2]
ES_SCRIPT = REPO / "deploy" / "scripts" / "elasticsearch.sh"

WRITES = 5_000
WRITERS = 8
LIBRARIES = ("institutions", "experts", "outcomes")
# Institutions the experts and outcomes refer to (created first; part of the 5 000 writes).
ANCHORS = 8
# Elasticsearch is stopped once this many writes have succeeded, and kept down this long
# after it has stopped (its start then takes ~10 s more, during which it is still down).
STOP_AFTER_WRITES = 1_000
DOWN_SECONDS = 8.0
CATCH_UP_SECONDS = 120.0
TEST_BUDGET_SECONDS = 235.0
PROGRESS_SECONDS = 10.0
SCRIPT_TIMEOUT_SECONDS = 200.0


def elasticsearch(command: str) -> str:
    """`deploy/scripts/elasticsearch.sh start|stop|url` (start returns once healthy)."""
    result = subprocess.run(
        [str(ES_SCRIPT), command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"elasticsearch.sh {command} failed:\n{result.stderr[-3000:]}"
    return result.stdout.strip()


@dataclass
class Outage:
    """When Elasticsearch went down and came back (monotonic seconds), and what we saw."""

    stop_called: float | None = None
    stopped: float | None = None
    start_called: float | None = None
    healthy: float | None = None
    writes_at_stop: int = 0
    writes_while_down: int = 0  # writes answered between `stop_called` and `healthy`
    feeds_failing: set[str] = field(default_factory=set)  # seen in a failure streak
    errors_seen: dict[str, str] = field(default_factory=dict)  # feed → last_error seen
    errors_stored: dict[str, str] = field(default_factory=dict)  # cursor rows' last_error

    @property
    def down(self) -> bool:
        return self.stop_called is not None and self.healthy is None


@dataclass
class Stream:
    """Writers, each with its own records; what the services should hold afterwards."""

    stack: SearchStack
    tag: str
    outage: Outage
    anchors: list[str] = field(default_factory=list)
    live: dict[str, dict[str, int]] = field(
        default_factory=lambda: {library: {} for library in LIBRARIES}
    )  # record id → version, per library
    deleted: dict[str, set[str]] = field(
        default_factory=lambda: {library: set() for library in LIBRARIES}
    )
    ops: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    serial: int = 0
    # Set once STOP_AFTER_WRITES writes have succeeded: time to stop Elasticsearch.
    stop_point: asyncio.Event = field(default_factory=asyncio.Event)

    def _count(self, op: str) -> None:
        self.writes += 1
        self.ops[op] += 1
        if self.writes >= STOP_AFTER_WRITES:
            self.stop_point.set()
        if self.outage.down:
            self.outage.writes_while_down += 1

    def _body(self, library: str, rng: random.Random) -> dict[str, Any]:
        self.serial += 1
        n = self.serial
        if library == "institutions":
            return {
                "name": f"断流测试研究院{self.tag}第{n}所",
                "type": rng.choice(["research_institute", "think_tank", "university"]),
                "tags": [f"outage{self.tag}"],
                "owner_org": "cast",
            }
        if library == "experts":
            return {
                "name": f"测试专家{self.tag}{n}",
                "title": "研究员",
                "affiliations": [{"institution_id": rng.choice(self.anchors), "primary": True}],
                "research_areas": ["科技政策"],
                "owner_org": "cast",
            }
        return {
            "title": f"关于科研数据共享的政策建议（{self.tag} 第{n}号）",
            "type": "policy_brief",
            "keywords": ["数据共享", f"outage{self.tag}"],
            "institution_ids": [rng.choice(self.anchors)],
            "authors": [{"name": f"作者{n}", "order": 1}],
            "visibility": rng.choice(["public", "partner", "internal"]),
            "owner_org": "cast",
        }

    def _patch(self, library: str) -> dict[str, Any]:
        self.serial += 1
        if library == "institutions":
            return {"description": f"第{self.serial}次修订的机构简介"}
        if library == "experts":
            return {"bio": f"第{self.serial}次修订的个人简介"}
        return {"abstract": f"第{self.serial}次修订的摘要"}

    async def create(self, library: str, rng: random.Random, mine: dict[str, set[str]]) -> str:
        response = await self.stack.gateway.post(
            f"/api/v1/{library}", json=self._body(library, rng), headers=self.stack.admin
        )
        assert response.status_code == 201, self._failed("create", library, response)
        record = response.json()
        self.live[library][record["id"]] = record["version"]
        mine[library].add(record["id"])
        self._count("create")
        return str(record["id"])

    async def patch(self, library: str, record_id: str) -> None:
        version = self.live[library][record_id]
        response = await self.stack.gateway.patch(
            f"/api/v1/{library}/{record_id}",
            json=self._patch(library),
            headers={**self.stack.admin, "If-Match": f'"v{version}"'},
        )
        assert response.status_code == 200, self._failed("patch", library, response)
        self.live[library][record_id] = response.json()["version"]
        self._count("patch")

    async def delete(self, library: str, record_id: str, mine: dict[str, set[str]]) -> None:
        version = self.live[library][record_id]
        response = await self.stack.gateway.delete(
            f"/api/v1/{library}/{record_id}",
            headers={**self.stack.admin, "If-Match": f'"v{version}"'},
        )
        assert response.status_code == 204, self._failed("delete", library, response)
        del self.live[library][record_id]
        mine[library].discard(record_id)
        self.deleted[library].add(record_id)
        self._count("delete")

    def _failed(self, op: str, library: str, response: httpx.Response) -> str:
        state = "while Elasticsearch was down" if self.outage.down else "with Elasticsearch up"
        return f"{op} {library} failed {state}: {response.status_code} {response.text[:500]}"

    async def writer(self, steps: int, rng: random.Random) -> None:
        mine: dict[str, set[str]] = {library: set() for library in LIBRARIES}
        for _ in range(steps):
            library = rng.choices(LIBRARIES, weights=(4, 3, 3))[0]
            roll = rng.random()
            if len(mine[library]) < 3 or roll < 0.6:
                await self.create(library, rng, mine)
            elif roll < 0.88:
                await self.patch(library, rng.choice(sorted(mine[library])))
            else:
                await self.delete(library, rng.choice(sorted(mine[library])), mine)


async def run_outage(stream: Stream) -> None:
    outage = stream.outage
    await stream.stop_point.wait()
    outage.writes_at_stop = stream.writes
    outage.stop_called = time.monotonic()
    await asyncio.to_thread(elasticsearch, "stop")
    outage.stopped = time.monotonic()
    async with httpx.AsyncClient(base_url=stream.stack.elasticsearch_url, timeout=2) as es:
        with pytest.raises(httpx.TransportError):
            await es.get("/_cluster/health")
    await asyncio.sleep(DOWN_SECONDS)
    outage.start_called = time.monotonic()
    await asyncio.to_thread(elasticsearch, "start")
    outage.healthy = time.monotonic()


async def watch_indexer(stream: Stream, done: asyncio.Event) -> None:
    """Notes, while Elasticsearch is down, which feeds fail and what error they record;
    prints progress every few seconds."""
    stack, outage = stream.stack, stream.outage
    started = last_report = time.monotonic()
    while not done.is_set():
        if time.monotonic() - last_report >= PROGRESS_SECONDS:
            last_report = time.monotonic()
            lags = {f: s.lag for f, s in stack.indexer.statuses().items()}
            state = "down" if outage.down else "up"
            print(
                f"  [{last_report - started:5.1f}s] {stream.writes} writes, ES {state}, "
                f"indexer lag {lags}",
                flush=True,
            )
        if outage.stopped is not None and outage.down:
            for feed, status in stack.indexer.statuses().items():
                if status.failures:
                    outage.feeds_failing.add(feed)
                if status.last_error:
                    outage.errors_seen[feed] = status.last_error
            for feed, row in (await stack.indexer.store.cursors()).items():
                if row.last_error:
                    outage.errors_stored[feed] = row.last_error
        await asyncio.sleep(0.25)


async def service_records(stack: SearchStack, library: str) -> dict[str, int]:
    """Every live record of a library as its service lists it: id → version."""
    found: dict[str, int] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": 100}
        if cursor:
            params["cursor"] = cursor
        response = await stack.clients[library].request("GET", f"/{library}", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        found.update({r["id"]: r["version"] for r in body["results"]})
        cursor = body["meta"]["next_cursor"]
        if not cursor:
            return found


async def index_documents(es: httpx.AsyncClient, alias: str) -> list[dict[str, Any]]:
    """Every document behind an alias, tombstones included: id, deleted, record version.

    Read in a point in time: pages of `search_after` on `_doc` alone can skip documents when
    a segment merge (busy after an outage's catch-up) renumbers them between pages."""
    opened = await es.post(f"/{alias}/_pit", params={"keep_alive": "2m"})
    assert opened.status_code == 200, opened.text
    pit = opened.json()["id"]
    documents: list[dict[str, Any]] = []
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {
            "size": 1000,
            "query": {"match_all": {}},
            "pit": {"id": pit, "keep_alive": "2m"},
            "sort": [{"_shard_doc": "asc"}],
            "_source": ["id", "deleted", "source.id", "source.version"],
            "seq_no_primary_term": False,
        }
        if after is not None:
            body["search_after"] = after
        response = await es.post("/_search", json=body)
        assert response.status_code == 200, response.text
        pit = response.json().get("pit_id", pit)
        hits = response.json()["hits"]["hits"]
        for hit in hits:
            source = hit["_source"]
            documents.append(
                {
                    "_id": hit["_id"],
                    "_index": hit["_index"],
                    "id": source.get("id"),
                    "deleted": bool(source.get("deleted")),
                    "version": (source.get("source") or {}).get("version"),
                }
            )
        if len(hits) < 1000:
            await es.request("DELETE", "/_pit", json={"id": pit})
            return documents
        after = hits[-1]["sort"]


def _feeds_summary(statuses: dict[str, FeedStatus]) -> str:
    return ", ".join(
        f"{feed}: applied {s.applied_total} in {s.batches_total} batches, "
        f"{s.failures_total} failed cycles"
        for feed, s in statuses.items()
    )


async def test_elasticsearch_stopped_mid_stream_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    elasticsearch_url = required_env("ZHIHUI_TEST_ELASTICSEARCH_URL")
    managed = elasticsearch("url")
    assert elasticsearch_url.rstrip("/") == managed, (
        f"ZHIHUI_TEST_ELASTICSEARCH_URL is {elasticsearch_url}, but {ES_SCRIPT.name} manages "
        f"{managed}: this test must be able to stop and start the node it indexes into"
    )
    test_started = time.monotonic()
    outage = Outage()
    try:
        async with search_stack(tmp_path, elasticsearch_url) as stack:
            try:
                async with asyncio.timeout(TEST_BUDGET_SECONDS):
                    await _run(stack, outage, elasticsearch_url, test_started)
            finally:
                # Up again before the stack drops its indices, whatever happened.
                await asyncio.to_thread(elasticsearch, "start")
    finally:
        # And left running for everyone else (a no-op when it already runs).
        elasticsearch("start")


async def _run(
    stack: SearchStack, outage: Outage, elasticsearch_url: str, test_started: float
) -> None:
    stream = Stream(stack, tag=secrets.token_hex(3), outage=outage)
    rng = random.Random(11)
    mine: dict[str, set[str]] = {library: set() for library in LIBRARIES}
    for _ in range(ANCHORS):
        stream.anchors.append(await stream.create("institutions", rng, mine))

    done = asyncio.Event()
    watcher = asyncio.create_task(watch_indexer(stream, done))
    outage_task = asyncio.create_task(run_outage(stream))
    started = time.monotonic()
    steps = [(WRITES - ANCHORS) // WRITERS] * WRITERS
    steps[0] += (WRITES - ANCHORS) - sum(steps)
    try:
        await asyncio.gather(
            *(stream.writer(n, random.Random(rng.random())) for n in steps),
        )
        writes_done = time.monotonic()
        await outage_task  # the stream may outrun the outage: wait for ES to be back
    finally:
        done.set()
        outage_task.cancel()
        await asyncio.gather(watcher, outage_task, return_exceptions=True)
    assert stream.writes == WRITES
    assert outage.healthy is not None and outage.stopped is not None
    assert outage.stop_called is not None and outage.start_called is not None
    # The stream went on while the index was down.
    assert outage.writes_while_down > 0, "no write happened while Elasticsearch was down"

    catch_up = await stack.wait_caught_up(within=CATCH_UP_SECONDS)
    caught_up_at = time.monotonic()

    statuses = stack.indexer.statuses()
    # The indexer noticed: the feeds written to while the index was down failed, said why,
    # stored the error on their cursor row, and have recovered since.
    assert outage.feeds_failing == set(LIBRARIES), f"failing while ES was down: {statuses}"
    assert set(outage.errors_seen) == set(LIBRARIES), outage.errors_seen
    assert set(outage.errors_stored) == set(LIBRARIES), outage.errors_stored
    for feed in outage.feeds_failing:
        assert statuses[feed].failures_total > 0
        assert statuses[feed].failures == 0 and statuses[feed].last_error is None, statuses[feed]
    cursors = await stack.indexer.store.cursors()
    assert all(row.last_error is None for row in cursors.values()), cursors

    # What the services hold is what we wrote.
    expected = {library: await service_records(stack, library) for library in LIBRARIES}
    for library in LIBRARIES:
        assert expected[library] == stream.live[library], f"{library}: service state differs"

    async with httpx.AsyncClient(base_url=elasticsearch_url, timeout=30) as es:
        refreshed = await es.post(f"/{stack.index_prefix}_*/_refresh")
        assert refreshed.status_code == 200, refreshed.text
        counts: dict[str, int] = {}
        for library in LIBRARIES:
            documents = await index_documents(es, stack.alias(library))
            assert len({d["_index"] for d in documents}) == 1, "one concrete index per alias"
            live = [d for d in documents if not d["deleted"]]
            ids = Counter(d["id"] for d in live)
            doubled = [i for i, n in ids.items() if n > 1]
            assert not doubled, f"{library}: indexed more than once: {doubled[:10]}"
            assert all(d["_id"] == d["id"] for d in live)
            missing = set(expected[library]) - set(ids)
            assert not missing, f"{library}: {len(missing)} live records not indexed"
            resurrected = set(ids) & stream.deleted[library]
            assert not resurrected, f"{library}: deleted records searchable: {resurrected}"
            assert set(ids) == set(expected[library]), f"{library}: unexpected documents"
            stale = {
                d["id"]: (d["version"], expected[library][d["id"]])
                for d in live
                if d["version"] != expected[library][d["id"]]
            }
            assert not stale, f"{library}: stale versions (indexed, latest): {stale}"
            counts[library] = len(live)

    # And through the public API: the list counts are the live counts, with latest versions.
    for library in LIBRARIES:
        listed = await stack.gateway.get(
            f"/api/v1/{library}", params={"page_size": 100}, headers=stack.admin
        )
        assert listed.status_code == 200, listed.text
        assert listed.json()["meta"]["count"] == len(expected[library]), library
        for hit in listed.json()["results"]:
            assert hit["version"] == expected[library][hit["id"]], hit["id"]

    down = outage.healthy - outage.stop_called
    print(
        f"\noutage: {WRITES} writes ({dict(stream.ops)}) by {WRITERS} writers in "
        f"{writes_done - started:.1f}s ({WRITES / (writes_done - started):.0f} writes/s); "
        f"ES stop called after {outage.writes_at_stop} writes, stopped in "
        f"{outage.stopped - outage.stop_called:.1f}s, kept down {DOWN_SECONDS:.0f}s, start took "
        f"{outage.healthy - outage.start_called:.1f}s: index unavailable {down:.1f}s, "
        f"{outage.writes_while_down} writes meanwhile (all succeeded)"
    )
    print(
        f"  caught up {caught_up_at - outage.healthy:.1f}s after ES was healthy "
        f"({catch_up:.1f}s after the last write had been answered and ES was back); "
        f"failing feeds {sorted(outage.feeds_failing)}; {_feeds_summary(statuses)}; "
        f"errors recorded: {sorted(set(outage.errors_stored.values()))}"
    )
    print(
        f"  index: {counts} live documents, each once at its latest version; "
        f"{ {k: len(v) for k, v in stream.deleted.items()} } deleted records absent; "
        f"test took {time.monotonic() - test_started:.0f}s"
    )


def _change(seq: int, entity: str, document: dict[str, Any]) -> ChangeOut:
    return ChangeOut(
        seq=seq,
        entity=entity,
        record_id=document["id"],
        op="upsert",
        version=document["version"],
        document=document,
        occurred_at=datetime.now(UTC),
    )


async def test_a_rename_whose_fan_out_the_outage_cut_short_fans_out_on_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index goes down after a batch wrote a renamed institution but before the experts
    showing its name were re-indexed. The indexer retries the batch; the stored name already
    equals the new one, yet the retry must still reach the experts."""
    search = make_search("elasticsearch", tmp_path)
    try:
        await search.ensure_ready()
        sink, backend = search.sink, search.backend
        institution = {"id": "ins_outage1", "name": "中国科学院研究生院", "version": 1}
        await sink.apply("institutions", [_change(1, "institution", institution)])
        expert = {"id": "exp_outage1", "name": "张明远", "version": 1}
        expert["institution_ids"] = [institution["id"]]
        await sink.apply("experts", [_change(1, "expert", expert)])
        shown = await backend.sources("experts", [expert["id"]])
        assert shown[expert["id"]]["institution_names"] == ["中国科学院研究生院"]

        renamed = {**institution, "name": "中国科学院大学", "version": 2}
        referencing = backend.referencing
        calls = 0

        async def down_once(library: str, field_name: str, value: str) -> list[str]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise IndexUnavailable("Elasticsearch is unreachable (test)")
            return await referencing(library, field_name, value)

        monkeypatch.setattr(backend, "referencing", down_once)
        with pytest.raises(IndexUnavailable):
            await sink.apply("institutions", [_change(2, "institution", renamed)])
        stored = await backend.sources("institutions", [institution["id"]])
        assert stored[institution["id"]]["name"] == "中国科学院大学"  # written before the fall

        await sink.apply("institutions", [_change(2, "institution", renamed)])  # the retry
        shown = await backend.sources("experts", [expert["id"]])
        assert shown[expert["id"]]["institution_names"] == ["中国科学院大学"]
    finally:
        await drop_search(search)
