"""Reading the platform back after a fault: the services, their change feeds and the index.

A write is "fully done" when the service holds the record, its change feed's last entry for
the record carries the same version, and the index holds it once at that version; "not at
all" when none of the three has it. These helpers read each of the three and compare them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

import httpx

from services.gateway.indexer.feeds import read_feed
from services.kernel.changefeed import ChangeOut
from services.kernel.http import ServiceClient

PAGE = 100
FEED_PAGE = 1000


async def service_records(client: ServiceClient, path: str) -> dict[str, dict[str, Any]]:
    """Every live record a service lists under `path` (e.g. `/outcomes`): id → summary."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": PAGE}
        if cursor:
            params["cursor"] = cursor
        response = await client.request("GET", path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        found.update({record["id"]: record for record in body["results"]})
        cursor = body["meta"]["next_cursor"]
        if not cursor:
            return found


async def feed_changes(client: ServiceClient) -> list[ChangeOut]:
    """A service's whole change feed, in order."""
    changes: list[ChangeOut] = []
    after = 0
    while True:
        page = await read_feed(client, after=after, limit=FEED_PAGE)
        changes.extend(page.changes)
        if not page.changes:
            return changes
        after = page.next_after


def feed_problems(records: dict[str, dict[str, Any]], changes: list[ChangeOut]) -> list[str]:
    """What makes the feed disagree with the records: a live record without a feed entry at
    its version, or a record the feed says exists that the service does not hold."""
    last: dict[str, ChangeOut] = {}
    for change in changes:
        last[change.record_id] = change
    problems = []
    for record_id, record in records.items():
        change = last.get(record_id)
        if change is None or change.op != "upsert" or change.version != record["version"]:
            problems.append(f"{record_id} v{record['version']}: feed says {change}")
    for record_id, change in last.items():
        if record_id not in records and change.op != "delete":
            problems.append(f"{record_id}: in the feed (v{change.version}) but not stored")
    seqs = [change.seq for change in changes]
    if len(seqs) != len(set(seqs)) or seqs != sorted(seqs):
        problems.append("feed sequence numbers repeat or go backwards")
    return problems


async def gateway_listing(
    gateway: httpx.AsyncClient, library: str, headers: dict[str, str]
) -> list[tuple[str, int]]:
    """Every hit of a library's public list (answered from the index): (id, version)."""
    hits: list[tuple[str, int]] = []
    cursor = "*"
    while cursor:
        response = await gateway.get(
            f"/api/v1/{library}",
            params={"page_size": PAGE, "cursor": cursor},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        hits.extend((hit["id"], hit["version"]) for hit in body["results"])
        cursor = body["meta"]["next_cursor"]
    return hits


def listing_problems(hits: list[tuple[str, int]], expected: dict[str, int]) -> list[str]:
    """Duplicates, missing, unexpected or stale hits against the expected id → version."""
    counts = Counter(record_id for record_id, _ in hits)
    problems = [f"{record_id} listed {n} times" for record_id, n in counts.items() if n > 1]
    listed = dict(hits)
    problems += [f"{i} missing from the index" for i in sorted(set(expected) - set(listed))]
    problems += [f"{i} indexed but not stored" for i in sorted(set(listed) - set(expected))]
    problems += [
        f"{i} indexed at v{listed[i]}, stored at v{v}"
        for i, v in sorted(expected.items())
        if i in listed and listed[i] != v
    ]
    return problems


async def wait_until_empty(
    problems: Callable[[], Awaitable[list[str]]], within: float, what: str
) -> float:
    """Polls `problems` until it returns none; the seconds that took, or fails with them."""
    started = time.monotonic()
    while True:
        found = await problems()
        if not found:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"{what} after {within:.0f}s: {len(found)} problems: {found[:10]}")
        await asyncio.sleep(0.5)


def assert_problem_json(response: httpx.Response, status: int) -> None:
    """A clean problem+json answer with `status`, and no stack trace in it."""
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/problem+json"), response
    body = response.json()
    assert body["status"] == status and body.get("title"), body
    assert "Traceback" not in response.text and 'File "' not in response.text, response.text
