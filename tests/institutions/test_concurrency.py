"""Concurrency on real databases: lost updates are refused, the change feed never skips."""

from __future__ import annotations

import asyncio

import httpx

from tests.actors import ADMIN
from tests.actors import SERVICE
from tests.helpers import feed_head
from tests.institutions.helpers import create
from tests.institutions.helpers import read
from tests.institutions.helpers import unique_name

WRITERS = 16
WRITES_PER_WRITER = 12


async def test_concurrent_patches_with_same_etag_exactly_one_wins(
    client: httpx.AsyncClient,
) -> None:
    record = await create(client)
    head = await feed_head(client)
    cities = [f"城市{i}" for i in range(8)]

    async def patch(city: str) -> httpx.Response:
        return await client.patch(
            f"/institutions/{record['id']}",
            json={"city": city},
            headers={**ADMIN, "If-Match": '"v1"'},
        )

    responses = await asyncio.gather(*(patch(c) for c in cities))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (len(cities) - 1), statuses
    winner = next(r for r in responses if r.status_code == 200).json()["city"]
    stored = (await read(client, record["id"])).json()
    assert stored["city"] == winner and stored["version"] == 2
    feed = (await client.get("/internal/changes", params={"after": head}, headers=SERVICE)).json()[
        "changes"
    ]
    assert [(c["version"], c["document"]["city"]) for c in feed] == [(2, winner)]


async def test_change_feed_reader_sees_every_commit_once_in_order_under_concurrent_writers(
    client: httpx.AsyncClient,
) -> None:
    start = await feed_head(client)
    created: list[str] = []
    writers_done = asyncio.Event()

    async def writer(n: int) -> None:
        for i in range(WRITES_PER_WRITER):
            response = await client.post(
                "/institutions",
                json={"name": unique_name(f"并发写入{n}-{i}-")},
                headers=ADMIN,
            )
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])

    seen_seqs: list[int] = []
    seen_records: list[str] = []

    async def reader() -> None:
        after = start
        while True:
            finished = writers_done.is_set()
            page = (
                await client.get(
                    "/internal/changes", params={"after": after, "limit": 7}, headers=SERVICE
                )
            ).json()
            for change in page["changes"]:
                seen_seqs.append(change["seq"])
                seen_records.append(change["record_id"])
            after = page["next_after"]
            if finished and not page["changes"]:
                return
            await asyncio.sleep(0)

    async def writers() -> None:
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        writers_done.set()

    await asyncio.gather(writers(), reader())
    assert len(created) == WRITERS * WRITES_PER_WRITER
    assert seen_seqs == sorted(set(seen_seqs)), "feed went backwards or repeated a change"
    assert sorted(seen_records) == sorted(created), "a committed change was skipped"
