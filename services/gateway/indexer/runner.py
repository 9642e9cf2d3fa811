"""The indexer: pulls every service's change feed into the search index, losing nothing.

For each feed (one per domain service) one asyncio task loops: hold the feed's lease, read a
page of changes after the durable cursor (`GET /internal/changes`), hand it to the sink, then
move the cursor in its own transaction. The sink applies changes with each change's `version`
as an external version, so re-delivery (after a crash between apply and cursor move, or a
lease handover) and out-of-order delivery are harmless. When the sink or the service fails,
the cursor stays where it is and the task retries with capped exponential backoff and jitter,
logging once per failure streak. Feeds are independent: one service being down, or one sink
library failing, does not hold up the others.

Only one indexer pulls a feed at a time, even with several gateways: leases in the gateway's
database (see feeds.py), renewed every `lease_ttl / 3`. An indexer that loses a lease stops
pulling that feed and tries to take it again every `lease_ttl / 3`.

The feed guarantees seq order with no gaps that fill later (services/kernel/changefeed.py),
so the cursor is simply the last applied seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Protocol

from pydantic import Field
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsConfigDict

from services.gateway.indexer.feeds import FeedUnavailable
from services.gateway.indexer.feeds import IndexerStore
from services.gateway.indexer.feeds import quiet_feed_retry_logs
from services.gateway.indexer.feeds import read_feed
from services.kernel.changefeed import MAX_FEED_PAGE
from services.kernel.changefeed import ChangeOut
from services.kernel.db import Database
from services.kernel.errors import ServiceUnavailable
from services.kernel.http import ServiceClient
from services.kernel.library import declared_libraries

logger = logging.getLogger("zhihui.indexer")

DEFAULT_PORT = 8010


class IndexerSettings(BaseSettings):
    """Settings of the indexer (`ZHIHUI_INDEXER_*`), in the gateway or as `zhihui indexer`."""

    model_config = SettingsConfigDict(env_prefix="ZHIHUI_INDEXER_", extra="ignore")

    # Where `zhihui indexer` serves /healthz, /readyz and /metrics.
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    # Which feeds to pull (service names; from the environment as a JSON list); all four.
    # Every declared library's change feed, in start order.
    feeds: list[str] = Field(default_factory=lambda: [f.name for f in declared_libraries()])
    # Seconds between polls of a feed that had nothing new: bounds index freshness.
    poll_interval: float = Field(0.2, gt=0)
    # Changes per page and per sink call.
    batch_size: int = Field(500, ge=1, le=MAX_FEED_PAGE)
    # Seconds a lease lasts without renewal; renewed every third of it.
    lease_ttl: float = Field(15.0, gt=0)
    # Retry delays after a failure: doubling from the first, capped, with jitter.
    backoff_initial: float = Field(0.2, gt=0)
    backoff_max: float = Field(5.0, gt=0)
    # A sink call taking longer counts as failed (the batch is retried, idempotently).
    apply_timeout: float = Field(60.0, gt=0)
    # Seconds `zhihui indexer` waits for a service's feed before counting a failure.
    service_timeout_seconds: float = Field(10.0, gt=0)


class IndexSink(Protocol):
    """Where changes go: the search index (Elasticsearch or embedded FTS5, later).

    `apply` applies one batch of one feed, in feed order, idempotently: each change's
    `version` is an external version, so a change already applied, or older than what the
    index holds for that record, changes nothing (re-delivery and out-of-order delivery never
    move a document backwards; a delete's tombstone keeps its version). Returning means the
    whole batch is durable in the index; raising means it was not applied, and the cursor
    does not move: the same batch (or a larger one starting with it) comes again.
    """

    async def apply(self, feed: str, changes: Sequence[ChangeOut]) -> None: ...


def new_holder_id() -> str:
    """`hostname:pid:random`, unique per Indexer instance."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


def backoff_delay(failures: int, initial: float, cap: float) -> float:
    """Seconds to wait after the n-th consecutive failure: doubling, capped, jittered."""
    ceiling = min(cap, initial * 2 ** min(failures - 1, 30))
    return random.uniform(ceiling / 2, ceiling)


def describe(exc: BaseException) -> str:
    """A one-line description for logs, status and the cursor row."""
    if isinstance(exc, ServiceUnavailable):
        return exc.detail
    if isinstance(exc, TimeoutError):
        return "TimeoutError: the sink did not answer in time"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class FeedStatus:
    """What one indexer knows about one feed, for /readyz and /metrics."""

    feed: str
    # This indexer holds the feed's lease and pulls it.
    leased: bool = False
    # Who holds the lease, as last seen (this indexer's id when leased).
    holder: str | None = None
    # The feed was read at least once since start.
    polled: bool = False
    cursor: int | None = None
    head: int | None = None
    # Wall-clock times (time.time()): the last cycle that succeeded (an empty poll or an
    # applied and committed batch), and the last batch applied.
    last_success_at: float | None = None
    last_applied_at: float | None = None
    last_error: str | None = None
    # Consecutive failures in the current streak (0 when healthy).
    failures: int = 0
    applied_total: int = 0
    batches_total: int = 0
    failures_total: int = 0

    @property
    def lag(self) -> int | None:
        """Changes the feed holds that the index has not applied (as of the last poll)."""
        if self.cursor is None or self.head is None:
            return None
        return max(self.head - self.cursor, 0)

    def seconds_since_success(self, now: float | None = None) -> float | None:
        if self.last_success_at is None:
            return None
        return max((now or time.time()) - self.last_success_at, 0.0)

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        since = self.seconds_since_success(now)
        return {
            "leased": self.leased,
            "holder": self.holder,
            "polled": self.polled,
            "cursor": self.cursor,
            "head": self.head,
            "lag": self.lag,
            "seconds_since_success": None if since is None else round(since, 3),
            "last_error": self.last_error,
            "applied_total": self.applied_total,
        }


class FeedIndexer:
    """Pulls one feed into the sink while holding its lease (see the module docstring)."""

    def __init__(
        self,
        feed: str,
        client: ServiceClient,
        sink: IndexSink,
        store: IndexerStore,
        settings: IndexerSettings,
        holder: str,
    ) -> None:
        self.feed = feed
        self.client = client
        self.sink = sink
        self.store = store
        self.settings = settings
        self.holder = holder
        self.status = FeedStatus(feed=feed)
        self._cursor: int | None = None
        self._held = False
        self._renew_at = 0.0  # monotonic
        self._valid_until = 0.0  # monotonic
        self._streak_started = 0.0

    @property
    def renew_interval(self) -> float:
        return self.settings.lease_ttl / 3

    async def run(self, stopping: asyncio.Event) -> None:
        """Cycle until `stopping` is set; a cycle in progress finishes first."""
        while not stopping.is_set():
            delay = await self.cycle()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)

    async def cycle(self) -> float:
        """One step: renew the lease if due, pull and apply one page; seconds to wait next."""
        try:
            if not await self._hold_lease():
                return self.renew_interval
            assert self._cursor is not None
            page = await read_feed(self.client, after=self._cursor, limit=self.settings.batch_size)
            self.status.head = page.head
            self.status.polled = True
            if page.changes:
                await asyncio.wait_for(
                    self.sink.apply(self.feed, page.changes), self.settings.apply_timeout
                )
                moved = await self.store.advance(
                    self.feed, self.holder, old=self._cursor, new=page.next_after
                )
                if not moved:
                    # Someone else moved the cursor, or the lease went: re-read both at once.
                    logger.info(
                        "indexer %s: cursor moved elsewhere (was %d); re-reading",
                        self.feed,
                        self._cursor,
                    )
                    self._renew_at = 0.0
                    return 0.0
                self._cursor = page.next_after
                self.status.cursor = page.next_after
                self.status.applied_total += len(page.changes)
                self.status.batches_total += 1
                self.status.last_applied_at = time.time()
            await self._succeeded()
            return 0.0 if len(page.changes) >= self.settings.batch_size else self.poll_interval
        except Exception as exc:
            return await self._failed(exc)

    @property
    def poll_interval(self) -> float:
        return self.settings.poll_interval

    async def _hold_lease(self) -> bool:
        now = time.monotonic()
        if self._held and now < self._renew_at:
            return True
        was_held = self._held
        if now >= self._valid_until:  # it may have run out: take it afresh, not as a renewal
            self._held = self.status.leased = False
        state = await self.store.acquire(self.feed, self.holder, self.settings.lease_ttl)
        self.status.holder = state.holder
        if not state.held:
            if was_held:
                self._lose(state.holder)
            return False
        assert state.position is not None
        if not self._held:
            logger.info(
                "indexer %s: took the lease at cursor %d (holder %s)",
                self.feed,
                state.position,
                self.holder,
            )
        elif state.position != self._cursor:
            logger.info(
                "indexer %s: cursor is %d in the database (was %d here); going on from there",
                self.feed,
                state.position,
                self._cursor,
            )
        self._held = True
        self._renew_at = now + self.renew_interval
        self._valid_until = now + self.settings.lease_ttl
        self._cursor = state.position
        self.status.leased = True
        self.status.cursor = state.position
        return True

    def _lose(self, new_holder: str | None) -> None:
        logger.info(
            "indexer %s: lease lost (now held by %s); standing by", self.feed, new_holder or "?"
        )
        self._held = False
        self._cursor = None
        self.status.leased = False
        self.status.head = None

    async def _succeeded(self) -> None:
        self.status.last_success_at = time.time()
        if not self.status.failures:
            return
        logger.info(
            "indexer %s: recovered after %d failed attempts in %.1f s",
            self.feed,
            self.status.failures,
            time.monotonic() - self._streak_started,
        )
        self.status.failures = 0
        self.status.last_error = None
        await self._store_error(None)

    async def _failed(self, exc: Exception) -> float:
        status = self.status
        status.failures += 1
        status.failures_total += 1
        message = describe(exc)
        if status.failures == 1:
            self._streak_started = time.monotonic()
            expected = isinstance(exc, ServiceUnavailable | FeedUnavailable | TimeoutError)
            logger.warning(
                "indexer %s: failing (cursor stays at %s; retrying with backoff, logged once "
                "until it recovers): %s",
                self.feed,
                status.cursor,
                message,
                exc_info=None if expected else exc,
            )
        else:
            logger.debug("indexer %s: still failing (%d): %s", self.feed, status.failures, message)
        if self._held and time.monotonic() >= self._valid_until:
            self._lose(None)  # could not renew in time: another indexer may take it now
        if message != status.last_error:
            status.last_error = message
            await self._store_error(message)
        return backoff_delay(
            status.failures, self.settings.backoff_initial, self.settings.backoff_max
        )

    async def _store_error(self, message: str | None) -> None:
        if not self._held:
            return
        try:
            await self.store.record_error(self.feed, self.holder, message)
        except Exception as exc:  # the database may be what is failing
            logger.debug("indexer %s: could not record the error: %s", self.feed, describe(exc))

    async def release(self) -> None:
        if not self._held:
            return
        self._held = False
        self.status.leased = False
        try:
            await self.store.release(self.feed, self.holder)
        except Exception as exc:
            logger.warning("indexer %s: could not release the lease: %s", self.feed, describe(exc))


class Indexer:
    """All feeds, each in its own task; `start()` / `stop()`; per-feed status."""

    def __init__(
        self,
        database: Database,
        clients: Mapping[str, ServiceClient],
        sink: IndexSink,
        settings: IndexerSettings | None = None,
        *,
        holder: str | None = None,
    ) -> None:
        self.settings = settings or IndexerSettings()
        self.database = database
        self.sink = sink
        self.holder = holder or new_holder_id()
        self.store = IndexerStore(database)
        missing = [feed for feed in self.settings.feeds if feed not in clients]
        if missing:
            raise ValueError(f"no service client for feed(s): {', '.join(missing)}")
        self.feeds = {
            feed: FeedIndexer(feed, clients[feed], sink, self.store, self.settings, self.holder)
            for feed in self.settings.feeds
        }
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks.values())

    async def start(self) -> None:
        """Start one task per feed; failures (even of the database) are retried inside."""
        if self.running:
            return
        self._stopping = asyncio.Event()
        quiet_feed_retry_logs()
        for feed, feed_indexer in self.feeds.items():
            task = asyncio.create_task(feed_indexer.run(self._stopping), name=f"indexer:{feed}")
            task.add_done_callback(self._task_done)
            self._tasks[feed] = task
        logger.info("indexer started for %s (holder %s)", ", ".join(self.feeds), self.holder)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("indexer task %s died", task.get_name(), exc_info=task.exception())

    async def stop(self, *, release_leases: bool = True, grace: float = 5.0) -> None:
        """Stop: cycles in progress finish (up to `grace` seconds), then leases are released.

        `release_leases=False` leaves them to expire, as a crashed process would.
        """
        self._stopping.set()
        tasks = list(self._tasks.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if release_leases:
            await asyncio.gather(*(f.release() for f in self.feeds.values()))
        else:
            for feed_indexer in self.feeds.values():
                feed_indexer._held = False
                feed_indexer.status.leased = False
        logger.info("indexer stopped (holder %s)", self.holder)

    async def __aenter__(self) -> Indexer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def statuses(self) -> dict[str, FeedStatus]:
        return {feed: f.status for feed, f in self.feeds.items()}

    def waiting_feeds(self) -> list[str]:
        """Feeds neither polled since start nor pulled by another indexer (not ready yet)."""
        return [
            feed
            for feed, s in self.statuses().items()
            if not (s.polled or (not s.leased and s.holder not in (None, self.holder)))
        ]

    def ready(self) -> bool:
        return not self.waiting_feeds()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        now = time.time()
        return {feed: status.as_dict(now) for feed, status in self.statuses().items()}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.3f}"


_METRICS: tuple[tuple[str, str, str], ...] = (
    ("zhihui_indexer_leased", "gauge", "1 when this process holds the feed's lease and pulls it."),
    ("zhihui_indexer_lag", "gauge", "Changes in the feed not yet applied (head - cursor)."),
    ("zhihui_indexer_cursor", "gauge", "Last change seq applied to the index."),
    ("zhihui_indexer_head", "gauge", "Highest committed seq in the feed at the last poll."),
    (
        "zhihui_indexer_last_success_seconds",
        "gauge",
        "Seconds since the last successful cycle (a poll with nothing new, or a batch applied).",
    ),
    ("zhihui_indexer_failing", "gauge", "1 while the feed is in a failure streak."),
    ("zhihui_indexer_changes_applied_total", "counter", "Changes applied to the index."),
    ("zhihui_indexer_failures_total", "counter", "Failed cycles (feed, sink or database)."),
)


def render_prometheus(statuses: Iterable[FeedStatus], now: float | None = None) -> list[str]:
    """Prometheus text-format lines for the indexer's per-feed metrics.

    Progress gauges (lag, cursor, head, last success) come only from the lease holder, so
    summing or taking the max across gateways is meaningful.
    """
    now = now or time.time()
    samples: dict[str, list[str]] = {name: [] for name, _kind, _help in _METRICS}
    for status in statuses:
        labels = f'{{feed="{_label(status.feed)}"}}'
        values: dict[str, float | None] = {
            "zhihui_indexer_leased": int(status.leased),
            "zhihui_indexer_failing": int(status.failures > 0),
            "zhihui_indexer_changes_applied_total": status.applied_total,
            "zhihui_indexer_failures_total": status.failures_total,
        }
        if status.leased:
            values["zhihui_indexer_lag"] = status.lag
            values["zhihui_indexer_cursor"] = status.cursor
            values["zhihui_indexer_head"] = status.head
            values["zhihui_indexer_last_success_seconds"] = status.seconds_since_success(now)
        for name, value in values.items():
            if value is not None:
                samples[name].append(f"{name}{labels} {_number(value)}")
    lines: list[str] = []
    for name, kind, help_text in _METRICS:
        if samples[name]:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples[name]]
    return lines
