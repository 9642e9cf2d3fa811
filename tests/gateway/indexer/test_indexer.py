"""The indexer against real service apps and a real gateway database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable

import httpx
import pytest

from services.gateway.indexer.feeds import IndexerStore
from services.gateway.indexer.runner import Indexer
from services.gateway.indexer.runner import backoff_delay
from services.kernel.db import Database
from tests.gateway.indexer.conftest import FEEDS
from tests.gateway.indexer.conftest import Feeds
from tests.gateway.indexer.conftest import RecordingSink
from tests.gateway.indexer.conftest import fast_settings
from tests.gateway.indexer.conftest import feed_changes
from tests.gateway.indexer.conftest import wait_caught_up
from tests.gateway.indexer.conftest import wait_until
from tests.gateway.indexer.writes import write_stream

MakeFeeds = Callable[[], Feeds]


def _key(change) -> tuple[int, str, int, str]:  # type: ignore[no-untyped-def]
    return change.seq, change.record_id, change.version, change.op


async def assert_exactly_once_in_order(sink_seqs: dict[str, list[int]], feeds: Feeds) -> None:
    """Each feed's deliveries are the whole feed, once each, in seq order."""
    for feed in FEEDS:
        expected = [c.seq for c in await feed_changes(feeds.clients[feed])]
        assert sink_seqs[feed] == expected, f"{feed}: delivered != feed"


async def test_every_change_reaches_the_sink_once_in_feed_order(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    make_feeds: MakeFeeds,
    gateway_db: Database,
) -> None:
    feeds = make_feeds()
    sink = RecordingSink()
    indexer = Indexer(gateway_db, feeds.clients, sink, fast_settings())
    await indexer.start()
    try:
        # 300 creates, patches and deletes by three concurrent writers, while it indexes.
        await write_stream(gateway, keys["admin"], "甲", steps=300, writers=3)
        target = await wait_caught_up(indexer, feeds.clients)
    finally:
        await indexer.stop()

    for feed in FEEDS:
        expected = await feed_changes(feeds.clients[feed])
        got = sink.changes(feed)
        assert [_key(c) for c in got] == [_key(c) for c in expected], feed
        pairs = [(c.record_id, c.version) for c in got]
        assert len(pairs) == len(set(pairs)), f"{feed}: a (record, version) arrived twice"
        assert all(0 < len(batch) <= 40 for f, batch in sink.batches if f == feed)
    ops = {c.op for f in ("institutions", "experts") for c in sink.changes(f)}
    assert ops == {"upsert", "delete"}
    assert len(sink.changes("institutions")) + len(sink.changes("experts")) >= 300

    cursors = await IndexerStore(gateway_db).cursors()
    assert {feed: cursors[feed].position for feed in FEEDS} == target
    assert all(cursors[feed].last_error is None for feed in FEEDS)
    statuses = indexer.statuses()
    assert {feed: statuses[feed].lag for feed in FEEDS} == dict.fromkeys(FEEDS, 0)
    assert await IndexerStore(gateway_db).leases() == {}  # released on stop


async def test_a_failing_sink_loses_nothing_and_the_cursor_waits(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    make_feeds: MakeFeeds,
    gateway_db: Database,
) -> None:
    feeds = make_feeds()
    sink = RecordingSink()
    store = IndexerStore(gateway_db)
    indexer = Indexer(gateway_db, feeds.clients, sink, fast_settings())
    await indexer.start()
    try:
        before = await wait_caught_up(indexer, feeds.clients)
        sink.failing = True  # the index goes down
        await write_stream(gateway, keys["admin"], "乙", steps=40)
        busy = ("institutions", "experts")
        await wait_until(
            lambda: all(indexer.statuses()[f].failures >= 3 for f in busy),
            "retries against the failing sink",
        )
        # During the outage: the durable cursor has not moved past anything unapplied.
        rows = await store.cursors()
        for feed in busy:
            assert rows[feed].position == before[feed]
            assert "search index unavailable" in (rows[feed].last_error or "")
            assert rows[feed].last_error_at is not None
            assert max(sink.seqs(feed), default=0) == before[feed]
            status = indexer.statuses()[feed]
            assert status.cursor == before[feed] and status.lag and status.lag > 0
            assert "search index unavailable" in (status.last_error or "")
        sink.failing = False  # the index is back
        await wait_caught_up(indexer, feeds.clients)
    finally:
        await indexer.stop()

    await assert_exactly_once_in_order({f: sink.seqs(f) for f in FEEDS}, feeds)
    rows = await store.cursors()
    assert all(rows[f].last_error is None and rows[f].last_error_at is None for f in FEEDS)
    assert all(s.last_error is None and s.failures == 0 for s in indexer.statuses().values())


async def test_a_lost_acknowledgement_redelivers_the_batch_and_skips_nothing(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    make_feeds: MakeFeeds,
    gateway_db: Database,
) -> None:
    await write_stream(gateway, keys["admin"], "丙", steps=20)
    feeds = make_feeds()
    # The index applies the first two batches but the indexer never hears back.
    sink = RecordingSink(lose_acks=2)
    indexer = Indexer(gateway_db, feeds.clients, sink, fast_settings())
    async with indexer:
        await wait_caught_up(indexer, feeds.clients)
    delivered = {f: sink.seqs(f) for f in FEEDS}
    deduplicated = {f: sorted(set(seqs)) for f, seqs in delivered.items()}
    await assert_exactly_once_in_order(deduplicated, feeds)  # nothing skipped
    lost = len(sink.batches[0][1]) + len(sink.batches[1][1])  # each came again, once
    assert sum(map(len, delivered.values())) == sum(map(len, deduplicated.values())) + lost
    for feed in FEEDS:
        # Each batch starts right after the previous one, or repeats it (unacknowledged).
        batches = [[c.seq for c in batch] for f, batch in sink.batches if f == feed]
        following = dict(itertools.pairwise(deduplicated[feed]))
        for previous, batch in itertools.pairwise(batches):
            assert batch[0] in (following.get(previous[-1]), previous[0])


async def test_a_new_indexer_resumes_from_the_stored_cursor(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    make_feeds: MakeFeeds,
    gateway_db: Database,
) -> None:
    settings = fast_settings()
    first_sink = RecordingSink()
    first = Indexer(gateway_db, make_feeds().clients, first_sink, settings)
    async with first:
        await write_stream(gateway, keys["admin"], "丁", steps=30)
        stopped_at = await wait_caught_up(first, make_feeds().clients)

    await write_stream(gateway, keys["admin"], "戊", steps=30)  # while no indexer runs
    feeds = make_feeds()
    second_sink = RecordingSink()
    second = Indexer(gateway_db, feeds.clients, second_sink, settings)
    assert second.holder != first.holder
    async with second:
        await wait_caught_up(second, feeds.clients)

    for feed in FEEDS:
        whole = [c.seq for c in await feed_changes(feeds.clients[feed])]
        assert first_sink.seqs(feed) == [s for s in whole if s <= stopped_at[feed]]
        assert second_sink.seqs(feed) == [s for s in whole if s > stopped_at[feed]]
    assert second_sink.seqs("institutions") and second_sink.seqs("experts")


async def test_a_batch_in_flight_at_a_crash_is_the_only_one_delivered_again(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    make_feeds: MakeFeeds,
    gateway_db: Database,
) -> None:
    await write_stream(gateway, keys["admin"], "己", steps=60)
    settings = fast_settings(feeds=["institutions"], batch_size=5)
    feeds = make_feeds()
    # The index takes the third batch in, then hangs; the process is stopped meanwhile.
    first_sink = RecordingSink(hang_on_call=3)
    first = Indexer(gateway_db, feeds.clients, first_sink, settings)
    await first.start()
    await wait_until(lambda: first_sink.calls >= 3, "the third batch")
    await first.stop(grace=0.2)
    in_flight = [c.seq for c in first_sink.batches[2][1]]
    position = (await IndexerStore(gateway_db).cursors())["institutions"].position
    assert position == first_sink.batches[1][1][-1].seq < in_flight[0]

    second_sink = RecordingSink()
    second = Indexer(gateway_db, feeds.clients, second_sink, settings)
    async with second:
        await wait_caught_up(second, feeds.clients, ("institutions",))
    whole = [c.seq for c in await feed_changes(feeds.clients["institutions"])]
    assert second_sink.seqs("institutions") == [s for s in whole if s > position]
    again = set(first_sink.seqs("institutions")) & set(second_sink.seqs("institutions"))
    assert again == set(in_flight)


def _holders(*indexers: Indexer) -> dict[str, list[str]]:
    return {feed: [i.holder for i in indexers if i.statuses()[feed].leased] for feed in FEEDS}


async def test_one_active_indexer_per_feed_and_takeover_from_the_cursor(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    make_feeds: MakeFeeds,
    gateway_db: Database,
) -> None:
    ttl = 1.5
    settings = fast_settings(lease_ttl=ttl)
    store = IndexerStore(gateway_db)
    sinks = {name: RecordingSink() for name in ("a", "b", "c")}
    a, b, c = (
        Indexer(gateway_db, make_feeds().clients, sinks[n], settings, holder=f"gw-{n}:1:{n}")
        for n in ("a", "b", "c")
    )
    check_feeds = make_feeds()
    try:
        await asyncio.gather(a.start(), b.start())  # both race for every lease
        await wait_until(
            lambda: all(len(h) == 1 for h in _holders(a, b).values()), "one holder per feed"
        )
        writes = asyncio.create_task(write_stream(gateway, keys["admin"], "庚", steps=40))
        deadline = time.monotonic() + 2 * ttl
        while not writes.done() or time.monotonic() < deadline:
            assert all(len(h) <= 1 for h in _holders(a, b).values()), _holders(a, b)
            await asyncio.sleep(0.01)
        await writes
        leases = await store.leases()
        assert {f: leases[f].holder for f in FEEDS} == {f: h[0] for f, h in _holders(a, b).items()}

        # The holder stops cleanly: the other takes every feed over from the cursor.
        await a.stop()
        await wait_until(lambda: all(b.statuses()[f].leased for f in FEEDS), "b to take over")
        await write_stream(gateway, keys["admin"], "辛", steps=20)
        await wait_caught_up(b, check_feeds.clients)

        # The holder dies without releasing: another waits for the lease to expire.
        await c.start()
        await asyncio.sleep(ttl / 2)
        assert not any(c.statuses()[f].leased for f in FEEDS)
        crashed_at = time.monotonic()
        await b.stop(release_leases=False)
        await write_stream(gateway, keys["admin"], "壬", steps=20)
        await wait_until(lambda: all(c.statuses()[f].leased for f in FEEDS), "c to take over")
        assert time.monotonic() - crashed_at >= ttl / 3  # not before the old lease ran out
        await wait_caught_up(c, check_feeds.clients)
    finally:
        for indexer in (a, b, c):
            await indexer.stop()

    # Between the three of them, every change was applied exactly once, in order.
    combined = {f: sorted(s for sink in sinks.values() for s in sink.seqs(f)) for f in FEEDS}
    await assert_exactly_once_in_order(combined, check_feeds)
    for feed in FEEDS:
        assert len(set(combined[feed])) == len(combined[feed])
    assert sinks["b"].seqs("institutions") and sinks["c"].seqs("institutions")


async def test_a_down_service_holds_up_only_its_own_feed(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    make_feeds: MakeFeeds,
    gateway_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    feeds = make_feeds()
    feeds.transports["experts"].down = True
    sink = RecordingSink()
    store = IndexerStore(gateway_db)
    indexer = Indexer(gateway_db, feeds.clients, sink, fast_settings())
    others = {f: feeds.clients[f] for f in FEEDS if f != "experts"}
    async with indexer:
        await write_stream(gateway, keys["admin"], "癸", steps=40)
        await wait_caught_up(indexer, others, tuple(others))
        await wait_until(lambda: indexer.statuses()["experts"].failures >= 3, "experts retries")
        experts = indexer.statuses()["experts"]
        assert not experts.polled and "experts service is not answering" in (
            experts.last_error or ""
        )
        assert not indexer.ready()
        row = (await store.cursors())["experts"]
        assert row.position == 0 and "experts" in (row.last_error or "")

        feeds.transports["experts"].down = False  # the service is back
        await wait_caught_up(indexer, feeds.clients)
        assert indexer.ready()
        assert indexer.statuses()["experts"].last_error is None
    assert (await store.cursors())["experts"].last_error is None
    await assert_exactly_once_in_order({f: sink.seqs(f) for f in FEEDS}, feeds)
    # One warning for the whole streak (not one per retry), and one line when it recovers.
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len([m for m in lines if m.startswith("indexer experts: failing")]) == 1
    assert len([m for m in lines if m.startswith("indexer experts: recovered after")]) == 1
    assert not [m for m in lines if "/internal/changes failed" in m]


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    for failures, ceiling in ((1, 0.2), (2, 0.4), (3, 0.8), (6, 5.0), (60, 5.0)):
        delays = [backoff_delay(failures, 0.2, 5.0) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered, so retries of many feeds do not align
