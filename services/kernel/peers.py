"""References across services: which IDs a peer does not know, and closing peer clients.

A peer's list endpoint answers `GET /{collection}?ids=a,b,c` with `{"meta", "results": [{"id"}]}`
(the list-by-ids contract of every domain service); IDs missing from the results are unknown or
deleted. A peer that is down, or answers anything but that, is a 503 and nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from collections.abc import Iterable
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI

from services.kernel.http import ServiceClient
from services.kernel.internal_auth import Actor
from services.kernel.pagination import MAX_PAGE_SIZE

logger = logging.getLogger("zhihui.peers")


async def missing_ids(
    client: ServiceClient, collection: str, ids: Iterable[str], actor: Actor | None = None
) -> set[str]:
    """The IDs in `ids` that the peer's `collection` (e.g. "/experts") does not have, or does
    not show `actor` (default: this service, which sees everything)."""
    wanted = list(dict.fromkeys(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), MAX_PAGE_SIZE):
        batch = wanted[start : start + MAX_PAGE_SIZE]
        response = await client.request(
            "GET", collection, actor=actor, params={"ids": ",".join(batch)}
        )
        if response.status_code != 200:
            # A 401/4xx here is a misconfiguration between services, not the caller's fault.
            logger.error("%s answered %s to a list-by-ids call", client.name, response.status_code)
            raise client.unavailable()
        found.update(_result_ids(client, response.content))
    return {i for i in wanted if i not in found}


Location = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class NamedRecords:
    """Records of one peer library that a body names, each at its place in the body."""

    client: ServiceClient
    collection: str  # the peer's list route, e.g. "/experts"
    what: str  # how a problem names one, e.g. "expert"
    named: Sequence[tuple[Location, str]]
    # Whose view the records must be in (a hidden outcome is not named); None: any.
    actor: Actor | None = None


async def unknown_references(groups: Sequence[NamedRecords]) -> list[tuple[Location, str]]:
    """Where a body names a record its peer does not have (one call per peer), as problems."""
    problems: list[tuple[Location, str]] = []
    for group in groups:
        if group.named:
            ids = [value for _, value in group.named]
            unknown = await missing_ids(group.client, group.collection, ids, group.actor)
            problems += [
                (loc, f"no {group.what} {value!r}")
                for loc, value in group.named
                if value in unknown
            ]
    return problems


async def live_among(
    wanted: Sequence[tuple[ServiceClient, str, Iterable[str]]],
) -> set[str]:
    """The IDs each peer (client, collection, IDs) has live: one call per peer (a bulk asks
    once for all its lines, before its transaction starts)."""
    live: set[str] = set()
    for client, collection, ids in wanted:
        asked = set(ids)
        if asked:
            live |= asked - await missing_ids(client, collection, asked)
    return live


def _result_ids(client: ServiceClient, content: bytes) -> list[str]:
    try:
        body = orjson.loads(content)
        return [str(item["id"]) for item in body["results"]]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        logger.error("%s answered a list-by-ids call with an unexpected body", client.name)
        raise client.unavailable() from exc


def close_on_shutdown(app: FastAPI, clients: Sequence[ServiceClient]) -> None:
    """Close `clients` (pooled connections) when `app` shuts down, after its own lifespan."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[Any]:
        try:
            async with inner(running) as state:
                yield state
        finally:
            for client in clients:
                await client.aclose()

    app.router.lifespan_context = lifespan
