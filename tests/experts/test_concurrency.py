"""Concurrent writers with the same ETag: exactly one wins and only its change is published."""

from __future__ import annotations

import asyncio

import httpx

from tests.actors import ADMIN
from tests.experts.helpers import create
from tests.experts.helpers import read
from tests.helpers import changes_after
from tests.helpers import feed_head


async def test_concurrent_patches_with_same_etag_exactly_one_wins(
    client: httpx.AsyncClient,
) -> None:
    record = await create(client)
    head = await feed_head(client)
    titles = [f"职称{i}" for i in range(8)]

    async def patch(title: str) -> httpx.Response:
        return await client.patch(
            f"/experts/{record['id']}", json={"title": title}, headers={**ADMIN, "If-Match": '"v1"'}
        )

    responses = await asyncio.gather(*(patch(t) for t in titles))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (len(titles) - 1), statuses
    winner = next(r for r in responses if r.status_code == 200).json()["title"]
    stored = (await read(client, record["id"])).json()
    assert stored["title"] == winner and stored["version"] == 2
    feed = await changes_after(client, head)
    assert [(c["version"], c["document"]["title"]) for c in feed] == [(2, winner)]
