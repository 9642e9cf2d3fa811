"""Races on PostgreSQL: every invariant a write checks by reading holds under concurrent writers.

Each race sends its requests at the same moment through the gateway to the real services on
PostgreSQL (READ COMMITTED, where a check that reads without a lock can be overtaken), for
`TRIALS` trials in each launch order, and reads back what was stored. A violation is a state
the rule forbids (a loop, a live child of a deleted parent, two records for one key, a loop of
merges), or two successes where one must fail. The `integrity` row of the reliability summary
counts the races tried and the violations found: both orders, every invariant, 0 violations.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.reliability._fuzz_platform import backend
from tests.reliability._fuzz_platform import gateway
from tests.reliability._fuzz_platform import index_now
from tests.reliability._fuzz_platform import keys
from tests.reliability._fuzz_platform import make_key
from tests.reliability._fuzz_platform import platform
from tests.reliability._fuzz_platform import platform_clients
from tests.reliability._fuzz_platform import search
from tests.reliability.summary import ReliabilityReport

__all__ = ["backend", "gateway", "index_now", "keys", "make_key", "platform"]
__all__ += ["platform_clients", "search"]

pytestmark = [pytest.mark.reliability("integrity"), pytest.mark.postgres]

TRIALS = 20  # per launch order
INSTITUTIONS = "/api/v1/institutions"

Race = Callable[[bool], Awaitable[bool]]  # (reversed launch order) -> violated?


async def _run(reliability: ReliabilityReport, race: Race) -> None:
    """`TRIALS` trials in each order; the figures go to the summary; fails on any violation."""
    violations = 0
    for reverse in (False, True):
        for _ in range(TRIALS):
            violations += await race(reverse)
    reliability.cases("integrity", 2 * TRIALS, violations)
    assert violations == 0, f"{violations} of {2 * TRIALS} trials broke the invariant"


async def _together(*calls: Awaitable[httpx.Response], reverse: bool) -> list[httpx.Response]:
    """Start the calls at the same moment (in the given order); answers in call order."""
    tasks = [asyncio.ensure_future(call) for call in (reversed(calls) if reverse else calls)]
    answers = await asyncio.gather(*tasks)
    return list(reversed(answers)) if reverse else list(answers)


def _unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


async def _institution(gateway: httpx.AsyncClient, admin: dict[str, str], **fields: Any) -> Any:
    body = {"name": _unique("竞态研究院"), **fields}
    response = await gateway.post(INSTITUTIONS, json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


async def _read(gateway: httpx.AsyncClient, record_id: str) -> httpx.Response:
    return await gateway.get(f"{INSTITUTIONS}/{record_id}")


def _patch(
    gateway: httpx.AsyncClient, admin: dict[str, str], record: dict, changes: dict
) -> Awaitable[httpx.Response]:
    return gateway.patch(
        f"{INSTITUTIONS}/{record['id']}",
        json=changes,
        headers={**admin, "If-Match": f'"v{record["version"]}"'},
    )


def _delete(
    gateway: httpx.AsyncClient, admin: dict[str, str], record: dict
) -> Awaitable[httpx.Response]:
    return gateway.delete(
        f"{INSTITUTIONS}/{record['id']}",
        headers={**admin, "If-Match": f'"v{record["version"]}"'},
    )


# Two institutions pointing at each other: a loop in the hierarchy or in the merges.
LINKS = {
    "parent_id": lambda other: {"parent_id": other["id"]},
    "merged_into": lambda other: {"status": "merged", "merged_into": other["id"]},
}


@pytest.mark.parametrize("link", LINKS)
async def test_two_institutions_never_point_at_each_other(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    reliability: ReliabilityReport,
    link: str,
) -> None:
    admin = keys["admin"]

    async def race(reverse: bool) -> bool:
        a, b = await _institution(gateway, admin), await _institution(gateway, admin)
        answers = await _together(
            _patch(gateway, admin, a, LINKS[link](b)),
            _patch(gateway, admin, b, LINKS[link](a)),
            reverse=reverse,
        )
        assert all(r.status_code in (200, 422) for r in answers), [r.text for r in answers]
        stored_a = (await _read(gateway, a["id"])).json()
        stored_b = (await _read(gateway, b["id"])).json()
        loop = stored_a[link] == b["id"] and stored_b[link] == a["id"]
        return loop or sum(r.status_code == 200 for r in answers) != 1

    await _run(reliability, race)


async def test_no_child_is_attached_to_a_parent_deleted_at_the_same_moment(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], reliability: ReliabilityReport
) -> None:
    admin = keys["admin"]

    async def race(reverse: bool) -> bool:
        parent, child = await _institution(gateway, admin), await _institution(gateway, admin)
        attach, delete = await _together(
            _patch(gateway, admin, child, {"parent_id": parent["id"]}),
            _delete(gateway, admin, parent),
            reverse=reverse,
        )
        assert attach.status_code in (200, 422) and delete.status_code in (204, 409)
        parent_gone = (await _read(gateway, parent["id"])).status_code == 410
        points_at_it = (await _read(gateway, child["id"])).json()["parent_id"] == parent["id"]
        return (parent_gone and points_at_it) or (attach.status_code == 200) == (
            delete.status_code == 204
        )

    await _run(reliability, race)


async def test_no_child_is_created_under_a_parent_deleted_at_the_same_moment(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], reliability: ReliabilityReport
) -> None:
    admin = keys["admin"]

    async def race(reverse: bool) -> bool:
        parent = await _institution(gateway, admin)
        create, delete = await _together(
            gateway.post(
                INSTITUTIONS,
                json={"name": _unique("子机构"), "parent_id": parent["id"]},
                headers=admin,
            ),
            _delete(gateway, admin, parent),
            reverse=reverse,
        )
        assert create.status_code in (201, 422) and delete.status_code in (204, 409)
        return (create.status_code == 201) == (delete.status_code == 204)

    await _run(reliability, race)


async def test_identical_upserts_of_a_new_key_make_one_record_and_answer_as_reruns(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], reliability: ReliabilityReport
) -> None:
    admin = keys["admin"]

    async def race(reverse: bool) -> bool:
        url = f"{INSTITUTIONS}/sources/race/{_unique('key')}"
        body = {"name": _unique("同键研究院")}
        answers = await _together(
            *(gateway.put(url, json=body, headers=admin) for _ in range(4)), reverse=reverse
        )
        statuses = sorted(r.status_code for r in answers)
        ids = {r.json().get("id") for r in answers}
        return statuses != [200, 200, 200, 201] or len(ids) != 1

    await _run(reliability, race)


async def test_posts_with_one_idempotency_key_make_one_record(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], reliability: ReliabilityReport
) -> None:
    editor = keys["editor"]

    async def race(reverse: bool) -> bool:
        headers = {**editor, "Idempotency-Key": str(uuid.uuid4())}
        body = {"name": _unique("幂等竞态研究院")}
        answers = await _together(
            *(gateway.post(INSTITUTIONS, json=body, headers=headers) for _ in range(4)),
            reverse=reverse,
        )
        replayed = sum(r.headers.get("idempotent-replayed") == "true" for r in answers)
        ids = {r.json().get("id") for r in answers}
        return {r.status_code for r in answers} != {201} or len(ids) != 1 or replayed != 3

    await _run(reliability, race)


async def test_one_event_per_series_number_under_concurrent_creates(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    reliability: ReliabilityReport,
    platform_clients,  # type: ignore[no-untyped-def]
) -> None:
    """智汇双月谈 第 N 期 is one event: of two events created with the same series number at the
    same moment, one is created and the other is a 409 that wrote nothing."""
    admin = keys["admin"]
    events = platform_clients["events"]

    async def race(reverse: bool) -> bool:
        series = _unique("智汇双月谈")
        bodies = [
            {"title": f"{series} 第1期（{n}）", "starts_on": "2024-01-19", "series": series,
             "series_number": 1, "visibility": "public"}
            for n in range(2)
        ]  # fmt: skip
        before = await _feed_head(events)
        answers = await _together(
            *(gateway.post("/api/v1/events", json=b, headers=admin) for b in bodies),
            reverse=reverse,
        )
        statuses = sorted(r.status_code for r in answers)
        # One change-feed entry (every write appends one): the refused create left nothing.
        written = await _feed_head(events) - before
        return statuses != [201, 409] or written != 1

    await _run(reliability, race)


async def _feed_head(client: Any) -> int:
    page = (await client.request("GET", "/internal/changes", params={"limit": 1})).json()
    return int(page["head"])
